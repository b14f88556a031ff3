// The gateway's decisions: grants for pinned keys (DESIGN §6's example), stable pool leases
// across a restart, denials with their reasons, and the anti-spoof check at block edges.
#include "gateway_table.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace mh;
using namespace mh::iptunnel;

// A store in memory standing in for the file in stateDir (FileLeaseStore has its own test).
struct MemoryStore final : LeaseStore {
  std::vector<StoredLease> load() override { return leases; }
  bool save(const std::vector<StoredLease>& l) override {
    ++saves;
    if (!writable) return false;
    leases = l;
    return true;
  }
  std::vector<StoredLease> leases;
  int saves = 0;
  bool writable = true;
};

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

IptunnelConfig config_of(const std::string& json) {
  Errors errors;
  auto config = parse_iptunnel_config(Str::of(json), &errors);
  REQUIRE_MESSAGE(config, (errors.lines.empty() ? "" : errors.lines[0]));
  return *config;
}

IpAddress ip(const char* text) { return *parse_ip(text); }

std::vector<std::uint8_t> packet_from(const char* source) {
  const IpAddress src = ip(source);
  if (src.family == Family::ip4) {
    std::vector<std::uint8_t> p(20, 0);
    p[0] = 0x45;
    p[3] = 20;
    std::memcpy(p.data() + 12, src.bytes, 4);
    return p;
  }
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x60;
  std::memcpy(p.data() + 8, src.bytes, 16);
  return p;
}

bool allowed(const GatewayTable& table, const PublicKey& key, const char* source) {
  const auto p = packet_from(source);
  return table.source_allowed(key, ByteSpan{p.data(), p.size()});
}

const KeyPair& client_a() {
  static const KeyPair k = generate_node_key();
  return k;
}
const KeyPair& client_b() {
  static const KeyPair k = generate_node_key();
  return k;
}
const KeyPair& stranger() {
  static const KeyPair k = generate_node_key();
  return k;
}
std::string text(const KeyPair& k) { return format_public_key(k.pub); }

constexpr std::uint8_t kBoth = kWantIp4 | kWantIp6;

}  // namespace

TEST_CASE("DESIGN §6's pinned client is granted its addresses, MTU, lease time and DNS") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      { "publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.10", "ip4Prefix": 0, "ip4Alloc": 32,
        "ip6Address": "2001:db8:1::10", "ip6Prefix": 0, "ip6Alloc": 128, "plan": "basic" }],
      "leaseSeconds": 600, "mtu": 1400, "dnsServers": ["9.9.9.9"]})"),
                     &store);
  const auto d = table.request(client_a().pub, kBoth, 77, 1000);
  REQUIRE(d.granted);
  CHECK(d.grant.nonce == 77);
  CHECK(d.grant.mtu == 1400);
  CHECK(d.grant.lease_seconds == 600);
  REQUIRE(d.grant.address_count == 2);
  CHECK(d.grant.addresses[0].address == ip("100.64.0.10"));
  CHECK(d.grant.addresses[0].prefix == 0);
  CHECK(d.grant.addresses[0].alloc == 32);
  CHECK(d.grant.addresses[1].address == ip("2001:db8:1::10"));
  CHECK(d.grant.addresses[1].alloc == 128);
  REQUIRE(d.grant.dns_count == 1);
  CHECK(d.grant.dns[0] == ip("9.9.9.9"));
  REQUIRE(d.record);
  CHECK(format_lease_record(*d.record) ==
        "granted " + text(client_a()) + " 100.64.0.10/32 2001:db8:1::10/128 start=1000 end=1600");
  CHECK(store.saves == 0);  // pinned addresses are not pool leases

  // Only the family asked for.
  const auto v6 = table.request(client_a().pub, kWantIp6, 78, 1100);
  REQUIRE(v6.granted);
  REQUIRE(v6.grant.address_count == 1);
  CHECK(v6.grant.addresses[0].address == ip("2001:db8:1::10"));
  REQUIRE(v6.record);
  CHECK(v6.record->event == LeaseRecord::Event::renewed);
  CHECK(v6.record->start_s == 1000);
  CHECK(v6.record->end_s == 1700);
}

