// The client's gateways as an operator relies on them: every gateway is asked, a lease
// becomes addresses and a default route, the preferred healthy gateway carries the route
// and a silent one loses it within gatewayDeadMs, overlapping grants are refused.
#include "client_table.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <algorithm>

namespace {

using namespace mh::iptunnel;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000'000'000;

mh::PublicKey key(std::uint8_t n) {
  mh::PublicKey k;
  k.bytes[0] = n;
  return k;
}

GrantedAddress granted(const char* address, std::uint8_t prefix, std::uint8_t alloc) {
  return GrantedAddress{*parse_ip(address), prefix, alloc};
}

Grant grant_of(std::uint32_t nonce, std::initializer_list<GrantedAddress> addresses, std::uint32_t lease_s = 3600) {
  Grant g;
  g.nonce = nonce;
  g.mtu = 1280;
  g.lease_seconds = lease_s;
  for (const GrantedAddress& a : addresses) g.addresses[g.address_count++] = a;
  return g;
}

ClientTimers timers() {
  ClientTimers t;
  t.request_retry_ns = 1000 * kMs;
  t.probe_interval_ns = 1000 * kMs;
  t.gateway_dead_ns = 3000 * kMs;
  t.denied_retry_ns = 5000 * kMs;
  return t;
}

struct Fixture {
  explicit Fixture(std::vector<OutgoingConnection> gateways) : table(gateways, timers()) {}

  // Runs tick at `now` and returns the nonce of the request sent to gateway `i` (0 if none).
  std::uint32_t request_nonce(std::uint64_t now, std::size_t i, MessageType type = MessageType::lease_request) {
    std::uint64_t next = 0;
    bool changed = false;
    for (const ClientTable::Send& s : table.tick(now, &next, &changed)) {
      if (s.gateway == i && s.type == type) return s.message.nonce;
    }
    return 0;
  }

  ClientTable table;
  std::vector<mh::iptunnel::IpBlock> no_routes;
  std::string why;
};

}  // namespace

TEST_CASE("every gateway is asked at once and again until it answers") {
  Fixture f({{key(1), 100}, {key(2), 100}});
  std::uint64_t next = 0;
  bool changed = false;
  auto sends = f.table.tick(0, &next, &changed);
  REQUIRE(sends.size() == 2);
  CHECK(sends[0].type == MessageType::lease_request);
  CHECK(sends[0].message.families == (kWantIp4 | kWantIp6));
  CHECK(next == 1000 * kMs);
  CHECK(f.table.tick(500 * kMs, &next, &changed).empty());
  CHECK(f.table.tick(1000 * kMs, &next, &changed).size() == 2);
}

TEST_CASE("a grant becomes addresses and a default route; a stale one is ignored") {
  Fixture f({{key(1), 100}});
  const std::uint32_t nonce = f.request_nonce(0, 0);
  REQUIRE(nonce != 0);
  const Grant g = grant_of(nonce, {granted("100.100.0.2", 0, 32), granted("2001:db8:1::10", 0, 128)});
  CHECK(f.table.on_grant(key(1), grant_of(nonce + 7, {granted("100.100.0.9", 0, 32)}), f.no_routes, 10 * kMs,
                         &f.why) == ClientTable::GrantOutcome::stale);
  CHECK(f.table.on_grant(key(9), g, f.no_routes, 10 * kMs, &f.why) == ClientTable::GrantOutcome::stale);
  CHECK(f.table.on_grant(key(1), g, f.no_routes, 10 * kMs, &f.why) == ClientTable::GrantOutcome::accepted);
  // The same grant again (a duplicate) is stale: its nonce was answered.
  CHECK(f.table.on_grant(key(1), g, f.no_routes, 11 * kMs, &f.why) == ClientTable::GrantOutcome::stale);

  const ClientKernelState state = f.table.kernel_state();
  REQUIRE(state.addresses.size() == 2);
  CHECK(format_block(state.addresses[0]) == "100.100.0.2/32");
  CHECK(format_block(state.addresses[1]) == "2001:db8:1::10/128");
  REQUIRE(state.default_source4);
  CHECK(format_ip(*state.default_source4) == "100.100.0.2");
  REQUIRE(state.default_source6);
  CHECK(state.prefix_routes.empty());

  CHECK(f.table.gateway_for_source(*parse_ip("100.100.0.2")) != nullptr);
  CHECK(f.table.gateway_for_source(*parse_ip("100.100.0.3")) == nullptr);
  CHECK(f.table.accepts(key(1), *parse_ip("2001:db8:1::10")) != nullptr);
  CHECK(f.table.accepts(key(1), *parse_ip("2001:db8:1::11")) == nullptr);
  CHECK(f.table.accepts(key(2), *parse_ip("100.100.0.2")) == nullptr);
}

