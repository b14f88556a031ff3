// The token bucket behind billing's rate limits (DESIGN §7): a rate in bits/s and a burst
// in bytes, exact integer arithmetic so hours of traffic come out at the configured rate.
#pragma once

#include <cstdint>

namespace mh::billing {

// Tokens are counted in units of 1/(8·10^9) byte: at `rate_bps` bits per second the bucket
// gains exactly `rate_bps` units per nanosecond, so refilling never rounds and no fraction
// of a byte is ever lost between calls — the long-run rate is the configured one exactly.
//
// A packet larger than the burst passes only from a full bucket and leaves it in debt
// (fewer than zero tokens), which the refill repays before anything else passes: so a burst
// smaller than the MTU (even 0) still shapes to the rate instead of blocking for ever.
//
// Pure: time is passed in, in nanoseconds on any monotonic clock. Time going backwards is
// ignored (the bucket keeps its latest time and refills from there). Not thread-safe.
class TokenBucket {
 public:
  // ready_at()'s answer when the bytes can never pass: a rate of 0, or more than kMaxBytes.
  static constexpr std::uint64_t kNever = UINT64_MAX;
  // 1 Tbit/s: ten times the fastest link a gateway has; larger rates are clamped to it.
  static constexpr std::uint64_t kMaxRateBps = 1'000'000'000'000;
  // 512 MiB, the largest burst and the largest single take(): with kUnitsPerByte this keeps
  // the fullest bucket and the deepest debt within a signed 64-bit count (2 × 4.3·10^18).
  static constexpr std::uint32_t kMaxBytes = 1u << 29;
  static constexpr std::int64_t kUnitsPerByte = 8 * 1'000'000'000LL;  // bits × ns per s

  // A full bucket at `now_ns`. `rate_bps` above kMaxRateBps and `burst_bytes` above
  // kMaxBytes are clamped. A rate of 0 lets the burst through and then nothing.
  TokenBucket(std::uint64_t rate_bps, std::uint32_t burst_bytes, std::uint64_t now_ns) noexcept;

  // Takes `bytes` and returns true when they may pass at `now_ns`; otherwise changes
  // nothing but the refill and returns false. take(0, …) is always true.
  bool take(std::uint32_t bytes, std::uint64_t now_ns) noexcept;

  // The earliest time, not before `now_ns`, at which take(bytes, that time) succeeds if
  // nothing else is taken meanwhile: `now_ns` itself when it would succeed now; kNever when
  // it never can. Changes nothing.
  std::uint64_t ready_at(std::uint32_t bytes, std::uint64_t now_ns) const noexcept;

  // Changes the rate from `now_ns` on: what accrued until then accrued at the old rate, and
  // the tokens (or debt) held carry over. A plan change or a quota throttle at run time.
  void set_rate(std::uint64_t rate_bps, std::uint64_t now_ns) noexcept;
  // Changes the burst from `now_ns` on; tokens above the new burst are dropped.
  void set_burst(std::uint32_t burst_bytes, std::uint64_t now_ns) noexcept;

  std::uint64_t rate_bps() const noexcept { return rate_bps_; }
  std::uint32_t burst_bytes() const noexcept { return burst_bytes_; }
  // Whole bytes that could pass at `now_ns` (0 while in debt). For metrics and tests.
  std::uint64_t available_bytes(std::uint64_t now_ns) const noexcept;

 private:
  // The tokens the bucket holds at `now_ns` (not before last_ns_), capped at the burst.
  std::int64_t tokens_at(std::uint64_t now_ns) const noexcept;
  void refill(std::uint64_t now_ns) noexcept;
  // The units a take of `bytes` needs in hand: all of them, or a full bucket when they
  // exceed the burst.
  std::int64_t needed(std::uint32_t bytes) const noexcept;

  std::uint64_t rate_bps_;
  std::uint32_t burst_bytes_;
  std::int64_t capacity_units_;  // burst_bytes_ × kUnitsPerByte
  std::int64_t tokens_units_;    // may be negative: debt left by a packet larger than the burst
  std::uint64_t last_ns_;        // the latest time seen; refills start here
};

}  // namespace mh::billing