TEST_CASE("denials say why: not pinned, pool exhausted, nothing of the families asked") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("}, {"publicKey": ")" + text(client_b()) + R"("}],
      "ip4Pool": "100.64.0.0/30"})"),
                     &store);
  const auto unpinned = table.request(stranger().pub, kBoth, 5, 0);
  CHECK_FALSE(unpinned.granted);
  CHECK(unpinned.denial.reason == DenialReason::not_pinned);
  CHECK(unpinned.denial.nonce == 5);
  CHECK_FALSE(unpinned.record);
  // A /30 has one client address: .0 network, .1 the gateway, .3 broadcast.
  const auto first = table.request(client_a().pub, kWantIp4, 1, 0);
  REQUIRE(first.granted);
  CHECK(first.grant.addresses[0].address == ip("100.64.0.2"));
  CHECK(first.grant.addresses[0].alloc == 32);
  CHECK(first.grant.addresses[0].prefix == 0);
  const auto second = table.request(client_b().pub, kWantIp4, 2, 0);
  CHECK_FALSE(second.granted);
  CHECK(second.denial.reason == DenialReason::pool_exhausted);
  CHECK(std::string(second.denial.text, second.denial.text_size) == "address pool exhausted");
  // No ip6Pool and nothing pinned for IPv6.
  const auto v6 = table.request(client_a().pub, kWantIp6, 3, 0);
  CHECK_FALSE(v6.granted);
  CHECK(v6.denial.reason == DenialReason::bad_request);
}

TEST_CASE("pool leases are stable per key across a restart with the same store") {
  MemoryStore store;
  const std::string json = R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("}, {"publicKey": ")" + text(client_b()) + R"("},
      {"publicKey": ")" + text(stranger()) + R"(", "ip4Address": "100.64.0.2"}],
      "ip4Pool": "100.64.0.0/24", "ip6Pool": "2001:db8:5::/64"})";
  IpAddress a4, a6, b4;
  {
    GatewayTable table(config_of(json), &store);
    const auto b = table.request(client_b().pub, kWantIp4, 1, 0);  // b asks first
    const auto a = table.request(client_a().pub, kBoth, 2, 0);
    REQUIRE(a.granted);
    REQUIRE(b.granted);
    b4 = b.grant.addresses[0].address;
    a4 = a.grant.addresses[0].address;
    a6 = a.grant.addresses[1].address;
    CHECK(b4 == ip("100.64.0.3"));  // .2 is pinned to another key
    CHECK(a4 == ip("100.64.0.4"));
    CHECK(a6 == ip("2001:db8:5::2"));
    CHECK(store.leases.size() == 3);
  }
  // A restart: a fresh table, the keys ask in the other order, and get the same.
  GatewayTable again(config_of(json), &store);
  const auto a = again.request(client_a().pub, kBoth, 3, 50);
  const auto b = again.request(client_b().pub, kWantIp4, 4, 50);
  REQUIRE(a.granted);
  REQUIRE(b.granted);
  CHECK(a.grant.addresses[0].address == a4);
  CHECK(a.grant.addresses[1].address == a6);
  CHECK(b.grant.addresses[0].address == b4);
  CHECK(store.leases.size() == 3);

  // A key removed from allowedConnections loses its stored lease; its address is free.
  const std::string without_b = R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("}, {"publicKey": ")" + text(stranger()) + R"(", "ip4Address": "100.64.0.2"}],
      "ip4Pool": "100.64.0.0/24", "ip6Pool": "2001:db8:5::/64"})";
  GatewayTable third(config_of(without_b), &store);
  CHECK(store.leases.size() == 2);
  CHECK_FALSE(third.request(client_b().pub, kWantIp4, 5, 60).granted);
}

