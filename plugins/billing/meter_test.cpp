// The meter as a client's bill depends on it: free prefixes and unsolicited traffic are
// never billed, the quota is crossed by exactly the packet that does not fit, and the
// amount is exact to the micro-unit at any total, however the bytes arrived.
#include "meter.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <vector>

namespace {

using namespace mh;
using namespace mh::billing;
using iptunnel::Family;
using iptunnel::IpAddress;
using iptunnel::IpBlock;

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kPacket = 1500;
constexpr std::uint64_t kGb = PriceAccumulator::kBytesPerGb;  // 10^9 bytes

IpAddress ip(const char* text) { return *iptunnel::parse_ip(text); }
IpBlock block(const char* text) { return *iptunnel::parse_block(text); }

PrefixSet prefixes(std::initializer_list<const char*> texts) {
  std::vector<IpBlock> blocks;
  for (const char* t : texts) blocks.push_back(block(t));
  return PrefixSet(blocks);
}

// The fixed header of an IPv4 or IPv6 packet from `src` to `dst`, `total` bytes long in all
// (the meter reads the addresses only); cut short when `total` is less than the header.
Bytes packet(const char* src, const char* dst, std::size_t total = kPacket) {
  constexpr std::size_t kLargestHeader = 40;
  const IpAddress s = ip(src), d = ip(dst);
  Bytes p(std::max(total, kLargestHeader), 0);
  if (s.family == Family::ip4) {
    p[0] = 0x45;
    std::memcpy(p.data() + 12, s.bytes, 4);
    std::memcpy(p.data() + 16, d.bytes, 4);
  } else {
    p[0] = 0x60;
    std::memcpy(p.data() + 8, s.bytes, 16);
    std::memcpy(p.data() + 24, d.bytes, 16);
  }
  p.resize(total);
  return p;
}
ByteSpan view(const Bytes& b) { return {b.data(), b.size()}; }

TrafficInfo up(std::uint32_t length = kPacket) {
  TrafficInfo info;
  info.direction = TrafficDirection::upstream;
  info.ip_length = length;
  info.client_opened = true;
  return info;
}
TrafficInfo down(bool client_opened, std::uint32_t length = kPacket) {
  TrafficInfo info;
  info.direction = TrafficDirection::downstream;
  info.ip_length = length;
  info.client_opened = client_opened;
  return info;
}

// What the billing hook does with a packet no shaper refuses: decide, then count what
// went on.
MeterDecision send(Meter& meter, const TrafficInfo& info, const Bytes& ip_packet) {
  const MeterDecision d = meter.decide(info, view(ip_packet));
  if (d.action != Enforcement::block) meter.commit(d, info);
  return d;
}

// An exact oracle for bytes × price / 10^9 (the compilers we build with have 128-bit
// integers; the code under test does not rely on them).
std::uint64_t exact_micros(std::uint64_t bytes, std::uint64_t per_gb_micros) {
  const unsigned __int128 product = static_cast<unsigned __int128>(bytes) * per_gb_micros;
  return static_cast<std::uint64_t>(product / kGb);
}

}  // namespace

