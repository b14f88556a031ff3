// Billing's per-packet accounting (DESIGN §7): whether a packet is billed (free prefixes,
// unsolicited traffic), where its client stands against the quota, and what it costs.
#pragma once

#include "ip_block.hpp"

#include <meshhost/traffic.hpp>
#include <meshhost/types.hpp>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mh::billing {

// A plan's freePrefixes, matched per packet without allocating: each block becomes the
// range of addresses it covers, as integers (IPv6 as two 64-bit halves); ranges that nest,
// overlap or adjoin are merged, and the rest kept sorted per family, so one binary search
// finds the only range that can hold an address.
class PrefixSet {
 public:
  PrefixSet() = default;
  // Copies `blocks` (allocates; at configuration time). Host bits are ignored: the block
  // "10.1.2.3/8" is 10.0.0.0/8.
  explicit PrefixSet(std::span<const iptunnel::IpBlock> blocks);

  // True when some block holds `address`. O(log n), no allocation.
  bool contains(const iptunnel::IpAddress& address) const noexcept;

  // How many ranges are kept: fewer than the blocks given when some nest or adjoin.
  std::size_t size() const noexcept { return ip4_.size() + ip6_.size(); }

  // An IPv6 address as a number, for ordering.
  struct U128 {
    std::uint64_t high = 0, low = 0;
    friend auto operator<=>(const U128&, const U128&) = default;
  };
  template <class T>
  struct Range {
    T first, last;  // inclusive
  };

 private:
  std::vector<Range<std::uint32_t>> ip4_;
  std::vector<Range<U128>> ip6_;
};

// The address on the Internet side of an inner IPv4/IPv6 packet: the destination of an
// upstream packet, the source of a downstream one. False, and *out unchanged, when
// `ip_packet` is too short for its IP header or of another version. Reads only the header.
bool remote_address(ByteSpan ip_packet, TrafficDirection direction, iptunnel::IpAddress* out) noexcept;

enum class TrafficClass : std::uint8_t {
  billable = 0,     // counted against the quota and priced
  free_prefix = 1,  // to or from one of the plan's freePrefixes: counted, not billed
  unsolicited = 2,  // downstream outside any flow the client opened: counted apart, not billed
};

// Unsolicited wins over a free prefix: the client did not ask for it either way, and it is
// what an operator looks at when a client reports inbound floods.
TrafficClass classify(const TrafficInfo& info, const iptunnel::IpAddress& remote, const PrefixSet& free) noexcept;

enum class QuotaState : std::uint8_t {
  under = 0,        // the packet fits within the quota
  crossed_now = 1,  // this packet is the first the quota cannot hold: notify, then enforce
  over = 2,         // already crossed this period
};

// Billable bytes in the period against quotaBytes. The quota is a ceiling on what is
// billed: a packet fits when the bytes counted so far plus its own are at most quota_bytes,
// so a packet ending exactly on the quota is still `under`, and the next one crosses. Once
// crossed the state stays `over` until reset() (the period's end) or a larger quota.
//
// The rule everywhere (the live meter, a resume from the ledger, billing.usage, the
// AccountReport): a client is over its quota when a billable packet did not fit, i.e.
// crossing means billable + packet > quota, and nothing else. billable == quota exactly is
// not over: nothing was refused yet, 0 bytes are left, and the next billable packet, however
// small, crosses. So "over" is never judged by comparing totals with the quota: the ledger
// records the crossing (quota_crossed) and a resume takes it from there (resume_over()),
// since with overQuota "block" the crossing packet is not counted and the totals stay at or
// below the quota.
//
// Deciding and counting are separate because billing counts after enforcement (DESIGN §7):
// admit() before the packet is enforced, add() once it passed (a blocked or shaper-dropped
// packet is never counted).
class QuotaTracker {
 public:
  static constexpr std::uint64_t kUnlimited = UINT64_MAX;

  // `used_bytes`: what the ledger holds for the period so far, after a restart.
  explicit QuotaTracker(std::uint64_t quota_bytes = kUnlimited, std::uint64_t used_bytes = 0) noexcept;

  // Where a billable packet of `bytes` stands; crossing the quota moves the state to over.
  QuotaState admit(std::uint32_t bytes) noexcept;
  // Counts bytes that went on.
  void add(std::uint64_t bytes) noexcept;

  // A restart in a period the ledger says was crossed: `over` from the first packet, even
  // though with overQuota "block" the used bytes are still below the quota. No effect on an
  // unlimited quota, which nothing crosses.
  void resume_over() noexcept;

  // A new plan at run time: a larger quota with room left lifts `over`; a smaller one below
  // the usage makes the next packet cross.
  void set_quota(std::uint64_t quota_bytes) noexcept;
  // The period's reset: nothing used, nothing crossed.
  void reset() noexcept;

  std::uint64_t quota_bytes() const noexcept { return quota_bytes_; }
  std::uint64_t used_bytes() const noexcept { return used_bytes_; }
  // Bytes still billable before the quota (0 once crossed or used up).
  std::uint64_t left_bytes() const noexcept;
  bool over() const noexcept { return over_; }

 private:
  std::uint64_t quota_bytes_;
  std::uint64_t used_bytes_;
  bool over_ = false;
};

// billable_bytes × per_gb_micros / 10^9, rounded down, exactly for any totals whose result
// fits in 64 bits (10^15 bytes at a million currency units a GB).
std::uint64_t amount_micros(std::uint64_t billable_bytes, std::uint64_t per_gb_micros) noexcept;

