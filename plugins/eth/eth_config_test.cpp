// The eth config and the rule that picks interfaces, without sockets or root.
#include "eth_config.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace mh::eth;
using mh::ether::InterfaceInfo;

namespace {

struct Problems final : mh::ErrorSink {
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    list.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                   ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> list;
};

EthConfig parse(const std::string& text, Problems* problems) {
  EthConfig config;
  parse_eth_config(nlohmann::json::parse(text, nullptr, false, true), problems, &config);
  return config;
}

EthConfig parse_ok(const std::string& text) {
  Problems problems;
  EthConfig config = parse(text, &problems);
  INFO(text);
  CHECK(problems.list.empty());
  return config;
}

std::vector<std::string> problems_of(const std::string& text) {
  Problems problems;
  parse(text, &problems);
  return problems.list;
}

InterfaceInfo interface(const std::string& name, std::uint32_t mtu = 1500) {
  InterfaceInfo info;
  info.ifindex = 7;
  info.name = name;
  info.mtu = mtu;
  info.up = info.running = info.ethernet = true;
  return info;
}

}  // namespace

TEST_CASE("interfaces is a list of names or \"all\", with the shared keys beside it") {
  const EthConfig listed = parse_ok(R"({"interfaces": ["eth0", "br-mesh"]})");
  CHECK_FALSE(listed.all_interfaces);
  CHECK(listed.interfaces == std::vector<std::string>{"eth0", "br-mesh"});

  const EthConfig all = parse_ok(R"({"interfaces": "all", "beacon": {"mode": "send", "intervalMs": 1000},
                                     "discoveredPeers": {"policy": "acceptAny"}, "hopEncryption": "headers"})");
  CHECK(all.all_interfaces);
  CHECK(all.shared.beacon.sends());
  CHECK(all.shared.beacon.interval_ms == 1000);
  CHECK(all.shared.discovered_peer_policy == mh::DiscoveredPeerPolicy::accept_any);
  CHECK(all.shared.hop_encryption == mh::HopEncryption::headers);
}

TEST_CASE("config problems name the path, what was expected and what was found") {
  CHECK(problems_of("{}") ==
        std::vector<std::string>{"interfaces: expected \"all\" or an array of interface names like [\"eth0\", \"br-mesh\"], "
                                 "got nothing (the key is required)"});
  CHECK(problems_of(R"({"interfaces": []})").size() == 1);
  CHECK(problems_of(R"({"interfaces": "eth0"})").size() == 1);

  const auto bad_names = problems_of(R"({"interfaces": ["eth0", "", "a/b", "waytoolonginterfacename", 5, "eth0"]})");
  REQUIRE(bad_names.size() == 5);
  CHECK(bad_names[0].rfind("interfaces[1]: ", 0) == 0);
  CHECK(bad_names[1].rfind("interfaces[2]: ", 0) == 0);
  CHECK(bad_names[2].rfind("interfaces[3]: ", 0) == 0);
  CHECK(bad_names[3].rfind("interfaces[4]: ", 0) == 0);
  CHECK(bad_names[4] == "interfaces[5]: expected each interface once, got \"eth0\" again");

  const auto unknown = problems_of(R"({"interfaces": "all", "bind": "x"})");
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].rfind("bind: ", 0) == 0);

  const auto shared = problems_of(R"({"interfaces": "all", "hopEncryption": "none"})");
  REQUIRE(shared.size() == 1);
  CHECK(shared[0].rfind("hopEncryption: ", 0) == 0);

  CHECK(problems_of("[]").size() == 1);
}

TEST_CASE("a named interface is used when up, running, Ethernet and with MTU enough") {
  const EthConfig config = parse_ok(R"({"interfaces": ["eth0", "lo", "tun0"]})");
  CHECK(decide(config, interface("eth0")).use == InterfaceUse::use);
  CHECK(decide(config, interface("eth1")).use == InterfaceUse::ignore);

  InterfaceInfo down = interface("eth0");
  down.running = false;
  CHECK(decide(config, down).use == InterfaceUse::down);
  down.running = true;
  down.up = false;
  CHECK(decide(config, down).use == InterfaceUse::down);

  const InterfaceDecision small = decide(config, interface("eth0", 1000));
  CHECK(small.use == InterfaceUse::refuse);
  CHECK(small.reason.find("eth0: MTU 1000") != std::string::npos);
  CHECK(small.reason.find("1412") != std::string::npos);

  InterfaceInfo lo = interface("lo", 65536);
  lo.loopback = true;
  lo.ethernet = false;
  CHECK(decide(config, lo).use == InterfaceUse::refuse);

  InterfaceInfo tun = interface("tun0");
  tun.ethernet = false;
  const InterfaceDecision not_ethernet = decide(config, tun);
  CHECK(not_ethernet.use == InterfaceUse::refuse);
  CHECK(not_ethernet.reason == "tun0: not an Ethernet interface; interface not used");
}

TEST_CASE("\"all\" takes every Ethernet interface but loopback and still refuses a small MTU") {
  const EthConfig config = parse_ok(R"({"interfaces": "all"})");
  CHECK(decide(config, interface("anything")).use == InterfaceUse::use);
  InterfaceInfo lo = interface("lo", 65536);
  lo.loopback = true;
  CHECK(decide(config, lo).use == InterfaceUse::ignore);
  InterfaceInfo tun = interface("tun0");
  tun.ethernet = false;
  CHECK(decide(config, tun).use == InterfaceUse::ignore);
  CHECK(decide(config, interface("veth9", 1000)).use == InterfaceUse::refuse);
}

TEST_CASE("configs compare equal only when every setting is the same") {
  CHECK(parse_ok(R"({"interfaces": ["a"]})") == parse_ok(R"({"interfaces": ["a"]})"));
  CHECK_FALSE(parse_ok(R"({"interfaces": ["a"]})") == parse_ok(R"({"interfaces": ["b"]})"));
  CHECK_FALSE(parse_ok(R"({"interfaces": "all"})") == parse_ok(R"({"interfaces": "all", "hopEncryption": "headers"})"));
}
