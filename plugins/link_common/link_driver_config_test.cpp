// The shared link driver keys: defaults, every accepted spelling, and one error per problem
// with the path and phrases the operator sees.
#include "link_driver_config.hpp"

#include "beacon.hpp"

#include <doctest/doctest.h>

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

using mh::link_common::BeaconMode;
using mh::link_common::LinkDriverConfig;
using nlohmann::json;

struct Problem {
  std::string path, expected, found;
};

struct Problems final : mh::ErrorSink {
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    list.push_back({std::string(path.data, path.size), std::string(expected.data, expected.size),
                    std::string(found.data, found.size)});
  }
  std::vector<Problem> list;
};

struct Parsed {
  bool ok = false;
  LinkDriverConfig config;
  std::vector<Problem> problems;
};

Parsed parse(const std::string& text) {
  Parsed out;
  Problems problems;
  const json doc = mh::link_common::parse_config_json(mh::Str::of(text));
  REQUIRE_FALSE(doc.is_discarded());
  out.ok = mh::link_common::parse_link_driver_config(doc, &problems, &out.config);
  out.problems = problems.list;
  return out;
}

mh::PublicKey invalid_node_key() {
  mh::PublicKey key;
  for (std::uint8_t i = 0;; ++i) {
    key.bytes[0] = i;
    if (!mh::is_valid_node_key(key)) return key;
  }
}

}  // namespace

TEST_CASE("defaults: beacons off, password required of strangers, full hop encryption") {
  const Parsed p = parse("{}");
  REQUIRE(p.ok);
  CHECK(p.config.beacon.mode == BeaconMode::off);
  CHECK_FALSE(p.config.beacon.accepts());
  CHECK_FALSE(p.config.beacon.sends());
  CHECK(p.config.beacon.interval_ms == 5000);
  CHECK(p.config.discovered_peer_policy == mh::DiscoveredPeerPolicy::require_password);
  CHECK(p.config.beacon_flags() == mh::link_common::kBeaconFlagRequiresPassword);
  CHECK(p.config.hop_encryption == mh::HopEncryption::full);
  CHECK(p.config.allow_list.empty());
}

TEST_CASE("beacon modes by cjdns's numbers and by name") {
  for (const auto& [text, mode] : std::vector<std::pair<std::string, BeaconMode>>{
           {"0", BeaconMode::off}, {"1", BeaconMode::accept}, {"2", BeaconMode::send},
           {"\"off\"", BeaconMode::off}, {"\"accept\"", BeaconMode::accept}, {"\"send\"", BeaconMode::send}}) {
    const Parsed p = parse(R"({"beacon": {"mode": )" + text + "}}");
    CAPTURE(text);
    REQUIRE(p.ok);
    CHECK(p.config.beacon.mode == mode);
  }
  const Parsed send = parse(R"({"beacon": {"mode": 2}})");
  CHECK(send.config.beacon.sends());
  CHECK(send.config.beacon.accepts());
}

TEST_CASE("every shared key read, ignoring the driver's own") {
  const mh::KeyPair a = mh::generate_node_key();
  const mh::KeyPair b = mh::generate_node_key();
  const std::string text = R"({
    // a comment, as in the host's config
    "bind": ["0.0.0.0:11234"],
    "beacon": {"mode": "send", "intervalMs": 1500, "password": "hunter2", "login": "lan"},
    "discoveredPeers": {"policy": "allowList", "allowList": [")" +
                           mh::format_public_key(a.pub) + R"("]},
    "hopEncryption": "headers"
  })";
  const Parsed p = parse(text);
  REQUIRE(p.ok);
  CHECK(p.config.beacon.interval_ms == 1500);
  CHECK(p.config.beacon.password == "hunter2");
  CHECK(p.config.beacon.login == "lan");
  CHECK(p.config.discovered_peer_policy == mh::DiscoveredPeerPolicy::allow_list);
  CHECK(p.config.beacon_flags() == 0);
  CHECK(p.config.allows(a.pub));
  CHECK_FALSE(p.config.allows(b.pub));
  CHECK(p.config.hop_encryption == mh::HopEncryption::headers);

  CHECK(mh::link_common::is_link_driver_config_key("beacon"));
  CHECK(mh::link_common::is_link_driver_config_key("discoveredPeers"));
  CHECK(mh::link_common::is_link_driver_config_key("hopEncryption"));
  CHECK_FALSE(mh::link_common::is_link_driver_config_key("bind"));
}

