// Smoothed RTT and loss into a link cost with hysteresis.
#include "link_quality.hpp"

#include <algorithm>

namespace mh::sw {

std::uint32_t compute_cost(std::uint32_t srtt_ms, std::uint32_t loss_permille) noexcept {
  const std::uint64_t loss = std::min(loss_permille, kMaxLossPermille);
  const std::uint64_t cost = (std::uint64_t{kCostBase} + srtt_ms) * 1000 / (1000 - loss);
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(cost, kInfiniteCost - 1));
}

std::uint32_t add_metric_cost(std::uint32_t rtt_cost, std::uint32_t metric_cost) noexcept {
  if (rtt_cost == kInfiniteCost || metric_cost == kInfiniteCost) return kInfiniteCost;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(std::uint64_t{rtt_cost} + metric_cost, kInfiniteCost - 1));
}

std::uint32_t LinkQuality::rtt_cost() const noexcept {
  const auto srtt_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(srtt_ns_ / 1'000'000, 0xffffff));
  return compute_cost(srtt_ms, loss_permille());
}

void LinkQuality::on_rtt_sample(std::uint64_t rtt_ns) noexcept {
  if (!has_rtt_) {
    srtt_ns_ = rtt_ns;
    has_rtt_ = true;
    return;
  }
  // srtt += (sample − srtt) / 8, in signed arithmetic.
  const auto delta = static_cast<std::int64_t>(rtt_ns) - static_cast<std::int64_t>(srtt_ns_);
  srtt_ns_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(srtt_ns_) + delta / (1 << kSmoothingShift));
}

void LinkQuality::on_probe(bool answered) noexcept {
  const std::int64_t sample = answered ? 0 : 1'000'000;
  const std::int64_t delta = sample - static_cast<std::int64_t>(loss_ppm_);
  loss_ppm_ = static_cast<std::uint32_t>(static_cast<std::int64_t>(loss_ppm_) + delta / (1 << kSmoothingShift));
}

bool LinkQuality::update_cost(bool exact) noexcept {
  const std::uint32_t computed = add_metric_cost(rtt_cost(), metric_cost_);
  // From or to infinite (unreachable, or a metric that rules the path out) is no wobble.
  if (exact || cost_ == kInfiniteCost || computed == kInfiniteCost) {
    const bool changed = computed != cost_;
    cost_ = computed;
    return changed;
  }
  const std::uint32_t margin = std::max<std::uint32_t>(cost_ / kCostHysteresisDivisor, 1);
  const std::uint32_t diff = computed > cost_ ? computed - cost_ : cost_ - computed;
  if (diff <= margin) return false;
  cost_ = computed;
  return true;
}

}  // namespace mh::sw