TEST_CASE("a prefix grant routes that block; a delegated IPv6 block owns every source inside it") {
  Fixture f({{key(1), 100}});
  const std::uint32_t nonce = f.request_nonce(0, 0);
  f.table.on_grant(key(1), grant_of(nonce, {granted("100.100.0.2", 24, 32), granted("2001:db8:1:2::1", 0, 64)}),
                   f.no_routes, 0, &f.why);
  const ClientKernelState state = f.table.kernel_state();
  REQUIRE(state.prefix_routes.size() == 1);
  CHECK(format_block(state.prefix_routes[0].destination) == "100.100.0.0/24");
  CHECK_FALSE(state.default_source4);  // prefix 24 is not a default route
  REQUIRE(state.default_source6);
  CHECK(f.table.gateway_for_source(*parse_ip("2001:db8:1:2::99")) != nullptr);
  CHECK(f.table.accepts(key(1), *parse_ip("2001:db8:1:2::99")) != nullptr);
}

TEST_CASE("the healthy gateway with the lowest priority carries the default route; a silent one loses it") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  std::uint64_t next = 0;
  bool changed = false;
  std::uint32_t n1 = 0, n2 = 0;
  for (const auto& s : f.table.tick(0, &next, &changed)) (s.gateway == 0 ? n1 : n2) = s.message.nonce;
  f.table.on_grant(key(2), grant_of(n2, {granted("100.100.1.2", 0, 32)}), f.no_routes, 0, &f.why);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.1.2");
  f.table.on_grant(key(1), grant_of(n1, {granted("100.100.0.2", 0, 32)}), f.no_routes, 0, &f.why);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");

  // Gateway 1 answers no probe; gateway 2 does. After gatewayDeadMs it is dead.
  std::uint64_t now = 0;
  while (now < 2900 * kMs) {
    now += 100 * kMs;
    for (const auto& s : f.table.tick(now, &next, &changed)) {
      if (s.gateway == 1 && s.type == MessageType::probe) {
        f.table.on_probe_reply(key(2), ControlMessage{kWantIp4, s.message.nonce}, now, &changed);
      }
    }
    CHECK(f.table.gateways()[0].state == GatewayState::leased);
  }
  now = 3000 * kMs;
  changed = false;
  f.table.tick(now, &next, &changed);
  CHECK(changed);
  CHECK(f.table.gateways()[0].state == GatewayState::dead);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.1.2");
  // Its addresses stay: packets from them still leave through it if it comes back.
  CHECK(f.table.kernel_state().addresses.size() == 2);

  // It answers again: the route comes back to it.
  changed = false;
  f.table.on_probe_reply(key(1), ControlMessage{kWantIp4, 1}, now + 100 * kMs, &changed);
  CHECK(changed);
  CHECK(f.table.gateways()[0].state == GatewayState::leased);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
}

TEST_CASE("the default route goes through a gateway that grants one, whatever the priorities") {
  Fixture f({{key(1), 10}, {key(2), 100}});
  std::uint64_t next = 0;
  bool changed = false;
  std::uint32_t n1 = 0, n2 = 0;
  for (const auto& s : f.table.tick(0, &next, &changed)) (s.gateway == 0 ? n1 : n2) = s.message.nonce;
  // The preferred gateway grants only a route to its own /16; the other a default route.
  f.table.on_grant(key(1), grant_of(n1, {granted("10.1.0.5", 16, 32)}), f.no_routes, 0, &f.why);
  f.table.on_grant(key(2), grant_of(n2, {granted("100.100.0.10", 0, 32)}), f.no_routes, 0, &f.why);
  const ClientKernelState state = f.table.kernel_state();
  REQUIRE(state.default_source4);
  CHECK(format_ip(*state.default_source4) == "100.100.0.10");
  REQUIRE(state.prefix_routes.size() == 1);
  CHECK(format_block(state.prefix_routes[0].destination) == "10.1.0.0/16");
  CHECK(f.table.preferred(Family::ip4) == &f.table.gateways()[1]);
}