TEST_CASE("stored leases that no longer fit the config are dropped") {
  MemoryStore store;
  store.leases = {{client_a().pub, ip("10.9.9.9")},     // outside the pool
                  {client_a().pub, ip("100.64.0.1")},   // the gateway's own
                  {client_b().pub, ip("100.64.0.7")},   // fits
                  {client_b().pub, ip("100.64.0.8")}};  // a second IPv4 lease for b
  GatewayTable table(config_of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("}, {"publicKey": ")" + text(client_b()) + R"("}],
      "ip4Pool": "100.64.0.0/24"})"),
                     &store);
  REQUIRE(store.leases.size() == 1);
  CHECK(store.leases[0].address == ip("100.64.0.7"));
  CHECK_FALSE(table.store_failed_at_load());
  const auto a = table.request(client_a().pub, kWantIp4, 1, 0);
  REQUIRE(a.granted);
  CHECK(a.grant.addresses[0].address == ip("100.64.0.2"));
}

TEST_CASE("the pool skips whole pinned blocks; a pinned block over the gateway's own address is refused") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("},
      {"publicKey": ")" + text(client_b()) + R"(", "ip6Address": "2001:db8:5::2", "ip6Alloc": 127}],
      "ip6Pool": "2001:db8:5::/64"})"),
                     &store);
  const auto a = table.request(client_a().pub, kWantIp6, 1, 0);
  REQUIRE(a.granted);
  CHECK(a.grant.addresses[0].address == ip("2001:db8:5::4"));

  // A block holding the pool's first host address (the gateway's own on its TUN), here a
  // whole /48 around the pool, is a config error.
  Errors errors;
  CHECK_FALSE(parse_iptunnel_config(Str::of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"("},
      {"publicKey": ")" + text(client_b()) + R"(", "ip6Address": "2001:db8:6::", "ip6Alloc": 48}],
      "ip6Pool": "2001:db8:6::/64"})"),
                                        &errors));
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("the gateway's own tunnel address 2001:db8:6::1") != std::string::npos);
}

TEST_CASE("a pool lease that cannot be saved is still granted, and says so") {
  MemoryStore store;
  store.writable = false;
  GatewayTable table(config_of(R"({"allowedConnections": [{"publicKey": ")" + text(client_a()) + R"("}],
      "ip4Pool": "100.64.0.0/24"})"),
                     &store);
  const auto a = table.request(client_a().pub, kWantIp4, 1, 0);
  CHECK(a.granted);
  CHECK(a.store_failed);
}

TEST_CASE("anti-spoof: sources inside the Alloc pass, at both block edges, and nothing else") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.8", "ip4Alloc": 29,
       "ip6Address": "2001:db8:1::", "ip6Alloc": 64},
      {"publicKey": ")" + text(client_b()) + R"(", "ip4Address": "100.64.0.16"}]})"),
                     &store);
  // No lease yet: nothing passes.
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.8"));
  REQUIRE(table.request(client_a().pub, kBoth, 1, 100).granted);
  CHECK(allowed(table, client_a().pub, "100.64.0.8"));
  CHECK(allowed(table, client_a().pub, "100.64.0.15"));
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.7"));
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.16"));
  CHECK(allowed(table, client_a().pub, "2001:db8:1::"));
  CHECK(allowed(table, client_a().pub, "2001:db8:1:0:ffff:ffff:ffff:ffff"));
  CHECK_FALSE(allowed(table, client_a().pub, "2001:db8:1:1::"));
  CHECK_FALSE(allowed(table, client_a().pub, "2001:db8::ffff"));
  // Another key's block, an unpinned key, a packet that is not one whole packet.
  CHECK_FALSE(allowed(table, client_b().pub, "100.64.0.8"));
  CHECK_FALSE(allowed(table, stranger().pub, "100.64.0.8"));
  auto broken = packet_from("100.64.0.8");
  broken[3] = 21;
  CHECK_FALSE(table.source_allowed(client_a().pub, ByteSpan{broken.data(), broken.size()}));
  // After release nothing passes again, and the log shows when it ended.
  const auto ended = table.release(client_a().pub, 150);
  REQUIRE(ended);
  CHECK(ended->event == LeaseRecord::Event::ended);
  CHECK(ended->start_s == 100);
  CHECK(ended->end_s == 150);
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.8"));
  CHECK_FALSE(table.release(client_a().pub, 160));
}

