// plugins.iptunnel config: cjdns's allowedConnections as DESIGN §6 writes it, pools, and one
// clear problem with its path per bad key.
#include "iptunnel_config.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace mh;
using namespace mh::iptunnel;

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::optional<IptunnelConfig> parse(const std::string& text, Errors* errors) {
  return parse_iptunnel_config(Str::of(text), errors);
}

const std::string& key_a() {
  static const std::string k = format_public_key(generate_node_key().pub);
  return k;
}
const std::string& key_b() {
  static const std::string k = format_public_key(generate_node_key().pub);
  return k;
}

IpAddress ip(const char* text) { return *parse_ip(text); }

}  // namespace

TEST_CASE("DESIGN §6's cjdns block reads with cjdns's meaning") {
  Errors errors;
  const auto config = parse(R"({
    "allowedConnections": [
      // a pinned client with both families
      { "publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.10", "ip4Prefix": 0, "ip4Alloc": 32,
        "ip6Address": "2001:db8:1::10", "ip6Prefix": 0, "ip6Alloc": 128, "plan": "basic" }
    ],
    "outgoingConnections": [ ")" + key_b() + R"(" ]
  })", &errors);
  REQUIRE_MESSAGE(config, (errors.lines.empty() ? "" : errors.lines[0]));
  REQUIRE(config->allowed.size() == 1);
  const auto& c = config->allowed[0];
  CHECK(format_public_key(c.key) == key_a());
  CHECK(c.plan == "basic");
  REQUIRE(c.addresses.size() == 2);
  CHECK(c.addresses[0].alloc.address == ip("100.64.0.10"));
  CHECK(c.addresses[0].alloc.length == 32);
  CHECK(c.addresses[0].prefix == 0);
  CHECK(c.addresses[1].alloc.address == ip("2001:db8:1::10"));
  CHECK(c.addresses[1].alloc.length == 128);
  REQUIRE(config->outgoing.size() == 1);
  CHECK(format_public_key(config->outgoing[0].key) == key_b());
  CHECK(config->lease_seconds == 3600);
  CHECK(config->mtu == 1280);
}

TEST_CASE("a family may be absent, alloc defaults to one host, prefix to the default route") {
  Errors errors;
  const auto config = parse(R"({"allowedConnections": [{"publicKey": ")" + key_a() + R"(", "ip6Address": "2001:db8::5"}]})",
                            &errors);
  REQUIRE(config);
  REQUIRE(config->allowed[0].addresses.size() == 1);
  CHECK(config->allowed[0].addresses[0].alloc.length == 128);
  CHECK(config->allowed[0].addresses[0].prefix == 0);
  const auto bare = parse(R"({"allowedConnections": [{"publicKey": ")" + key_a() + R"("}], "ip4Pool": "100.64.1.7/24"})", &errors);
  REQUIRE(bare);
  CHECK(bare->allowed[0].addresses.empty());
  REQUIRE(bare->ip4_pool);
  CHECK(format_block(*bare->ip4_pool) == "100.64.1.0/24");
}

TEST_CASE("several entries for one key merge into several addresses, a delegated ip6Alloc block") {
  Errors errors;
  const auto config = parse(R"({"allowedConnections": [
      {"publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.10"},
      {"publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.11", "ip6Address": "2001:db8:2::", "ip6Alloc": 56, "ip6Prefix": 0}]})",
                            &errors);
  REQUIRE(config);
  REQUIRE(config->allowed.size() == 1);
  CHECK(config->allowed[0].addresses.size() == 3);
  CHECK(config->allowed[0].addresses[2].alloc.length == 56);
}

TEST_CASE("overlapping allocations are config errors with both paths") {
  Errors errors;
  CHECK_FALSE(parse(R"({"allowedConnections": [
      {"publicKey": ")" + key_a() + R"(", "ip6Address": "2001:db8:1::", "ip6Alloc": 64},
      {"publicKey": ")" + key_b() + R"(", "ip6Address": "2001:db8:1::99"}]})",
                    &errors));
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0] ==
        "allowedConnections[1].ip6Alloc: expected a block apart from allowedConnections[0].ip6Alloc "
        "(2001:db8:1::/64), got 2001:db8:1::99/128, another key's block");
  errors.lines.clear();
  CHECK_FALSE(parse(R"({"allowedConnections": [
      {"publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.10"},
      {"publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.10"}]})",
                    &errors));
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("the same key twice") != std::string::npos);
  // Adjacent blocks do not overlap.
  CHECK(parse(R"({"allowedConnections": [
      {"publicKey": ")" + key_a() + R"(", "ip4Address": "100.64.0.0", "ip4Alloc": 31},
      {"publicKey": ")" + key_b() + R"(", "ip4Address": "100.64.0.2", "ip4Alloc": 31}]})",
              &errors));
}