TEST_CASE("acceptAny lets strangers in without a list; allows() is only for allowList") {
  const mh::KeyPair a = mh::generate_node_key();
  const Parsed p = parse(R"({"discoveredPeers": {"policy": "acceptAny"}})");
  REQUIRE(p.ok);
  CHECK(p.config.discovered_peer_policy == mh::DiscoveredPeerPolicy::accept_any);
  CHECK(p.config.beacon_flags() == 0);
  CHECK_FALSE(p.config.allows(a.pub));
}

TEST_CASE("each problem reported once with its path, what was expected and what was found") {
  const std::string bad_key = mh::format_public_key(invalid_node_key());
  const Parsed p = parse(R"({
    "beacon": {"mode": 3, "intervalMs": 50, "password": 7, "colour": "red"},
    "discoveredPeers": {"policy": "maybe", "allowList": ["nope", ")" + bad_key + R"("]},
    "hopEncryption": "some"
  })");
  CHECK_FALSE(p.ok);
  std::vector<std::string> lines;
  for (const Problem& problem : p.problems) {
    lines.push_back(problem.path + ": expected " + problem.expected + ", got " + problem.found);
  }
  const std::vector<std::string> expected = {
      R"(beacon.colour: expected one of "mode", "intervalMs", "password", "login", got an unknown key)",
      R"(beacon.intervalMs: expected milliseconds from 100 to 3600000, got 50)",
      R"(beacon.mode: expected 0, 1, 2, "off", "accept" or "send", got 3)",
      R"(beacon.password: expected a string, got 7)",
      R"(discoveredPeers.allowList[0]: expected a public key (52 base32 characters and ".k"), got "nope")",
      R"(discoveredPeers.allowList[1]: expected a node key (its address in fc00::/8), got a key whose address is outside fc00::/8)",
      R"(discoveredPeers.policy: expected "acceptAny", "requirePassword" or "allowList", got "maybe")",
      R"(hopEncryption: expected "full" or "headers", got "some")",
  };
  CHECK(lines == expected);
}

TEST_CASE("inconsistent settings are refused") {
  const Parsed login_alone = parse(R"({"beacon": {"mode": 1, "login": "x"}})");
  CHECK_FALSE(login_alone.ok);
  REQUIRE(login_alone.problems.size() == 1);
  CHECK(login_alone.problems[0].path == "beacon.login");

  const Parsed list_without_policy = parse(R"({"discoveredPeers": {"allowList": []}})");
  CHECK_FALSE(list_without_policy.ok);
  REQUIRE(list_without_policy.problems.size() == 1);
  CHECK(list_without_policy.problems[0].path == "discoveredPeers.policy");

  const Parsed wrong_types = parse(R"({"beacon": "on", "discoveredPeers": [], "hopEncryption": 1})");
  CHECK_FALSE(wrong_types.ok);
  REQUIRE(wrong_types.problems.size() == 3);
  CHECK(wrong_types.problems[0].found == "\"on\"");
  CHECK(wrong_types.problems[1].found == "an array");
  CHECK(wrong_types.problems[2].found == "1");
}

TEST_CASE("FirstErrorLine keeps the first problem as one line") {
  mh::link_common::FirstErrorLine first;
  CHECK_FALSE(first.any());
  first.error("bind[1]", "\"host:port\"", "\"1.2.3.4\"");
  first.error("other", "x", "y");
  CHECK(first.line() == R"(bind[1]: expected "host:port", got "1.2.3.4")");
}