TEST_CASE("leases run out at their end unless renewed") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.10"},
      {"publicKey": ")" + text(client_b()) + R"(", "ip4Address": "100.64.0.11"}], "leaseSeconds": 60})"),
                     &store);
  REQUIRE(table.request(client_a().pub, kWantIp4, 1, 0).granted);
  REQUIRE(table.request(client_b().pub, kWantIp4, 1, 0).granted);
  REQUIRE(table.request(client_b().pub, kWantIp4, 2, 30).granted);  // renewed: ends at 90
  CHECK(table.expire(59).empty());
  const auto ended = table.expire(60);
  REQUIRE(ended.size() == 1);
  CHECK(format_public_key(ended[0].key) == text(client_a()));
  CHECK(ended[0].end_s == 60);
  CHECK(table.active_leases() == 1);
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.10"));
  CHECK(allowed(table, client_b().pub, "100.64.0.11"));
  CHECK(table.expire(90).size() == 1);
  CHECK(table.active_leases() == 0);
}

TEST_CASE("a reload keeps other clients' leases and ends a removed or changed key's at once") {
  MemoryStore store;
  const std::string before = R"({"allowedConnections": [
      {"publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.10"},
      {"publicKey": ")" + text(client_b()) + R"("},
      {"publicKey": ")" + text(stranger()) + R"(", "ip4Address": "100.64.0.12"}], "ip4Pool": "100.64.1.0/24"})";
  GatewayTable table(config_of(before), &store);
  REQUIRE(table.request(client_a().pub, kWantIp4, 1, 0).granted);
  REQUIRE(table.request(client_b().pub, kWantIp4, 1, 0).granted);
  REQUIRE(table.request(stranger().pub, kWantIp4, 1, 0).granted);
  CHECK(allowed(table, client_b().pub, "100.64.1.2"));

  // a removed, the third key's address changed, b (pool) unchanged.
  const std::string after = R"({"allowedConnections": [
      {"publicKey": ")" + text(client_b()) + R"("},
      {"publicKey": ")" + text(stranger()) + R"(", "ip4Address": "100.64.0.13"}], "ip4Pool": "100.64.1.0/24"})";
  const auto ended = table.reconfigure(config_of(after), 10);
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].end_s == 10);
  CHECK(ended[1].end_s == 10);
  CHECK(table.active_leases() == 1);
  CHECK(allowed(table, client_b().pub, "100.64.1.2"));
  CHECK_FALSE(allowed(table, client_a().pub, "100.64.0.10"));
  CHECK_FALSE(table.request(client_a().pub, kWantIp4, 2, 11).granted);
  CHECK_FALSE(allowed(table, stranger().pub, "100.64.0.12"));
  // b's lease carries on: a renewal is a renewal, from the original start.
  const auto renewed = table.request(client_b().pub, kWantIp4, 3, 20);
  REQUIRE(renewed.record);
  CHECK(renewed.record->event == LeaseRecord::Event::renewed);
  CHECK(renewed.record->start_s == 0);
}