TEST_CASE("every bad value is reported with its JSON path") {
  Errors errors;
  const auto config = parse(R"({
    "allowedConnections": [
      {"publicKey": "nope.k", "ip4Address": "2001:db8::1"},
      {"publicKey": ")" + key_b() + R"(", "ip4Address": "100.64.0.9", "ip4Alloc": 33, "ip4Prefix": 8, "colour": 1},
      {"publicKey": ")" + key_b() + R"(", "ip6Prefix": 0},
      {"publicKey": ")" + key_b() + R"(", "ip6Address": "2001:db8::7", "ip6Alloc": 64, "ip6Prefix": 96}
    ],
    "ip4Pool": "100.64.0.0/31", "ip6Pool": "10.0.0.0/8", "leaseSeconds": 5, "mtu": "big",
    "dnsServers": ["9.9.9.9", "dns.example"], "outgoingConnections": [")" + key_a() + R"(", ")" + key_a() + R"("],
    "nat": {"uplink": "eth0/1", "ndpProxy": "yes"}, "colour": 1, "gatewayTun": "", "fwmark": 0,
    "routingTable": 254, "timers": {"probeIntervalMs": 5000, "gatewayDeadMs": 4000}
  })", &errors);
  CHECK_FALSE(config);
  const std::vector<std::string> paths = {
      "colour",
      "gatewayTun",
      "nat.uplink",
      "nat.ndpProxy",
      "fwmark",
      "routingTable",
      "timers.gatewayDeadMs",
      "allowedConnections[0].publicKey",
      "allowedConnections[0].ip4Address",
      "allowedConnections[1].colour",
      "allowedConnections[1].ip4Alloc",
      "allowedConnections[2].ip6Prefix",
      "allowedConnections[3].ip6Prefix",
      "ip4Pool",
      "ip6Pool",
      "leaseSeconds",
      "mtu",
      "dnsServers[1]",
      "outgoingConnections[1]",
  };
  std::vector<std::string> got;
  for (const auto& line : errors.lines) got.push_back(line.substr(0, line.find(':')));
  CHECK(got == paths);
}

TEST_CASE("the roles, devices, NAT, policy routing and timers") {
  Errors errors;
  auto config = parse(R"({
    "allowedConnections": [], "nat": {"uplink": "eth0", "ndpProxy": true}, "gatewayTun": "gw0",
    "clientIsolation": true, "blockSmtp": true, "ipv6InboundOpen": true,
    "outgoingConnections": [")" + key_a() + R"(", {"publicKey": ")" + key_b() + R"(", "priority": 5}],
    "clientTun": "up0", "fwmark": 51820, "routingTable": 51820, "rulePriority": 100,
    "timers": {"requestRetryMs": 500, "probeIntervalMs": 1000, "gatewayDeadMs": 3000, "deniedRetryMs": 700}
  })", &errors);
  REQUIRE(config);
  CHECK(config->gateway());
  CHECK(config->client());
  CHECK(config->gateway_tun == "gw0");
  CHECK(config->nat.uplink == "eth0");
  CHECK(config->nat.ndp_proxy);
  CHECK(config->client_isolation);
  CHECK(config->block_smtp);
  CHECK(config->ipv6_inbound_open);
  REQUIRE(config->outgoing.size() == 2);
  CHECK(config->outgoing[0].priority == 100);
  CHECK(config->outgoing[1].priority == 5);
  CHECK(config->client_tun == "up0");
  CHECK(config->fwmark == 51820);
  CHECK(config->routing_table == 51820);
  CHECK(config->rule_priority == 100);
  CHECK(config->timers.request_retry_ns == 500'000'000);
  CHECK(config->timers.probe_interval_ns == 1'000'000'000);
  CHECK(config->timers.gateway_dead_ns == 3'000'000'000);
  CHECK(config->timers.denied_retry_ns == 700'000'000);

  // Only outgoingConnections: a client and nothing else.
  config = parse(R"({"outgoingConnections": [")" + key_a() + R"("]})", &errors);
  REQUIRE(config);
  CHECK_FALSE(config->gateway());
  CHECK(config->client());
  CHECK(config->gateway_tun == "mhgw0");
  CHECK(config->client_tun == "mhup0");
}

TEST_CASE("defaults: an empty or null config, and text that is not JSON") {
  Errors errors;
  const auto config = parse("{ /* comments are fine */ }", &errors);
  REQUIRE(config);
  CHECK(config->allowed.empty());
  CHECK_FALSE(config->ip4_pool);
  CHECK(parse("null", &errors));
  CHECK_FALSE(parse("{", &errors));
  CHECK_FALSE(parse("[]", &errors));
}
