// What a radio link to one station costs the router, from the figures the kernel reports
// for it (docs/protocol.md, "meshpoint"): the cost the switch adds to its RTT/loss cost of
// the path, so a slow or weak radio link loses routes to a better one even when its round
// trips are shorter. Pure: figures in, a cost out, no clock, no socket.
#pragma once

#include <meshhost/link_metrics.hpp>

#include <cstdint>

namespace mh::meshpoint {

// cost = ceil(K / expected throughput in Mbit/s), K = 600: 60 Mbit/s (a good 802.11n
// link) costs 10, as much as 10 ms of RTT; 6 Mbit/s (802.11a/g's lowest rate) costs 100;
// 1 Mbit/s costs 600.
inline constexpr std::uint64_t kThroughputCostKbps = 600'000;  // K in kbit/s × cost
// Without an expected throughput, the tx bitrate stands in for it at two thirds of its
// value (what minstrel's estimates come to for a PHY rate, framing and ACKs included).
inline constexpr std::uint64_t kBitrateThroughputNumerator = 2;
inline constexpr std::uint64_t kBitrateThroughputDenominator = 3;
// Without either, the 802.11s airtime metric: mac80211 reports it as about
// 8192 / (rate in Mbit/s) (+1), the air time of an 8192-bit test frame, retries included,
// so cost = ceil(metric × K / 8192) keeps the same scale.
inline constexpr std::uint64_t kAirtimeTestFrameBits = 8192;
// Below this signal the link is fragile (rate control lags, frames are lost in bursts):
// the cost is multiplied by 1 + (kWeakSignalDbm − signal) / 10, twice at −90 dBm.
inline constexpr std::int32_t kWeakSignalDbm = -80;
inline constexpr std::int32_t kWeakSignalDbPerCostMultiple = 10;
// The most a radio adds: far above any real link, far below the switch's infinite cost.
inline constexpr std::uint32_t kMaxRadioCost = 60'000;

// The cost of `figures` as they are (no smoothing); 0 when they have no rate figure
// (throughput, bitrate or airtime), which adds nothing to the switch's cost.
std::uint32_t radio_cost(const RadioFigures& figures) noexcept;

// One station's figures smoothed and its published cost, with hysteresis: each figure is
// an EWMA (gain 1/4), and the published cost moves only when the cost of the smoothed
// figures has stayed outside ±1/5 of it (at least 1) for kHoldSamples samples in a row.
// A signal that wavers a few dB does not move routes; a real drop does within a few
// samples.
class RadioCost {
 public:
  static constexpr std::uint32_t kSmoothingShift = 2;  // gain 1/4
  static constexpr std::uint32_t kBandDivisor = 5;     // ±20 %
  static constexpr std::uint32_t kHoldSamples = 3;

  // One station dump's figures; returns true when the published cost changed (the first
  // sample always publishes).
  bool on_sample(const RadioFigures& figures) noexcept;

  bool published() const noexcept { return published_; }
  std::uint32_t cost() const noexcept { return cost_; }
  // The smoothed figures (the fields of the last sample, in `present`).
  RadioFigures smoothed() const noexcept;

 private:
  // Fixed point, kFraction bits below the unit, so the EWMA keeps its small steps.
  static constexpr int kFraction = 8;
  struct Smoothed {
    bool known = false;
    std::int64_t value = 0;  // × 2^kFraction
    void add(std::int64_t sample) noexcept;
    std::int64_t get() const noexcept;
  };

  std::uint32_t present_ = 0;
  Smoothed signal_, bitrate_, throughput_, airtime_;
  std::uint32_t inactive_ms_ = 0;
  bool published_ = false;
  std::uint32_t cost_ = 0;
  std::uint32_t outside_ = 0;  // samples in a row whose cost was outside the band
};

}  // namespace mh::meshpoint