TEST_CASE("downstream: a destination finds the client whose live lease holds it, and only then") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      { "publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.10",
        "ip6Address": "2001:db8:1:2::1", "ip6Alloc": 64 },
      { "publicKey": ")" + text(client_b()) + R"(", "ip4Address": "100.64.0.16", "ip4Alloc": 29 }],
      "ip6Pool": "2001:db8:9::/64"})"),
                     &store);
  // A packet to `destination`: the same shape as packet_from, with the addresses swapped.
  auto to = [&](const char* destination) {
    auto p = packet_from(destination);
    if (p[0] == 0x45) {
      std::memcpy(p.data() + 16, p.data() + 12, 4);
    } else {
      std::memcpy(p.data() + 24, p.data() + 8, 16);
    }
    return table.client_for_destination(ByteSpan{p.data(), p.size()});
  };
  CHECK(to("100.64.0.10") == nullptr);  // no lease yet
  CHECK(table.held_families(client_a().pub) == 0);
  REQUIRE(table.request(client_a().pub, kBoth, 1, 100).granted);
  REQUIRE(table.request(client_b().pub, kBoth, 2, 100).granted);
  CHECK(table.held_families(client_a().pub) == kBoth);
  CHECK(table.held_families(client_b().pub) == kBoth);  // IPv6 from the pool
  CHECK(table.held_families(stranger().pub) == 0);

  const PublicKey* a = to("100.64.0.10");
  REQUIRE(a != nullptr);
  CHECK(std::memcmp(a->bytes, client_a().pub.bytes, kPublicKeySize) == 0);
  CHECK(to("100.64.0.11") == nullptr);
  const PublicKey* b_first = to("100.64.0.16");
  const PublicKey* b_last = to("100.64.0.23");
  REQUIRE(b_first != nullptr);
  REQUIRE(b_last != nullptr);
  CHECK(std::memcmp(b_last->bytes, client_b().pub.bytes, kPublicKeySize) == 0);
  CHECK(to("100.64.0.24") == nullptr);
  // Anywhere in a's delegated /64.
  const PublicKey* delegated = to("2001:db8:1:2:ffff::77");
  REQUIRE(delegated != nullptr);
  CHECK(std::memcmp(delegated->bytes, client_a().pub.bytes, kPublicKeySize) == 0);
  CHECK(to("2001:db8:1:3::1") == nullptr);
  CHECK(to("2001:db8:9::2") != nullptr);  // b's pool address

  // Released: nothing finds it any more.
  REQUIRE(table.release(client_a().pub, 200));
  CHECK(to("100.64.0.10") == nullptr);
  CHECK(to("2001:db8:1:2::1") == nullptr);
  CHECK(table.held_families(client_a().pub) == 0);
  CHECK(to("100.64.0.17") != nullptr);

  // What the firewall lets clients send from: every pinned block and the pool.
  std::vector<std::string> blocks;
  for (const IpBlock& block : table.client_blocks()) blocks.push_back(format_block(block));
  std::sort(blocks.begin(), blocks.end());
  CHECK(blocks == std::vector<std::string>{"100.64.0.10/32", "100.64.0.16/29", "2001:db8:1:2::/64", "2001:db8:9::/64"});
}

TEST_CASE("account requests are answered only for a live lease, a few a second") {
  MemoryStore store;
  GatewayTable table(config_of(R"({"allowedConnections": [
      { "publicKey": ")" + text(client_a()) + R"(", "ip4Address": "100.64.0.10" }]})"),
                     &store);
  constexpr std::uint64_t s = 1'000'000'000;
  CHECK(table.account_request(stranger().pub, 10 * s) == GatewayTable::AccountAsk::no_lease);
  CHECK(table.account_request(client_a().pub, 10 * s) == GatewayTable::AccountAsk::no_lease);  // pinned, not leased
  REQUIRE(table.request(client_a().pub, kBoth, 1, 10).granted);
  // A burst at once, then nothing until the schedule catches up.
  for (std::uint64_t i = 0; i < GatewayTable::kAccountBurst; ++i) {
    CHECK(table.account_request(client_a().pub, 10 * s) == GatewayTable::AccountAsk::answer);
  }
  CHECK(table.account_request(client_a().pub, 10 * s) == GatewayTable::AccountAsk::rate_limited);
  CHECK(table.account_request(client_a().pub, 10 * s + s / 4) == GatewayTable::AccountAsk::rate_limited);
  CHECK(table.account_request(client_a().pub, 10 * s + s / 2) == GatewayTable::AccountAsk::answer);
  // A steady asker gets kAccountPerSecond a second: over 10 s, 20 answers of 1000 asks.
  int answered = 0;
  for (std::uint64_t t = 20 * s; t < 30 * s; t += s / 100) {
    answered += table.account_request(client_a().pub, t) == GatewayTable::AccountAsk::answer;
  }
  CHECK(answered == static_cast<int>(GatewayTable::kAccountBurst + 10 * GatewayTable::kAccountPerSecond - 1));
  // After a quiet spell the burst is back.
  for (std::uint64_t i = 0; i < GatewayTable::kAccountBurst; ++i) {
    CHECK(table.account_request(client_a().pub, 60 * s) == GatewayTable::AccountAsk::answer);
  }
  REQUIRE(table.release(client_a().pub, 61));
  CHECK(table.account_request(client_a().pub, 70 * s) == GatewayTable::AccountAsk::no_lease);
}
