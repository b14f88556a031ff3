// The udp driver's pure parts: endpoint packing, host:port text, and config validation with
// the error lines an operator sees.
#include "udp_config.hpp"
#include "udp_endpoint.hpp"
#include "udp_link.hpp"

#include <doctest/doctest.h>

#include <meshhost/keys.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace mh::udp;

struct Problems final : mh::ErrorSink {
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::optional<UdpConfig> parse(const std::string& text, std::vector<std::string>* lines = nullptr) {
  Problems problems;
  auto config = parse_udp_config(mh::Str::of(text), &problems);
  if (lines != nullptr) *lines = problems.lines;
  CHECK(config.has_value() == problems.lines.empty());
  return config;
}

std::string key_text() { return mh::format_public_key(mh::generate_node_key().pub); }

}  // namespace

TEST_CASE("IPv4 endpoints pack as address and port in network order") {
  const auto ep = parse_host_port("192.0.2.1:11234");
  REQUIRE(ep);
  CHECK(ep->kind == kEndpointKindIPv4);
  CHECK(ep->size == 6);
  const std::uint8_t expected[] = {192, 0, 2, 1, 0x2b, 0xe2};  // 11234 = 0x2be2
  CHECK(std::memcmp(ep->bytes, expected, sizeof expected) == 0);
  for (std::size_t i = ep->size; i < mh::Endpoint::kMaxSize; ++i) CHECK(ep->bytes[i] == 0);
  CHECK(endpoint_port(*ep) == 11234);
  CHECK(format_endpoint(*ep) == "192.0.2.1:11234");

  sockaddr_storage storage;
  REQUIRE(endpoint_to_sockaddr(*ep, &storage) == sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
  CHECK(in->sin_family == AF_INET);
  CHECK(ntohs(in->sin_port) == 11234);
  const auto back = endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), sizeof(sockaddr_in));
  REQUIRE(back);
  CHECK(same_endpoint(*back, *ep));
}

TEST_CASE("IPv6 endpoints pack as address, port and scope id") {
  const auto ep = parse_host_port("[2001:db8::1]:11234");
  REQUIRE(ep);
  CHECK(ep->kind == kEndpointKindIPv6);
  CHECK(ep->size == 22);
  CHECK(ep->bytes[0] == 0x20);
  CHECK(ep->bytes[1] == 0x01);
  CHECK(ep->bytes[2] == 0x0d);
  CHECK(ep->bytes[15] == 1);
  CHECK(ep->bytes[16] == 0x2b);
  CHECK(ep->bytes[17] == 0xe2);
  CHECK(ep->bytes[18] == 0);
  CHECK(ep->bytes[21] == 0);
  CHECK(format_endpoint(*ep) == "[2001:db8::1]:11234");

  const auto scoped = parse_host_port("[fe80::1%7]:1");
  REQUIRE(scoped);
  CHECK(scoped->bytes[21] == 7);
  sockaddr_storage storage;
  REQUIRE(endpoint_to_sockaddr(*scoped, &storage) == sizeof(sockaddr_in6));
  CHECK(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_scope_id == 7);

  const auto lo = parse_host_port("[fe80::1%lo]:1");  // zones by interface name too
  REQUIRE(lo);
  CHECK(format_endpoint(*lo) == "[fe80::1%lo]:1");
  CHECK(format_endpoint(*parse_host_port("[::]:11234")) == "[::]:11234");
  CHECK(endpoint_is_wildcard(*parse_host_port("[::]:11234")));
  CHECK(endpoint_is_wildcard(*parse_host_port("0.0.0.0:1")));
  CHECK_FALSE(endpoint_is_wildcard(*ep));
}

TEST_CASE("host:port text that is not a numeric address and port is refused") {
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", ":11234", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:1x",
                          "example.org:11234", "1.2.3:11234", "2001:db8::1:11234", "[2001:db8::1]", "[2001:db8::1]11234",
                          "[1.2.3.4]:1", "[fe80::1%]:1", "[fe80::1%nosuchinterface0]:1", "[]:1", "1.2.3.4:123456"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_host_port(bad));
  }
}

TEST_CASE("format_endpoint refuses what is not a udp endpoint or does not fit") {
  mh::Endpoint other;
  other.kind = 1;
  other.size = 6;
  char out[64];
  CHECK(format_endpoint(other, out, sizeof out) == 0);
  const auto ep = parse_host_port("192.0.2.1:11234");
  CHECK(format_endpoint(*ep, out, 5) == 0);
  CHECK(format_endpoint(*ep, out, 15) == 15);
  sockaddr_storage storage;
  CHECK(endpoint_to_sockaddr(other, &storage) == 0);
}

TEST_CASE("defaults: both families on port 11234, no peers") {
  const auto config = parse("{}");
  REQUIRE(config);
  CHECK(config->bind_is_default);
  REQUIRE(config->bind.size() == 2);
  CHECK(format_endpoint(config->bind[0]) == "0.0.0.0:11234");
  CHECK(format_endpoint(config->bind[1]) == "[::]:11234");
  CHECK(config->connect_to.empty());
  CHECK(config->common.discovered_peer_policy == mh::DiscoveredPeerPolicy::require_password);
}

