// The client's gateways as an operator relies on them: every gateway is asked, a lease
// becomes addresses and a default route, the preferred healthy gateway carries the route
// and a silent one loses it within gatewayDeadMs, overlapping grants are refused; the
// account a gateway reports is kept only from it and only as the answer to our request, and
// a gateway that blocks us gives up the default route until it opens again.
#include "client_table.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

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

namespace {

using mh::AccountReport;
using mh::AccountState;

AccountMessage account_of(AccountState state, std::uint32_t nonce = 0) {
  AccountMessage m;
  m.nonce = nonce;
  m.report.state = state;
  const char plan[] = "small";
  m.report.plan_size = sizeof plan - 1;
  std::memcpy(m.report.plan, plan, m.report.plan_size);
  m.report.period_start_unix = 1'796'083'200;  // 2026-12-01T00:00:00Z
  m.report.period_end_unix = 1'796'169'600;    // 2026-12-02T00:00:00Z
  m.report.quota_bytes = 1'000'000;
  m.report.billable_bytes = 1'000'112;
  m.report.throttle_bps = 128'000;
  return m;
}

// Two gateways granting default routes, gateway 1 (key 1) preferred.
void lease_both(Fixture& f) {
  std::uint64_t next = 0;
  bool changed = false;
  std::uint32_t n1 = 0, n2 = 0;
  for (const auto& s : f.table.tick(0, &next, &changed)) {
    if (s.gateway == 0) n1 = s.message.nonce;
    if (s.gateway == 1) n2 = s.message.nonce;
  }
  f.table.on_grant(key(1), grant_of(n1, {granted("100.100.0.2", 0, 32)}), f.no_routes, 0, &f.why);
  f.table.on_grant(key(2), grant_of(n2, {granted("100.100.1.2", 0, 32)}), f.no_routes, 0, &f.why);
}

}  // namespace

