// The meshpoint config: the two interface forms, manage, the mesh settings and the shared
// link driver keys, and every refusal naming its JSON path.
#include "meshpoint_config.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace mh::meshpoint;

namespace {

struct Problems final : mh::ErrorSink {
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    list.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                   ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> list;
};

MeshpointConfig parse_ok(const std::string& text) {
  Problems problems;
  MeshpointConfig config;
  INFO(text);
  CHECK(parse_meshpoint_config(nlohmann::json::parse(text, nullptr, false, true), &problems, &config));
  CHECK(problems.list.empty());
  for (const auto& p : problems.list) MESSAGE(p);
  return config;
}

std::vector<std::string> problems_of(const std::string& text) {
  Problems problems;
  MeshpointConfig config;
  const bool ok = parse_meshpoint_config(nlohmann::json::parse(text, nullptr, false, true), &problems, &config);
  INFO(text);
  CHECK(ok == problems.list.empty());
  return problems.list;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("a mesh point created on a phy, with its mesh, channel and the shared keys") {
  const MeshpointConfig c = parse_ok(R"({
    // comments are allowed, as in every config
    "interface": {"name": "mesh0", "phy": "phy1", "create": true},
    "meshId": "community-mesh", "channel": 36, "channelWidth": "40", "stationIntervalMs": 500,
    "beacon": {"mode": "send", "intervalMs": 1000},
    "discoveredPeers": {"policy": "acceptAny"}, "hopEncryption": "headers"})");
  CHECK(c.interface == "mesh0");
  CHECK(c.phy == "phy1");
  CHECK(c.create);
  CHECK(c.manage);
  CHECK(c.join.mesh_id == "community-mesh");
  CHECK(c.join.frequency_mhz == 5180);
  CHECK(c.join.width == ChannelWidth::mhz40);
  CHECK(c.station_interval_ms == 500);
  CHECK(c.join.kernel_forwarding == 0);  // by default meshhost's router picks every hop
  CHECK(c.shared.beacon.sends());
  CHECK(c.shared.beacon.interval_ms == 1000);
  CHECK(c.shared.discovered_peer_policy == mh::DiscoveredPeerPolicy::accept_any);
  CHECK(c.shared.hop_encryption == mh::HopEncryption::headers);
}

TEST_CASE("kernelForwarding hands the forwarding between mesh stations back to the kernel") {
  const MeshpointConfig on = parse_ok(R"({"interface": {"name": "wlan1"}, "meshId": "m", "channel": 1,
                                          "kernelForwarding": true})");
  CHECK(on.join.kernel_forwarding == 1);
  const MeshpointConfig off = parse_ok(R"({"interface": {"name": "wlan1"}, "meshId": "m", "channel": 1,
                                           "kernelForwarding": false})");
  CHECK(off.join.kernel_forwarding == 0);
  CHECK(problems_of(R"({"interface": {"name": "wlan1"}, "meshId": "m", "channel": 1, "kernelForwarding": 0})") ==
        std::vector<std::string>{"kernelForwarding: expected true or false, got 0"});
  const auto unmanaged = problems_of(R"({"interface": {"name": "veth0"}, "manage": false, "kernelForwarding": true})");
  REQUIRE(unmanaged.size() == 1);
  CHECK(starts_with(unmanaged[0], "kernelForwarding: expected nothing with \"manage\": false"));
}

TEST_CASE("an existing interface: managed by default, or used as it is with manage false") {
  const MeshpointConfig managed = parse_ok(R"({"interface": {"name": "wlan1"}, "meshId": "m", "frequency": 2437})");
  CHECK(managed.interface == "wlan1");
  CHECK_FALSE(managed.create);
  CHECK(managed.manage);
  CHECK(managed.join.frequency_mhz == 2437);
  CHECK(managed.join.width == ChannelWidth::mhz20);  // the default
  CHECK(managed.station_interval_ms == kDefaultStationIntervalMs);
  // Like every link driver, discovered peers need a password unless told otherwise.
  CHECK(managed.shared.discovered_peer_policy == mh::DiscoveredPeerPolicy::require_password);

  const MeshpointConfig as_is = parse_ok(R"({"interface": {"name": "veth-a"}, "manage": false})");
  CHECK_FALSE(as_is.manage);
  CHECK(as_is.join.mesh_id.empty());

  const MeshpointConfig channel14 = parse_ok(R"({"interface": {"name": "m"}, "meshId": "m", "channel": 14})");
  CHECK(channel14.join.frequency_mhz == 2484);
}

TEST_CASE("channels and frequencies map both ways") {
  CHECK(channel_frequency_mhz(1) == 2412u);
  CHECK(channel_frequency_mhz(13) == 2472u);
  CHECK(channel_frequency_mhz(36) == 5180u);
  CHECK(channel_frequency_mhz(165) == 5825u);
  CHECK_FALSE(channel_frequency_mhz(0));
  CHECK_FALSE(channel_frequency_mhz(15));
  CHECK_FALSE(channel_frequency_mhz(200));
  for (std::uint32_t channel : {1u, 6u, 11u, 14u, 36u, 100u, 149u}) {
    CHECK(frequency_channel(*channel_frequency_mhz(channel)) == channel);
  }
  CHECK_FALSE(frequency_channel(2413));
  CHECK_FALSE(frequency_channel(900));
}