TEST_CASE("a cjdroute.conf-shaped config") {
  const std::string key = key_text();
  const auto config = parse(R"({
    "bind": ["192.0.2.1:11234", "[2001:db8::1]:11234"],
    "connectTo": {
      "198.51.100.7:11234": {"publicKey": ")" + key + R"(", "password": "pw", "login": "me", "peerName": "north",
                             "contact": "ops@example.org"},
      "[2001:db8::2]:9999": {"publicKey": ")" + key + R"("}
    },
    "beacon": {"mode": 2},
    "hopEncryption": "headers",
    "fwmark": 51820
  })");
  REQUIRE(config);
  CHECK_FALSE(config->bind_is_default);
  REQUIRE(config->connect_to.size() == 2);
  const ConnectTo& north = config->connect_to[0];
  CHECK(format_endpoint(north.endpoint) == "198.51.100.7:11234");
  CHECK(mh::format_public_key(north.key) == key);
  CHECK(north.password == "pw");
  CHECK(north.login == "me");
  CHECK(north.peer_name == "north");
  CHECK(format_endpoint(config->connect_to[1].endpoint) == "[2001:db8::2]:9999");
  CHECK(config->connect_to[1].password.empty());
  CHECK(config->common.beacon.sends());
  CHECK(config->common.hop_encryption == mh::HopEncryption::headers);
  CHECK(config->fwmark == 51820);
}

TEST_CASE("every problem with its path, what was expected and what was found") {
  std::vector<std::string> lines;
  const std::string key = key_text();
  CHECK_FALSE(parse(R"({
    "bind": ["0.0.0.0:11234", "1.2.3.4", 7, "0.0.0.0:11234"],
    "connectTo": {
      "192.0.2.9": {"publicKey": ")" + key + R"("},
      "192.0.2.10:1": {"password": "x"},
      "192.0.2.11:1": {"publicKey": "abc", "pasword": "x"},
      "192.0.2.12:1": "not an object"
    },
    "hopEncryption": "none",
    "fwmark": -1,
    "colour": 1
  })",
                     &lines));
  const std::vector<std::string> expected = {
      R"(bind[1]: expected "host:port" with a numeric IPv4 or [IPv6] address, got "1.2.3.4")",
      R"(bind[2]: expected "host:port" with a numeric IPv4 or [IPv6] address, got 7)",
      R"(bind[3]: expected each address once, got "0.0.0.0:11234" a second time)",
      R"(colour: expected one of "bind", "connectTo", "fwmark", "beacon", "discoveredPeers", "hopEncryption", got an unknown key)",
      R"(connectTo["192.0.2.10:1"].publicKey: expected the peer's public key, got nothing)",
      R"(connectTo["192.0.2.11:1"].pasword: expected one of "publicKey", "password", "login", "peerName", got an unknown key)",
      R"(connectTo["192.0.2.11:1"].publicKey: expected a public key (52 base32 characters and ".k"), got "abc")",
      R"(connectTo["192.0.2.12:1"]: expected an object like {"publicKey": "….k", "password": "…"}, got "not an object")",
      R"(connectTo["192.0.2.9"]: expected a key "host:port" with a numeric IPv4 or [IPv6] address and a port, got "192.0.2.9")",
      R"(fwmark: expected an integer from 0 to 4294967295, got -1)",
  };
  // The shared keys report first (link_common), then the driver's own in key order.
  REQUIRE(lines.size() == expected.size() + 1);
  CHECK(lines[0] == R"(hopEncryption: expected "full" or "headers", got "none")");
  CHECK(std::vector<std::string>(lines.begin() + 1, lines.end()) == expected);
}

TEST_CASE("a peer needs a bound socket of its address family") {
  std::vector<std::string> lines;
  const std::string key = key_text();
  CHECK_FALSE(parse(R"({"bind": ["0.0.0.0:11234"], "connectTo": {"[2001:db8::2]:1": {"publicKey": ")" + key + R"("}}})",
                    &lines));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"(connectTo["[2001:db8::2]:1"]: expected an address of a family in bind (bind has no IPv6 address), got "[2001:db8::2]:1")");
}

TEST_CASE("not JSON, not an object, an empty bind") {
  std::vector<std::string> lines;
  CHECK_FALSE(parse("{", &lines));
  CHECK(lines == std::vector<std::string>{": expected a JSON object, got text that is not JSON"});
  CHECK_FALSE(parse("[]", &lines));
  CHECK(lines == std::vector<std::string>{": expected an object, got an array"});
  CHECK_FALSE(parse(R"({"bind": []})", &lines));
  CHECK(lines == std::vector<std::string>{"bind: expected a non-empty array of \"host:port\" strings, got an array"});
}

TEST_CASE("beacon hints are rate limited: a burst, then a steady rate") {
  mh::udp::BeaconRateLimit limit;
  const std::uint64_t t0 = 5'000'000'000;
  for (std::uint32_t i = 0; i < mh::udp::BeaconRateLimit::kBurst; ++i) REQUIRE(limit.take(t0));
  CHECK_FALSE(limit.take(t0));
  CHECK_FALSE(limit.take(t0 + 9'000'000));  // under 10 ms: no token earned yet
  CHECK(limit.take(t0 + 10'000'000));
  CHECK_FALSE(limit.take(t0 + 10'000'000));
  // A long quiet spell refills only up to the burst.
  const std::uint64_t later = t0 + 3600ull * 1'000'000'000;
  for (std::uint32_t i = 0; i < mh::udp::BeaconRateLimit::kBurst; ++i) REQUIRE(limit.take(later));
  CHECK_FALSE(limit.take(later));
}