TEST_CASE("a gateway that restarted and forgot our lease is asked again") {
  Fixture f({{key(1), 100}});
  const std::uint32_t nonce = f.request_nonce(0, 0);
  f.table.on_grant(key(1), grant_of(nonce, {granted("100.100.0.2", 0, 32)}), f.no_routes, 0, &f.why);
  bool changed = false;
  f.table.on_probe_reply(key(1), ControlMessage{0, 5}, 100 * kMs, &changed);
  CHECK(changed);
  CHECK(f.table.gateways()[0].state == GatewayState::requesting);
  CHECK(f.request_nonce(100 * kMs, 0) != 0);
}

TEST_CASE("renewal past half the lease; a lease that runs out takes its addresses") {
  Fixture f({{key(1), 100}});
  std::uint32_t nonce = f.request_nonce(0, 0);
  // A 4-second lease (shorter than gatewayDeadMs + half, so the gateway stays "leased").
  f.table.on_grant(key(1), grant_of(nonce, {granted("100.100.0.2", 0, 32)}, 4), f.no_routes, 0, &f.why);
  CHECK(f.request_nonce(1 * kS, 0, MessageType::renew) == 0);  // a probe: not half-way yet
  nonce = f.request_nonce(2 * kS, 0, MessageType::renew);
  CHECK(nonce != 0);
  CHECK(f.table.on_grant(key(1), grant_of(nonce, {granted("100.100.0.2", 0, 32)}, 4), f.no_routes, 2 * kS,
                         &f.why) == ClientTable::GrantOutcome::renewed);
  // Nothing answered after this: at 2 + 4 s the lease is gone.
  std::uint64_t next = 0;
  bool changed = false;
  f.table.tick(5900 * kMs, &next, &changed);
  CHECK(f.table.gateways()[0].holds_lease());
  f.table.tick(6 * kS, &next, &changed);
  CHECK(changed);
  CHECK_FALSE(f.table.gateways()[0].holds_lease());
  CHECK(f.table.kernel_state().addresses.empty());
}

TEST_CASE("a grant overlapping another lease or a local route is refused, saying which") {
  Fixture f({{key(1), 100}, {key(2), 100}});
  std::uint64_t next = 0;
  bool changed = false;
  std::uint32_t n1 = 0, n2 = 0;
  for (const auto& s : f.table.tick(0, &next, &changed)) (s.gateway == 0 ? n1 : n2) = s.message.nonce;
  REQUIRE(f.table.on_grant(key(1), grant_of(n1, {granted("100.100.0.0", 0, 24)}), f.no_routes, 0, &f.why) ==
          ClientTable::GrantOutcome::accepted);
  CHECK(f.table.on_grant(key(2), grant_of(n2, {granted("100.100.0.7", 0, 32)}), f.no_routes, 0, &f.why) ==
        ClientTable::GrantOutcome::refused);
  CHECK(f.why.find("overlaps the lease from") != std::string::npos);
  CHECK(f.table.gateways()[1].state == GatewayState::refused);

  Fixture g({{key(3), 100}});
  const std::uint32_t n3 = g.request_nonce(0, 0);
  const std::vector<mh::iptunnel::IpBlock> local = {*parse_block("192.0.2.0/24")};
  CHECK(g.table.on_grant(key(3), grant_of(n3, {granted("192.0.2.5", 0, 32)}), local, 0, &g.why) ==
        ClientTable::GrantOutcome::refused);
  CHECK(g.why == "overlaps the local route 192.0.2.0/24");
  CHECK(g.table.kernel_state().addresses.empty());
}

TEST_CASE("a denial is kept with its reason and asked again later") {
  Fixture f({{key(1), 100}});
  const std::uint32_t nonce = f.request_nonce(0, 0);
  Denial d;
  d.nonce = nonce;
  d.reason = DenialReason::not_pinned;
  const std::string text = "key not in allowedConnections";
  std::copy(text.begin(), text.end(), d.text);
  d.text_size = static_cast<std::uint8_t>(text.size());
  CHECK(f.table.on_denial(key(1), d, 0));
  CHECK(f.table.gateways()[0].state == GatewayState::denied);
  CHECK(f.table.gateways()[0].reason == text);
  CHECK(f.request_nonce(timers().denied_retry_ns - 1, 0) == 0);
  CHECK(f.request_nonce(timers().denied_retry_ns, 0) != 0);
}
