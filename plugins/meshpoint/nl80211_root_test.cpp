// nl80211 itself, as root, in a fresh network namespace a forked child unshares (so the
// veth and the namespace die with it): a veth is no 802.11 interface, so asking its type
// answers the kernel's ENODEV as one line; a phy that does not exist is a clear
// not-found line. Without root, or on a kernel without nl80211 (no cfg80211), the test
// reports itself skipped (exit 77) with the reason.
#include "child_facts.hpp"
#include "nl80211.hpp"

#include <doctest/doctest.h>

#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using mh::testing_support::run_in_child;
using mh::testing_support::skip_test;

}  // namespace

TEST_CASE("nl80211 in a fresh namespace: a veth has no 802.11 type, phy99 does not exist") {
  if (::geteuid() != 0) skip_test("meshpoint_nl80211_root_test: SKIPPED: needs root (a network namespace, a veth)");

  const auto report = run_in_child([](std::ostream& out) {
    if (::unshare(CLONE_NEWNET) != 0) {
      out << "skip cannot unshare the network namespace: " << std::strerror(errno) << "\n";
      return 0;
    }
    std::string error;
    auto nl = mh::meshpoint::Nl80211::open(&error);
    if (!nl) {
      out << "skip " << error << "\n";
      return 0;
    }
    if (std::system("ip link add mhnl0 type veth peer name mhnl1 >/dev/null 2>&1") != 0) {
      out << "veth_failed\n";
      return 1;
    }
    const std::uint32_t ifindex = ::if_nametoindex("mhnl0");
    out << "ifindex " << ifindex << "\n";
    std::uint32_t iftype = 12345;
    out << "type_error " << nl->interface_type("mhnl0", ifindex, &iftype) << "\n";
    out << "iftype " << iftype << "\n";
    std::uint32_t wiphy = 12345;
    out << "phy_error " << nl->find_wiphy("phy99", &wiphy) << "\n";
    out << "wiphy " << wiphy << "\n";
    std::vector<mh::meshpoint::StationInfo> stations;
    out << "stations_error " << nl->dump_stations("mhnl0", ifindex, &stations) << "\n";
    return 0;
  });
  INFO(report.text);
  REQUIRE(report.exit_code == 0);
  if (report.facts.count("skip") != 0) {
    skip_test("meshpoint_nl80211_root_test: SKIPPED: " + report.facts.at("skip"));
  }
  CHECK(report.facts.at("ifindex") != "0");
  CHECK(report.facts.at("type_error") == "mhnl0: reading its 802.11 type: No such device");
  CHECK(report.facts.at("iftype") == "12345");  // untouched on error
  const std::string& phy_error = report.facts.at("phy_error");
  CHECK(phy_error.rfind("phy99: finding the radio: no such phy", 0) == 0);
  CHECK(report.facts.at("wiphy") == "12345");
  CHECK(report.facts.at("stations_error") == "mhnl0: reading its stations: No such device");
}