TEST_CASE("account requests go to every leased gateway; only the answer to ours is kept, with its time") {
  Fixture f({{key(1), 10}, {key(2), 20}, {key(3), 30}});
  lease_both(f);  // key 3 never answers: no lease, not asked
  const auto sends = f.table.request_accounts(5 * kS);
  REQUIRE(sends.size() == 2);
  CHECK(sends[0].type == MessageType::account_request);
  CHECK(f.table.gateways()[0].account_pending());
  CHECK(f.table.gateways()[1].account_pending());
  CHECK_FALSE(f.table.gateways()[2].account_pending());
  bool changed = false;
  // A stranger, a gateway not leasing to us, and a wrong nonce are ignored.
  CHECK(f.table.on_account(key(9), MessageType::account_report, account_of(AccountState::open, sends[0].message.nonce),
                           6 * kS, 1'796'100'000, &changed) == ClientTable::AccountOutcome::ignored);
  CHECK(f.table.on_account(key(3), MessageType::account_notice, account_of(AccountState::blocked), 6 * kS,
                           1'796'100'000, &changed) == ClientTable::AccountOutcome::ignored);
  CHECK(f.table.on_account(key(1), MessageType::account_report,
                           account_of(AccountState::open, sends[0].message.nonce + 100), 6 * kS, 1'796'100'000,
                           &changed) == ClientTable::AccountOutcome::ignored);
  CHECK_FALSE(f.table.gateways()[0].account);
  CHECK(f.table.on_account(key(1), MessageType::account_report, account_of(AccountState::open, sends[0].message.nonce),
                           6 * kS, 1'796'100'000, &changed) == ClientTable::AccountOutcome::kept);
  const ClientGateway& g = f.table.gateways()[0];
  CHECK_FALSE(g.account_pending());
  REQUIRE(g.account);
  CHECK(g.account->received_ns == 6 * kS);
  CHECK(g.account->received_unix == 1'796'100'000);
  CHECK(std::string(g.account->report.plan, g.account->report.plan_size) == "small");
  CHECK_FALSE(g.account->notice);
  // The same answer twice is stale.
  CHECK(f.table.on_account(key(1), MessageType::account_report, account_of(AccountState::open, sends[0].message.nonce),
                           7 * kS, 1'796'100'001, &changed) == ClientTable::AccountOutcome::ignored);
  CHECK(g.account->received_ns == 6 * kS);
  // A gateway without billing says so.
  AccountMessage not_metered;
  not_metered.status = AccountStatus::not_metered;
  not_metered.nonce = sends[1].message.nonce;
  CHECK(f.table.on_account(key(2), MessageType::account_report, not_metered, 6 * kS, 1'796'100'000, &changed) ==
        ClientTable::AccountOutcome::kept);
  CHECK(f.table.gateways()[1].account->status == AccountStatus::not_metered);
  CHECK_FALSE(changed);
}

TEST_CASE("a blocked gateway gives the default route to a healthy one until it opens again") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  lease_both(f);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
  bool changed = false;
  CHECK(f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 10 * kS,
                           1'796'100'000, &changed) == ClientTable::AccountOutcome::changed);
  CHECK(changed);
  CHECK(f.table.gateways()[0].blocked());
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.1.2");
  // Its addresses stay: the free prefixes may still pass through it.
  CHECK(f.table.kernel_state().addresses.size() == 2);
  // Throttled is not blocked: traffic flows, so the route stays where priority says.
  changed = false;
  CHECK(f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::throttled), 11 * kS,
                           1'796'100'001, &changed) == ClientTable::AccountOutcome::changed);
  CHECK(changed);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
  changed = false;
  f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 12 * kS, 1'796'100'002,
                     &changed);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.1.2");
  changed = false;
  CHECK(f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::open), 13 * kS,
                           1'796'100'003, &changed) == ClientTable::AccountOutcome::changed);
  CHECK(changed);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");

  // When both are blocked, the preferred one keeps the route: it still answers.
  f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 14 * kS, 1'796'100'004,
                     &changed);
  f.table.on_account(key(2), MessageType::account_notice, account_of(AccountState::blocked), 14 * kS, 1'796'100'004,
                     &changed);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
}

TEST_CASE("a block ends with its period even when the open notice is lost") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  lease_both(f);
  bool changed = false;
  // Blocked 100 s before the period ends.
  f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 10 * kS,
                     1'796'169'500, &changed);
  std::uint64_t next = 0;
  changed = false;
  // Both gateways keep answering their probes; tick says when to look again.
  for (std::uint64_t now = 11 * kS; now < 110 * kS; now += kS) {
    f.table.on_probe_reply(key(1), ControlMessage{kWantIp4, 1}, now, &changed);
    f.table.on_probe_reply(key(2), ControlMessage{kWantIp4, 1}, now, &changed);
    f.table.tick(now, &next, &changed);
    CHECK(next <= 110 * kS);
    CHECK(f.table.gateways()[0].blocked());
  }
  changed = false;
  f.table.tick(110 * kS, &next, &changed);
  CHECK(changed);
  CHECK_FALSE(f.table.gateways()[0].blocked());
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
}

TEST_CASE("account notices read as one line for people") {
  CHECK(format_utc(1'796'169'600) == "2026-12-02T00:00:00Z");
  CHECK(format_account_line("abcdef...uvwxyz", account_of(AccountState::blocked).report) ==
        "gateway abcdef...uvwxyz: blocked: quota 1000000 bytes used (1000112 billable) for the period ending "
        "2026-12-02T00:00:00Z; nothing passes through this gateway until then");
  CHECK(format_account_line("g", account_of(AccountState::throttled).report) ==
        "gateway g: throttled to 128000 bit/s: quota 1000000 bytes used (1000112 billable) for the period ending "
        "2026-12-02T00:00:00Z");
  AccountReport open = account_of(AccountState::open).report;
  open.billable_bytes = 0;
  CHECK(format_account_line("g", open) ==
        "gateway g: open again: 0 of 1000000 bytes billable for the period ending 2026-12-02T00:00:00Z");
}

TEST_CASE("a gateway that blocks us is asked again every deniedRetryMs; its answer can lift the block") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  lease_both(f);
  bool changed = false;
  f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 10 * kS, 1'796'100'000,
                     &changed);
  std::uint64_t next = 0;
  std::uint32_t asked = 0;
  std::uint64_t asked_at = 0;
  for (std::uint64_t now = 10 * kS; now <= 16 * kS && asked == 0; now += 100 * kMs) {
    f.table.on_probe_reply(key(1), ControlMessage{kWantIp4, 1}, now, &changed);
    f.table.on_probe_reply(key(2), ControlMessage{kWantIp4, 1}, now, &changed);
    for (const auto& s : f.table.tick(now, &next, &changed)) {
      if (s.type == MessageType::account_request) {
        CHECK(s.gateway == 0);
        asked = s.message.nonce;
        asked_at = now;
      }
    }
  }
  REQUIRE(asked != 0);
  CHECK(asked_at == 15 * kS);  // deniedRetryMs (5 s) after the notice
  CHECK(f.table.gateways()[0].account_pending());
  // The operator gave it a bigger plan: the gateway now says open.
  changed = false;
  CHECK(f.table.on_account(key(1), MessageType::account_report, account_of(AccountState::open, asked), 15 * kS,
                           1'796'100'005, &changed) == ClientTable::AccountOutcome::changed);
  CHECK(changed);
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.0.2");
  // Open: no more asking.
  for (std::uint64_t now = 15 * kS; now <= 40 * kS; now += kS) {
    f.table.on_probe_reply(key(1), ControlMessage{kWantIp4, 1}, now, &changed);
    f.table.on_probe_reply(key(2), ControlMessage{kWantIp4, 1}, now, &changed);
    for (const auto& s : f.table.tick(now, &next, &changed)) CHECK(s.type != MessageType::account_request);
  }
}

TEST_CASE("a blocked gateway that lost its lease does not wake the loop at once") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  lease_both(f);
  bool changed = false;
  f.table.on_account(key(1), MessageType::account_notice, account_of(AccountState::blocked), 10 * kS, 1'796'100'000,
                     &changed);
  REQUIRE(f.table.gateways()[0].blocked());
  // Both gateways fall silent long past their leases and the account's refresh time.
  std::uint64_t next = 0;
  const std::uint64_t later = 5000 * kS;
  f.table.tick(later, &next, &changed);
  REQUIRE_FALSE(f.table.gateways()[0].holds_lease());
  REQUIRE(f.table.gateways()[0].blocked());
  f.table.tick(later, &next, &changed);
  CHECK(next > later);
}

TEST_CASE("a block whose period ends at the end of time does not wrap around") {
  Fixture f({{key(1), 10}, {key(2), 20}});
  lease_both(f);
  bool changed = false;
  AccountMessage forever = account_of(AccountState::blocked);
  forever.report.period_end_unix = INT64_MAX;
  f.table.on_account(key(1), MessageType::account_notice, forever, 10 * kS, 1'796'100'000, &changed);
  CHECK(f.table.gateways()[0].account->blocked_until_ns == UINT64_MAX);
  std::uint64_t next = 0;
  f.table.on_probe_reply(key(1), ControlMessage{kWantIp4, 1}, 11 * kS, &changed);
  f.table.on_probe_reply(key(2), ControlMessage{kWantIp4, 1}, 11 * kS, &changed);
  f.table.tick(11 * kS, &next, &changed);
  CHECK(f.table.gateways()[0].blocked());
  CHECK(format_ip(*f.table.kernel_state().default_source4) == "100.100.1.2");
}
