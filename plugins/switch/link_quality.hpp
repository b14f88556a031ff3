// RTT and loss of one path, smoothed, plus what a link metric source adds (link_metrics.hpp
// in the SDK), and the link cost the router reads — with hysteresis, so the cost does not
// flap with every sample.
#pragma once

#include <cstdint>

namespace mh::sw {

// cost = (kCostBase + srtt_ms) × 1000 / (1000 − min(loss‰, 900)), lower is better:
// 10 for a lossless zero-latency link, +1 per millisecond of smoothed RTT, doubled at 50 %
// loss, ×10 at 90 % or more. The published cost moves only when the computed one differs
// from it by more than a fifth (at least 1). A link metric's cost is added before the
// hysteresis (saturating below kInfiniteCost); an infinite metric makes the path's cost
// infinite. An unresponsive path has kInfiniteCost.
inline constexpr std::uint32_t kCostBase = 10;
inline constexpr std::uint32_t kMaxLossPermille = 900;
inline constexpr std::uint32_t kInfiniteCost = 0xffffffff;
inline constexpr std::uint32_t kCostHysteresisDivisor = 5;  // a fifth
// Smoothing: srtt as RFC 6298 (gain 1/8); loss as an average over probes with gain 1/8.
inline constexpr std::uint32_t kSmoothingShift = 3;

std::uint32_t compute_cost(std::uint32_t srtt_ms, std::uint32_t loss_permille) noexcept;
// rtt_cost + metric_cost, saturating at kInfiniteCost − 1; kInfiniteCost when either is.
std::uint32_t add_metric_cost(std::uint32_t rtt_cost, std::uint32_t metric_cost) noexcept;

class LinkQuality {
 public:
  void on_rtt_sample(std::uint64_t rtt_ns) noexcept;
  // One echo request answered (true) or not answered before the next one (false).
  void on_probe(bool answered) noexcept;
  // What a link metric source adds from now on (0: nothing). Takes effect at update_cost().
  void set_metric_cost(std::uint32_t cost) noexcept { metric_cost_ = cost; }
  // Recomputes; returns true when the published cost changed. `exact` skips the hysteresis
  // (a metric source forgot the path: the RTT-only cost comes back as it is).
  bool update_cost(bool exact = false) noexcept;
  // A new session on the path measures afresh; a link metric stays until its source forgets it.
  void reset() noexcept {
    const std::uint32_t metric = metric_cost_;
    *this = LinkQuality{};
    metric_cost_ = metric;
  }
  // The path stopped answering: the cost is infinite until update_cost() after a new sample.
  void mark_unreachable() noexcept { cost_ = kInfiniteCost; }

  bool has_rtt() const noexcept { return has_rtt_; }
  std::uint64_t srtt_ns() const noexcept { return srtt_ns_; }
  std::uint32_t loss_permille() const noexcept { return static_cast<std::uint32_t>(loss_ppm_ / 1000); }
  std::uint32_t cost() const noexcept { return cost_; }
  // The parts of the cost as they are now, before hysteresis: what RTT and loss say, and
  // what the metric adds.
  std::uint32_t rtt_cost() const noexcept;
  std::uint32_t metric_cost() const noexcept { return metric_cost_; }

 private:
  std::uint64_t srtt_ns_ = 0;
  bool has_rtt_ = false;
  std::uint32_t loss_ppm_ = 0;  // parts per million
  std::uint32_t metric_cost_ = 0;
  std::uint32_t cost_ = kInfiniteCost;
};

}  // namespace mh::sw
