// SysctlState over a temporary directory standing in for /proc/sys: a change is recorded
// and undone, a value that was already right is left alone, and a process killed before
// restoring still gets the operator's value back through the next one.
#include "sysctl_state.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using mh::iptunnel::SysctlState;
namespace fs = std::filesystem;

struct FakeProcSys {
  FakeProcSys() {
    char pattern[] = "/tmp/iptunnel_sysctl_XXXXXX";
    root = mkdtemp(pattern);
    proc_sys = root + "/proc_sys";
    state_file = root + "/iptunnel-sysctls";
    put("net/ipv4/ip_forward", "0\n");
    put("net/ipv6/conf/all/forwarding", "0\n");
    put("net/ipv6/conf/eth0/proxy_ndp", "1\n");
    put("net/ipv4/ip_local_port_range", "32768\t60999\n");
    put("net/ipv6/conf/eth0.100/proxy_ndp", "0\n");
  }
  ~FakeProcSys() { fs::remove_all(root); }

  void put(const std::string& relative, const std::string& text) const {
    const fs::path path = proc_sys + "/" + relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::string get(const std::string& relative) const {
    std::ifstream in(proc_sys + "/" + relative);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string root, proc_sys, state_file;
};

}  // namespace

TEST_CASE("set changes a sysctl and restore_all puts the original back and removes the state file") {
  FakeProcSys sys;
  std::string error;
  {
    SysctlState state(sys.proc_sys, sys.state_file);
    CHECK(state.adopted() == 0);
    REQUIRE(state.set("net.ipv4.ip_forward", "1", &error));
    REQUIRE(state.set("net.ipv6.conf.all.forwarding", "1", &error));
    CHECK(sys.get("net/ipv4/ip_forward") == "1\n");
    CHECK(sys.get("net/ipv6/conf/all/forwarding") == "1\n");
    // Setting it again changes nothing and keeps the first original.
    REQUIRE(state.set("net.ipv4.ip_forward", "1", &error));
    CHECK(fs::exists(sys.state_file));

    // The record is on disk before restore: a second reader finds both originals.
    CHECK(SysctlState(sys.proc_sys, sys.state_file).adopted() == 2);

    CHECK(state.restore_all().empty());
  }
  CHECK(sys.get("net/ipv4/ip_forward") == "0\n");
  CHECK(sys.get("net/ipv6/conf/all/forwarding") == "0\n");
  CHECK_FALSE(fs::exists(sys.state_file));
  CHECK(SysctlState(sys.proc_sys, sys.state_file).adopted() == 0);
}

TEST_CASE("a sysctl that already has the value is not recorded, so restore_all leaves it alone") {
  FakeProcSys sys;
  std::string error;
  SysctlState state(sys.proc_sys, sys.state_file);
  REQUIRE(state.set("net.ipv6.conf.eth0.proxy_ndp", "1", &error));
  REQUIRE(state.set("net.ipv4.ip_local_port_range", "32768 60999", &error));  // whitespace differs only
  CHECK_FALSE(fs::exists(sys.state_file));

  // The operator changes it while meshhost runs; meshhost's stop must not undo that.
  sys.put("net/ipv6/conf/eth0/proxy_ndp", "0\n");
  CHECK(state.restore_all().empty());
  CHECK(sys.get("net/ipv6/conf/eth0/proxy_ndp") == "0\n");
  CHECK(sys.get("net/ipv4/ip_local_port_range") == "32768\t60999\n");
}

TEST_CASE("after kill -9 the next process restores the value from before the first one") {
  FakeProcSys sys;
  std::string error;
  {
    SysctlState first(sys.proc_sys, sys.state_file);
    REQUIRE(first.set("net.ipv4.ip_forward", "1", &error));
    // Killed here: no restore_all (destroying it restores nothing, as a dead process would).
  }
  CHECK(sys.get("net/ipv4/ip_forward") == "1\n");

  SysctlState second(sys.proc_sys, sys.state_file);
  CHECK(second.adopted() == 1);
  // What the operator had, not what the dead process left: the gateway decides by it.
  CHECK(second.value_before("net.ipv4.ip_forward") == "0");
  CHECK(second.value_before("net.ipv6.conf.eth0.proxy_ndp") == "1");  // never changed: its value now
  // The second one finds the value it wants already set: the first one's, not the operator's.
  REQUIRE(second.set("net.ipv4.ip_forward", "1", &error));
  REQUIRE(second.set("net.ipv6.conf.all.forwarding", "1", &error));
  CHECK(second.restore_all().empty());
  CHECK(sys.get("net/ipv4/ip_forward") == "0\n");
  CHECK(sys.get("net/ipv6/conf/all/forwarding") == "0\n");
  CHECK_FALSE(fs::exists(sys.state_file));
}

TEST_CASE("names with dots in a part are given with slashes, and nothing outside proc_sys is touched") {
  FakeProcSys sys;
  std::string error;
  SysctlState state(sys.proc_sys, sys.state_file);
  REQUIRE(state.set("net/ipv6/conf/eth0.100/proxy_ndp", "1", &error));
  CHECK(sys.get("net/ipv6/conf/eth0.100/proxy_ndp") == "1\n");

  CHECK_FALSE(state.set("net.ipv4.no_such_thing", "1", &error));
  CHECK(error.find("net.ipv4.no_such_thing") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos);
  CHECK_FALSE(state.set("../../etc/passwd", "x", &error));
  CHECK_FALSE(state.set("net..ipv4", "1", &error));

  CHECK(state.restore_all().empty());
  CHECK(sys.get("net/ipv6/conf/eth0.100/proxy_ndp") == "0\n");
}

TEST_CASE("a sysctl that cannot be restored is reported and kept for the next start; a vanished one needs nothing") {
  FakeProcSys sys;
  std::string error;
  sys.put("net/ipv6/conf/mhtun0/forwarding", "0\n");
  SysctlState state(sys.proc_sys, sys.state_file);
  REQUIRE(state.set("net.ipv4.ip_forward", "1", &error));
  REQUIRE(state.set("net.ipv6.conf.mhtun0.forwarding", "1", &error));

  // The device went away with its sysctls; ip_forward's file turns unwritable.
  fs::remove_all(sys.proc_sys + "/net/ipv6/conf/mhtun0");
  fs::remove(sys.proc_sys + "/net/ipv4/ip_forward");
  fs::create_directory(sys.proc_sys + "/net/ipv4/ip_forward");

  const auto problems = state.restore_all();
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("ip_forward") != std::string::npos);
  CHECK(SysctlState(sys.proc_sys, sys.state_file).adopted() == 1);

  fs::remove(sys.proc_sys + "/net/ipv4/ip_forward");
  sys.put("net/ipv4/ip_forward", "1\n");
  SysctlState next(sys.proc_sys, sys.state_file);
  CHECK(next.restore_all().empty());
  CHECK(sys.get("net/ipv4/ip_forward") == "0\n");
  CHECK_FALSE(fs::exists(sys.state_file));
}
