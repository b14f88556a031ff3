// Radio figures to a link cost, with smoothing and hysteresis: see radio_cost.hpp.
#include "radio_cost.hpp"

#include <algorithm>

namespace mh::meshpoint {

namespace {

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) noexcept { return (a + b - 1) / b; }

}  // namespace

std::uint32_t radio_cost(const RadioFigures& f) noexcept {
  std::uint64_t cost = 0;
  if ((f.present & kRadioExpectedThroughput) != 0 && f.expected_throughput_kbps > 0) {
    cost = ceil_div(kThroughputCostKbps, f.expected_throughput_kbps);
  } else if ((f.present & kRadioTxBitrate) != 0 && f.tx_bitrate_kbps > 0) {
    const std::uint64_t throughput =
        std::max<std::uint64_t>(1, std::uint64_t{f.tx_bitrate_kbps} * kBitrateThroughputNumerator / kBitrateThroughputDenominator);
    cost = ceil_div(kThroughputCostKbps, throughput);
  } else if ((f.present & kRadioAirtimeMetric) != 0 && f.airtime_metric > 0) {
    // kThroughputCostKbps / 1000 is K in Mbit/s × cost.
    cost = ceil_div(std::uint64_t{f.airtime_metric} * (kThroughputCostKbps / 1000), kAirtimeTestFrameBits);
  } else {
    return 0;
  }
  if ((f.present & kRadioSignal) != 0 && f.signal_dbm < kWeakSignalDbm) {
    const std::uint64_t deficit_db = static_cast<std::uint64_t>(kWeakSignalDbm - std::max(f.signal_dbm, -200));
    cost = ceil_div(cost * (kWeakSignalDbPerCostMultiple + deficit_db), kWeakSignalDbPerCostMultiple);
  }
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(cost, 1, kMaxRadioCost));
}

void RadioCost::Smoothed::add(std::int64_t sample) noexcept {
  const std::int64_t scaled = sample * (std::int64_t{1} << kFraction);
  if (!known) {
    value = scaled;
    known = true;
    return;
  }
  value += (scaled - value) / (std::int64_t{1} << kSmoothingShift);
}

std::int64_t RadioCost::Smoothed::get() const noexcept {
  // Rounded to the nearest unit, halves away from zero.
  const std::int64_t half = std::int64_t{1} << (kFraction - 1);
  return value >= 0 ? (value + half) >> kFraction : -((-value + half) >> kFraction);
}

RadioFigures RadioCost::smoothed() const noexcept {
  RadioFigures f;
  f.present = present_;
  f.signal_dbm = static_cast<std::int32_t>(signal_.get());
  f.tx_bitrate_kbps = static_cast<std::uint32_t>(bitrate_.get());
  f.expected_throughput_kbps = static_cast<std::uint32_t>(throughput_.get());
  f.airtime_metric = static_cast<std::uint32_t>(airtime_.get());
  f.inactive_ms = inactive_ms_;
  return f;
}

bool RadioCost::on_sample(const RadioFigures& f) noexcept {
  // A figure missing from one dump keeps its average for when it comes back; the cost
  // uses the figures this dump had.
  present_ = f.present;
  if ((f.present & kRadioSignal) != 0) signal_.add(f.signal_dbm);
  if ((f.present & kRadioTxBitrate) != 0) bitrate_.add(f.tx_bitrate_kbps);
  if ((f.present & kRadioExpectedThroughput) != 0) throughput_.add(f.expected_throughput_kbps);
  if ((f.present & kRadioAirtimeMetric) != 0) airtime_.add(f.airtime_metric);
  inactive_ms_ = f.inactive_ms;

  const std::uint32_t candidate = radio_cost(smoothed());
  if (!published_) {
    published_ = true;
    cost_ = candidate;
    outside_ = 0;
    return true;
  }
  const std::uint32_t band = std::max<std::uint32_t>(1, cost_ / kBandDivisor);
  const std::uint32_t distance = candidate > cost_ ? candidate - cost_ : cost_ - candidate;
  if (distance <= band) {
    outside_ = 0;
    return false;
  }
  if (++outside_ < kHoldSamples) return false;
  outside_ = 0;
  cost_ = candidate;
  return true;
}

}  // namespace mh::meshpoint