TEST_CASE("free prefixes match both families, at their edges and nowhere else") {
  const PrefixSet free = prefixes({"10.0.0.0/8", "10.1.0.0/16", "192.168.7.0/24", "172.16.5.5/12", "198.51.100.9/32",
                                   "2001:db8:100::/40", "fd00::/8", "2001:db8:ffff::1/128"});
  CHECK(free.size() == 7);  // 10.1.0.0/16 lies inside 10.0.0.0/8

  CHECK(free.contains(ip("10.0.0.0")));
  CHECK(free.contains(ip("10.255.255.255")));
  CHECK(free.contains(ip("10.1.2.3")));
  CHECK_FALSE(free.contains(ip("9.255.255.255")));
  CHECK_FALSE(free.contains(ip("11.0.0.0")));
  CHECK(free.contains(ip("192.168.7.200")));
  CHECK_FALSE(free.contains(ip("192.168.8.0")));
  CHECK(free.contains(ip("172.31.255.255")));  // host bits in the config are ignored
  CHECK_FALSE(free.contains(ip("172.32.0.0")));
  CHECK(free.contains(ip("198.51.100.9")));
  CHECK_FALSE(free.contains(ip("198.51.100.10")));

  CHECK(free.contains(ip("2001:db8:1ff:ffff::1")));
  CHECK_FALSE(free.contains(ip("2001:db8:200::")));
  CHECK_FALSE(free.contains(ip("2001:db8:ff::")));
  CHECK(free.contains(ip("fdff:ffff::1")));
  CHECK_FALSE(free.contains(ip("fe80::1")));
  CHECK(free.contains(ip("2001:db8:ffff::1")));
  CHECK_FALSE(free.contains(ip("2001:db8:ffff::2")));

  // No address is in a block of the other family, whatever its bytes.
  const PrefixSet all4 = prefixes({"0.0.0.0/0"});
  CHECK(all4.contains(ip("203.0.113.1")));
  CHECK_FALSE(all4.contains(ip("::")));
  CHECK_FALSE(all4.contains(ip("::ffff:203.0.113.1")));
  CHECK_FALSE(PrefixSet().contains(ip("10.0.0.1")));

  // Blocks that adjoin become one range; the ends of the address space are in reach.
  const PrefixSet halves = prefixes({"10.128.0.0/9", "10.0.0.0/9", "255.255.255.255/32", "::/0"});
  CHECK(halves.size() == 3);
  CHECK(halves.contains(ip("10.127.255.255")));
  CHECK(halves.contains(ip("10.128.0.0")));
  CHECK(halves.contains(ip("255.255.255.255")));
  CHECK_FALSE(halves.contains(ip("255.255.255.254")));
  CHECK(halves.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK(halves.contains(ip("::")));
  const PrefixSet split6 = prefixes({"2001:db8::/64", "2001:db8:0:1::/64", "2001:db8:0:0:8000::/65"});
  CHECK(split6.size() == 1);  // across the 64-bit halves
  CHECK(split6.contains(ip("2001:db8:0:1:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(split6.contains(ip("2001:db8:0:2::")));
}

TEST_CASE("the sorted matcher agrees with checking every prefix") {
  std::mt19937_64 rng(20240607);
  std::vector<IpBlock> blocks;
  for (int i = 0; i < 300; ++i) {
    IpBlock b;
    b.address.family = i % 2 == 0 ? Family::ip4 : Family::ip6;
    // Few distinct leading bytes, so blocks nest and neighbour each other often.
    for (std::size_t k = 0; k < iptunnel::address_size(b.address.family); ++k) {
      b.address.bytes[k] = static_cast<std::uint8_t>(k < 2 ? rng() % 4 : rng());
    }
    b.length = static_cast<std::uint8_t>(rng() % (iptunnel::max_length(b.address.family) + 1));
    blocks.push_back(b);
  }
  const PrefixSet set(blocks);
  for (int i = 0; i < 20'000; ++i) {
    IpAddress a;
    a.family = i % 2 == 0 ? Family::ip4 : Family::ip6;
    for (std::size_t k = 0; k < iptunnel::address_size(a.family); ++k) {
      a.bytes[k] = static_cast<std::uint8_t>(k < 2 ? rng() % 4 : rng());
    }
    const bool expected =
        std::any_of(blocks.begin(), blocks.end(), [&a](const IpBlock& b) { return iptunnel::contains(b, a); });
    REQUIRE(set.contains(a) == expected);
  }
}

TEST_CASE("the remote address is the destination going up and the source coming down") {
  IpAddress a;
  REQUIRE(remote_address(view(packet("100.64.0.10", "203.0.113.5")), TrafficDirection::upstream, &a));
  CHECK(a == ip("203.0.113.5"));
  REQUIRE(remote_address(view(packet("203.0.113.5", "100.64.0.10")), TrafficDirection::downstream, &a));
  CHECK(a == ip("203.0.113.5"));
  REQUIRE(remote_address(view(packet("2001:db8:1::10", "2001:db8:99::1")), TrafficDirection::upstream, &a));
  CHECK(a == ip("2001:db8:99::1"));
  REQUIRE(remote_address(view(packet("2001:db8:99::1", "2001:db8:1::10")), TrafficDirection::downstream, &a));
  CHECK(a == ip("2001:db8:99::1"));

  const IpAddress before = a;
  CHECK_FALSE(remote_address(view(packet("10.0.0.1", "10.0.0.2", 19)), TrafficDirection::upstream, &a));
  CHECK_FALSE(remote_address(view(packet("::1", "::2", 39)), TrafficDirection::upstream, &a));
  Bytes other = packet("10.0.0.1", "10.0.0.2");
  other[0] = 0x55;
  CHECK_FALSE(remote_address(view(other), TrafficDirection::upstream, &a));
  CHECK_FALSE(remote_address(ByteSpan{}, TrafficDirection::upstream, &a));
  CHECK(a == before);
}

TEST_CASE("traffic to and from free prefixes, and unsolicited traffic, is counted but not billed") {
  const PrefixSet free = prefixes({"198.51.100.0/24", "2001:db8:f::/48"});
  MeterPlan plan;
  plan.per_gb_micros = kGb;  // 1000 a GB: one micro-unit a byte
  Meter meter(plan, free);

  CHECK(send(meter, up(), packet("100.64.0.10", "198.51.100.7")).traffic == TrafficClass::free_prefix);
  CHECK(send(meter, down(true), packet("198.51.100.7", "100.64.0.10")).traffic == TrafficClass::free_prefix);
  CHECK(send(meter, up(), packet("2001:db8:1::10", "2001:db8:f::53")).traffic == TrafficClass::free_prefix);
  CHECK(send(meter, down(false, 100), packet("203.0.113.9", "100.64.0.10")).traffic == TrafficClass::unsolicited);
  // Unsolicited even from a free prefix: the client did not ask for it.
  CHECK(send(meter, down(false, 60), packet("2001:db8:f::53", "2001:db8:1::10")).traffic ==
        TrafficClass::unsolicited);
  CHECK(meter.usage().billable_bytes == 0);
  CHECK(meter.usage().amount_micros == 0);

  CHECK(send(meter, up(), packet("100.64.0.10", "203.0.113.9")).traffic == TrafficClass::billable);
  CHECK(send(meter, down(true), packet("203.0.113.9", "100.64.0.10")).traffic == TrafficClass::billable);
  // Not IP at all: nothing to match a free prefix against, so billed.
  Bytes garbage(kPacket, 0xff);
  CHECK(send(meter, up(), garbage).traffic == TrafficClass::billable);

  const MeterUsage& u = meter.usage();
  CHECK(u.billable_bytes == 3 * kPacket);
  CHECK(u.free_bytes == 3 * kPacket);
  CHECK(u.unsolicited_packets == 2);
  CHECK(u.unsolicited_bytes == 160);
  CHECK(u.upstream.packets == 4);
  CHECK(u.downstream.packets == 4);
  // The statement adds up: every byte is billable, free or unsolicited.
  CHECK(u.upstream.bytes + u.downstream.bytes == u.billable_bytes + u.free_bytes + u.unsolicited_bytes);
  CHECK(u.amount_micros == 3 * kPacket);
  CHECK(meter.quota().used_bytes() == 3 * kPacket);
}

TEST_CASE("the quota is crossed by exactly the first packet that does not fit") {
  const PrefixSet none;
  const Bytes out = packet("100.64.0.10", "203.0.113.9");
  MeterPlan plan;
  plan.quota_bytes = 3 * kPacket;

  SUBCASE("block: the crossing packet and every later one are dropped and not counted") {
    Meter meter(plan, none);
    for (int i = 0; i < 3; ++i) {
      const MeterDecision d = send(meter, up(), out);
      CHECK(d.quota == QuotaState::under);
      CHECK(d.action == Enforcement::pass);
    }
    CHECK(meter.quota().left_bytes() == 0);  // exactly on the quota, not over it
    CHECK_FALSE(meter.quota().over());
    const MeterDecision crossing = send(meter, up(), out);
    CHECK(crossing.quota == QuotaState::crossed_now);
    CHECK(crossing.action == Enforcement::block);
    const MeterDecision after = send(meter, up(40), out);  // small enough to "fit": still blocked
    CHECK(after.quota == QuotaState::over);
    CHECK(after.action == Enforcement::block);
    CHECK(meter.usage().billable_bytes == plan.quota_bytes);
    CHECK(meter.usage().blocked_packets == 2);
    // Free and unsolicited traffic is not held to the quota.
    const PrefixSet free = prefixes({"203.0.113.0/24"});
    meter.set_plan(plan, free);
    CHECK(send(meter, up(), out).action == Enforcement::pass);
    meter.set_plan(plan, none);
    CHECK(send(meter, down(false), packet("203.0.113.9", "100.64.0.10")).action == Enforcement::pass);
    // The period's reset lifts the block.
    meter.reset_period();
    CHECK(send(meter, up(), out).quota == QuotaState::under);
    CHECK(meter.usage().billable_bytes == kPacket);
  }
  SUBCASE("one byte short: the crossing packet is the one that would pass the quota") {
    plan.quota_bytes = 3 * kPacket + 1;
    Meter meter(plan, none);
    for (int i = 0; i < 3; ++i) CHECK(send(meter, up(), out).quota == QuotaState::under);
    CHECK(send(meter, up(1), out).quota == QuotaState::under);  // the last byte
    CHECK(send(meter, up(1), out).quota == QuotaState::crossed_now);
  }
  SUBCASE("throttle: the crossing packet and later ones go on, throttled, and are billed") {
    plan.over_quota = QuotaAction::throttle;
    plan.throttle_rate_bps = 64'000;
    Meter meter(plan, none);
    for (int i = 0; i < 3; ++i) send(meter, up(), out);
    const MeterDecision crossing = send(meter, down(true), packet("203.0.113.9", "100.64.0.10"));
    CHECK(crossing.quota == QuotaState::crossed_now);
    CHECK(crossing.action == Enforcement::throttle);
    CHECK(send(meter, up(), out).action == Enforcement::throttle);
    CHECK(meter.usage().billable_bytes == 5 * kPacket);
    CHECK(meter.quota().left_bytes() == 0);
  }
  SUBCASE("a larger quota at run time lifts the block; a smaller one makes the next packet cross") {
    Meter meter(plan, none);
    for (int i = 0; i < 4; ++i) send(meter, up(), out);
    CHECK(meter.quota().over());
    plan.quota_bytes = 10 * kPacket;
    meter.set_plan(plan, none);
    CHECK_FALSE(meter.quota().over());
    CHECK(send(meter, up(), out).quota == QuotaState::under);
    plan.quota_bytes = kPacket;
    meter.set_plan(plan, none);
    CHECK(send(meter, up(), out).quota == QuotaState::crossed_now);
  }
  SUBCASE("after a restart the period resumes where the ledger left it") {
    MeterUsage resumed;
    resumed.billable_bytes = 3 * kPacket;
    Meter meter(plan, none, resumed);
    CHECK(send(meter, up(), out).quota == QuotaState::crossed_now);
  }
  SUBCASE("a restart after a block crossing resumes over: the next packet, however small, is blocked") {
    // With "block" the crossing packet was not counted: the ledger's bytes are below the quota.
    MeterUsage resumed;
    resumed.billable_bytes = 3 * kPacket - 100;
    Meter meter(plan, none, resumed, /*resumed_over=*/true);
    CHECK(meter.quota().over());
    CHECK(meter.quota().left_bytes() == 0);
    const MeterDecision d = send(meter, up(40), out);
    CHECK(d.quota == QuotaState::over);  // not crossed_now: the crossing was noted before the restart
    CHECK(d.action == Enforcement::block);
    CHECK(meter.usage().billable_bytes == 3 * kPacket - 100);
    CHECK(meter.usage().blocked_packets == 1);
    // Not crossed before the restart: the same bytes leave room for that packet.
    Meter under(plan, none, resumed);
    CHECK(send(under, up(40), out).action == Enforcement::pass);
    // The period's reset still lifts it.
    meter.reset_period();
    CHECK(send(meter, up(), out).quota == QuotaState::under);
  }
  SUBCASE("resuming over has no effect without a quota") {
    QuotaTracker unlimited;
    unlimited.resume_over();
    CHECK_FALSE(unlimited.over());
    CHECK(unlimited.admit(kPacket) == QuotaState::under);
  }
  SUBCASE("without a quota nothing crosses") {
    QuotaTracker unlimited;
    unlimited.add(UINT64_MAX - 1);
    CHECK(unlimited.admit(UINT32_MAX) == QuotaState::under);
    unlimited.add(UINT32_MAX);  // saturates rather than wrapping to nothing used
    CHECK(unlimited.used_bytes() == UINT64_MAX);
  }
}

TEST_CASE("amounts are exact in micro-units at large totals") {
  // 10^15 bytes (a petabyte, a million GB) at 12.345678 a GB.
  constexpr std::uint64_t kPetabyte = 1'000'000'000'000'000;
  CHECK(amount_micros(kPetabyte, 12'345'678) == 12'345'678'000'000);
  // Prices that are not whole micro-units per byte, and a price above 10^9 micros a GB.
  for (const std::uint64_t price : std::initializer_list<std::uint64_t>{1, 999'999'999, 1'000'000'001, 123'456'789'012}) {
    for (const std::uint64_t bytes : std::initializer_list<std::uint64_t>{kPetabyte, kPetabyte + 1, kPetabyte - 1, 999'999'999, 7}) {
      CHECK(amount_micros(bytes, price) == exact_micros(bytes, price));
    }
  }

  SUBCASE("accumulated a chunk at a time, the total comes out to the micro-unit") {
    constexpr std::uint64_t kPrice = 1'234'567;  // 1.234567 a GB
    PriceAccumulator acc(kPrice);
    std::mt19937_64 rng(7);
    std::uint64_t total = 0;
    while (total < kPetabyte) {
      const std::uint64_t chunk = std::min<std::uint64_t>(rng() % (4 * kGb), kPetabyte - total);
      acc.add(chunk);
      total += chunk;
      REQUIRE(acc.micros() == exact_micros(total, kPrice));
    }
    CHECK(acc.micros() == amount_micros(kPetabyte, kPrice));
  }
  SUBCASE("a million small packets cost what their total does, not a rounded sum") {
    // 1337 bytes at this price are 1.65 micro-units: rounding each packet would bill
    // 1.0 or 2.0 per packet, hundreds of thousands off.
    constexpr std::uint64_t kPrice = 1'234'567;
    constexpr std::uint32_t kOdd = 1337;
    constexpr std::uint64_t kPackets = 1'000'000;
    const PrefixSet none;
    MeterPlan plan;
    plan.per_gb_micros = kPrice;
    Meter meter(plan, none);
    const Bytes out = packet("100.64.0.10", "203.0.113.9", kOdd);
    for (std::uint64_t i = 0; i < kPackets; ++i) send(meter, up(kOdd), out);
    CHECK(meter.usage().amount_micros == exact_micros(kPackets * kOdd, kPrice));
  }
  SUBCASE("after a restart the fraction carries on as if nothing stopped") {
    constexpr std::uint64_t kPrice = 3'333'333;
    PriceAccumulator before(kPrice);
    for (int i = 0; i < 1000; ++i) before.add(777);
    PriceAccumulator after(kPrice);
    after.restore(before.micros(), 1000 * 777);
    for (int i = 0; i < 1000; ++i) {
      before.add(777);
      after.add(777);
    }
    CHECK(after.micros() == before.micros());
    CHECK(after.micros() == exact_micros(2000 * 777, kPrice));
  }
}

TEST_CASE("a reload of the same quota keeps a crossed block; only a larger quota lifts it") {
  mh::billing::QuotaTracker quota(1000, 0);
  CHECK(quota.admit(900) == mh::billing::QuotaState::under);
  quota.add(900);
  CHECK(quota.admit(200) == mh::billing::QuotaState::crossed_now);  // blocked, not counted
  quota.set_quota(1000);  // the same plan again (SIGHUP, setPlan)
  CHECK(quota.admit(50) == mh::billing::QuotaState::over);
  quota.set_quota(5000);  // a larger quota: room again
  CHECK(quota.admit(50) == mh::billing::QuotaState::under);
}

// meter.hpp's rule: crossing means billable + packet > quota; billable == quota is not over.
TEST_CASE("billable bytes exactly on the quota are not over, live or resumed; the next byte crosses") {
  const PrefixSet none;
  const Bytes out = packet("100.64.0.10", "203.0.113.9");
  MeterPlan plan;
  plan.quota_bytes = 2 * kPacket;
  for (const QuotaAction action : {QuotaAction::block, QuotaAction::throttle}) {
    CAPTURE(static_cast<int>(action));
    plan.over_quota = action;
    plan.throttle_rate_bps = 64'000;

    Meter live(plan, none);
    CHECK(send(live, up(), out).quota == QuotaState::under);
    CHECK(send(live, up(), out).quota == QuotaState::under);
    CHECK(live.usage().billable_bytes == plan.quota_bytes);
    CHECK_FALSE(live.quota().over());
    CHECK(live.quota().left_bytes() == 0);

    // A restart whose ledger holds exactly the quota, not crossed, is in the same state.
    Meter resumed(plan, none, live.usage(), /*resumed_over=*/false);
    CHECK_FALSE(resumed.quota().over());
    CHECK(resumed.quota().left_bytes() == 0);

    // Free traffic still passes at the boundary, and does not cross it.
    for (Meter* m : {&live, &resumed}) {
      CHECK(send(*m, down(false), packet("203.0.113.9", "100.64.0.10")).quota == QuotaState::under);
      CHECK_FALSE(m->quota().over());
      const MeterDecision crossing = send(*m, up(1), out);  // one billable byte more
      CHECK(crossing.quota == QuotaState::crossed_now);
      CHECK(crossing.action == (action == QuotaAction::block ? Enforcement::block : Enforcement::throttle));
      CHECK(m->quota().over());
    }
  }
}

TEST_CASE("decide_passed classes a packet that already went on and may cross, but never blocks") {
  const PrefixSet free = prefixes({"203.0.113.0/24"});
  MeterPlan plan;
  plan.quota_bytes = kPacket;
  Meter meter(plan, free);
  const IpAddress paid = ip("198.51.100.1"), gratis = ip("203.0.113.9");
  MeterDecision d = meter.decide_passed(up(), &gratis);
  CHECK(d.traffic == TrafficClass::free_prefix);
  meter.commit(d, up());
  d = meter.decide_passed(down(false), &paid);
  CHECK(d.traffic == TrafficClass::unsolicited);
  meter.commit(d, down(false));
  d = meter.decide_passed(down(false), nullptr);  // unreadable: still unsolicited
  CHECK(d.traffic == TrafficClass::unsolicited);
  d = meter.decide_passed(up(), nullptr);  // unreadable: billed
  CHECK(d.traffic == TrafficClass::billable);
  CHECK(d.quota == QuotaState::under);
  meter.commit(d, up());
  d = meter.decide_passed(up(), &paid);
  CHECK(d.quota == QuotaState::crossed_now);
  CHECK(d.action == Enforcement::pass);
  meter.commit(d, up());
  CHECK(meter.usage().billable_bytes == 2 * kPacket);
  CHECK(meter.usage().blocked_packets == 0);
  CHECK(meter.usage().free_bytes == kPacket);
  CHECK(meter.usage().unsolicited_bytes == kPacket);
  CHECK(meter.quota().over());
}