// The running cost of a client's billable bytes, in integer micro-units of the plan's
// currency. Keeps the fraction of a micro-unit each add() leaves, so a billion small
// packets cost exactly what their total does: micros() == amount_micros(total, price).
class PriceAccumulator {
 public:
  // A GB, as DESIGN §7 bills it: 10^9 bytes of inner IP packets. (A class member, not a
  // namespace constant, so this header and billing_config.hpp can be included together.)
  static constexpr std::uint64_t kBytesPerGb = 1'000'000'000;

  explicit PriceAccumulator(std::uint64_t per_gb_micros = 0) noexcept : per_gb_micros_(per_gb_micros) {}

  void add(std::uint64_t billable_bytes) noexcept;
  // Resumes a period after a restart at the ledger's `micros`, with the fraction that
  // `billable_bytes` leave at the current price: exact when the price did not change
  // during the period, otherwise within one micro-unit.
  void restore(std::uint64_t micros, std::uint64_t billable_bytes) noexcept;
  // Bytes from now on cost the new price; what was accumulated stays.
  void set_price(std::uint64_t per_gb_micros) noexcept { per_gb_micros_ = per_gb_micros; }
  void reset() noexcept {
    micros_ = 0;
    remainder_ = 0;
  }

  std::uint64_t micros() const noexcept { return micros_; }
  std::uint64_t per_gb_micros() const noexcept { return per_gb_micros_; }

 private:
  std::uint64_t per_gb_micros_;
  std::uint64_t micros_ = 0;
  std::uint64_t remainder_ = 0;  // micro-units × 10^-9 not yet a whole micro-unit: < 10^9
};

// What a plan does to a client over its quota (the plan's overQuota.action).
enum class QuotaAction : std::uint8_t { block = 0, throttle = 1 };

// What enforcement does with one packet.
enum class Enforcement : std::uint8_t {
  pass = 0,      // on to the plan's shaper, if any
  block = 1,     // over quota with overQuota "block": drop it, do not count it
  throttle = 2,  // over quota with "throttle": on, through a shaper at MeterPlan::throttle_rate_bps
};

// The data-path part of a plan.
struct MeterPlan {
  std::uint64_t quota_bytes = QuotaTracker::kUnlimited;
  QuotaAction over_quota = QuotaAction::block;
  std::uint64_t throttle_rate_bps = 0;
  std::uint64_t per_gb_micros = 0;
};

// The meter's answer for one packet, to be handed back to Meter::commit() if it went on.
struct MeterDecision {
  TrafficClass traffic = TrafficClass::billable;
  QuotaState quota = QuotaState::under;  // `under` for traffic that is not billed
  Enforcement action = Enforcement::pass;
};

// One direction's counts: every packet that went on, billed or not.
struct DirectionUsage {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

// One client's totals for the period (the ledger's per-period row).
struct MeterUsage {
  DirectionUsage upstream;
  DirectionUsage downstream;
  std::uint64_t billable_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t unsolicited_packets = 0;
  std::uint64_t unsolicited_bytes = 0;
  std::uint64_t blocked_packets = 0;  // refused for the quota, counted nowhere else
  std::uint64_t amount_micros = 0;
};

// One client's meter for the current period: classify, quota and price together, as the
// billing hook calls them per packet —
//
//   const MeterDecision d = meter.decide(info, packet->view());
//   if (d.action == Enforcement::block) return drop;  // decide() counted it as blocked
//   verdict = shaper_for(d.action).offer(...);         // the plan's rate, or the throttle
//   if (verdict != drop) meter.commit(d, info);        // counted after enforcement
//
// Pure, no allocation, not thread-safe. The PrefixSet is borrowed: it must outlive the
// meter (plans own theirs and outlive the clients using them).
class Meter {
 public:
  // `resumed` and `resumed_over`: the ledger's totals of the period after a restart, and
  // whether it says the quota was crossed (QuotaTracker::resume_over()).
  Meter(const MeterPlan& plan, const PrefixSet& free_prefixes, const MeterUsage& resumed = {},
        bool resumed_over = false) noexcept;

  // Decides, before enforcement, for the inner IP packet `ip_packet` (borrowed for the
  // call; only its header is read, for remote_address()). One whose address cannot be read
  // matches no free prefix: it is billed unless unsolicited. A blocked packet is counted in
  // blocked_packets here, since it never reaches commit().
  MeterDecision decide(const TrafficInfo& info, ByteSpan ip_packet) noexcept;
  // For a packet that already went on unenforced (the first packets of a client billing had
  // no record of yet, replayed once it has): its class against `remote` (nullptr: not
  // readable, no free prefix applies) and where it stands against the quota, which it may
  // cross; the action is always pass, so commit() counts it.
  MeterDecision decide_passed(const TrafficInfo& info, const iptunnel::IpAddress* remote) noexcept;
  // Counts a packet that went on (passed or queued by the shaper) as `decision` classed it.
  void commit(const MeterDecision& decision, const TrafficInfo& info) noexcept;

  // billing.setPlan at run time: the period's totals stay; quota and price change now.
  void set_plan(const MeterPlan& plan, const PrefixSet& free_prefixes) noexcept;
  // The period's reset: totals to zero, the quota lifted.
  void reset_period() noexcept;

  const MeterUsage& usage() const noexcept { return usage_; }
  const QuotaTracker& quota() const noexcept { return quota_; }
  const MeterPlan& plan() const noexcept { return plan_; }

 private:
  MeterPlan plan_;
  const PrefixSet* free_;  // borrowed, never nullptr
  QuotaTracker quota_;
  PriceAccumulator price_;
  MeterUsage usage_;
};

}  // namespace mh::billing