TEST_CASE("problems name the path, what was expected and what was found") {
  CHECK(problems_of("{}") ==
        std::vector<std::string>{"interface: expected an object like {\"name\": \"mesh0\", \"phy\": \"phy0\", \"create\": "
                                 "true} or {\"name\": \"wlan1\"}, got nothing (the key is required)"});
  CHECK(problems_of("[1]").size() == 1);
  CHECK(problems_of("not json").front() ==
        ": expected an object like {\"interface\": {\"name\": \"mesh0\", \"phy\": \"phy0\", \"create\": true}, "
        "\"meshId\": \"community\", \"channel\": 1}, got text that is not JSON");

  const auto bad = problems_of(R"({"interface": {"name": "a/b", "phy": "", "create": 1, "mode": "x"},
                                   "manage": "yes", "meshId": "", "frequency": 2413, "channel": 0,
                                   "channelWidth": "160", "stationIntervalMs": 50, "hopEncryption": "none",
                                   "colour": "blue"})");
  std::vector<std::string> paths;
  for (const std::string& p : bad) paths.push_back(p.substr(0, p.find(':')));
  // The shared keys first, then the object's keys in their (sorted) order.
  CHECK(paths == std::vector<std::string>{"hopEncryption", "channel", "channelWidth", "colour", "frequency",
                                          "interface.create", "interface.mode", "interface.name", "interface.phy",
                                          "manage", "meshId", "stationIntervalMs"});
  CHECK(bad[11] == "stationIntervalMs: expected milliseconds from 100 to 60000, got 50");
}

TEST_CASE("the interface forms are checked against each other") {
  auto only = [](const std::string& text, const std::string& prefix) {
    const auto problems = problems_of(text);
    REQUIRE(problems.size() == 1);
    CHECK(starts_with(problems[0], prefix));
  };
  only(R"({"interface": {"phy": "phy0", "create": true}, "meshId": "m", "channel": 1})", "interface.name: ");
  only(R"({"interface": {"name": "mesh0", "create": true}, "meshId": "m", "channel": 1})", "interface.phy: ");
  only(R"({"interface": {"name": "mesh0", "phy": "phy0"}, "meshId": "m", "channel": 1})", "interface.phy: expected a phy only");
  only(R"({"interface": {"name": "mesh0"}, "channel": 1})", "meshId: ");
  only(R"({"interface": {"name": "mesh0"}, "meshId": "m"})", "channel: ");
  only(R"({"interface": {"name": "mesh0"}, "meshId": "m", "channel": 1, "frequency": 2412})",
       "channel: expected either \"frequency\" or \"channel\"");
  only(R"({"interface": {"name": "mesh0"}, "meshId": "m", "channel": 6, "channelWidth": "80"})",
       "channelWidth: expected a width the channel has (\"20\" on channel 6; 80 MHz only on 5 GHz), got \"80\"");
  only(R"({"interface": {"name": "mesh0"}, "meshId": "m", "channel": 14, "channelWidth": "40"})", "channelWidth: ");
  CHECK(problems_of(R"({"interface": {"name": "m"}, "meshId": "m", "channel": 6, "channelWidth": "40"})").empty());
  CHECK(problems_of(R"({"interface": {"name": "m"}, "meshId": "m", "channel": 36, "channelWidth": "80"})").empty());
  only(R"({"interface": {"name": "mesh0"}, "meshId": "0123456789abcdef0123456789abcdefX", "channel": 1})", "meshId: ");

  // manage false takes the interface as it is: mesh settings would do nothing, so they are refused.
  only(R"({"interface": {"name": "mesh0", "phy": "phy0", "create": true}, "manage": false})", "interface.create: ");
  const auto unmanaged = problems_of(R"({"interface": {"name": "v"}, "manage": false, "meshId": "m", "channel": 1})");
  REQUIRE(unmanaged.size() == 2);
  CHECK(starts_with(unmanaged[0], "meshId: expected nothing with \"manage\": false"));
  CHECK(starts_with(unmanaged[1], "channel: "));
}

TEST_CASE("the shared keys are read and checked as every link driver's") {
  const auto problems = problems_of(R"({"interface": {"name": "v"}, "manage": false,
                                        "discoveredPeers": {"policy": "allowList", "allowList": ["nope"]},
                                        "beacon": {"mode": 7}})");
  REQUIRE(problems.size() == 2);
  CHECK(starts_with(problems[0], "beacon.mode: "));
  CHECK(starts_with(problems[1], "discoveredPeers.allowList[0]: "));

  Problems none;
  const auto config = parse_meshpoint_config_text(mh::Str(R"({"interface": {"name": "v"}, "manage": false})"), &none);
  REQUIRE(config);
  CHECK(config->source == R"({"interface": {"name": "v"}, "manage": false})");
}
