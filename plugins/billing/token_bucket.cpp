// Refill and take for billing's token bucket, in exact units of 1/(8·10^9) byte.
#include "token_bucket.hpp"

#include <algorithm>

namespace mh::billing {

namespace {

std::uint64_t clamp_rate(std::uint64_t rate_bps) noexcept { return std::min(rate_bps, TokenBucket::kMaxRateBps); }
std::uint32_t clamp_burst(std::uint32_t burst_bytes) noexcept { return std::min(burst_bytes, TokenBucket::kMaxBytes); }

}  // namespace

TokenBucket::TokenBucket(std::uint64_t rate_bps, std::uint32_t burst_bytes, std::uint64_t now_ns) noexcept
    : rate_bps_(clamp_rate(rate_bps)),
      burst_bytes_(clamp_burst(burst_bytes)),
      capacity_units_(static_cast<std::int64_t>(burst_bytes_) * kUnitsPerByte),
      tokens_units_(capacity_units_),
      last_ns_(now_ns) {}

std::int64_t TokenBucket::tokens_at(std::uint64_t now_ns) const noexcept {
  if (now_ns <= last_ns_ || rate_bps_ == 0) return tokens_units_;
  const std::uint64_t elapsed_ns = now_ns - last_ns_;
  const auto missing = static_cast<std::uint64_t>(capacity_units_ - tokens_units_);
  // elapsed × rate overflows after a fraction of a second at 100 Gbit/s, so compare the
  // time instead: once the gap can be filled the bucket is simply full.
  const std::uint64_t fill_ns = missing / rate_bps_ + (missing % rate_bps_ != 0 ? 1 : 0);
  if (elapsed_ns >= fill_ns) return capacity_units_;
  // elapsed_ns < fill_ns, so elapsed × rate < missing: no overflow, and below the cap.
  return tokens_units_ + static_cast<std::int64_t>(elapsed_ns * rate_bps_);
}

void TokenBucket::refill(std::uint64_t now_ns) noexcept {
  if (now_ns <= last_ns_) return;  // a clock that stepped back neither refills nor rewinds
  tokens_units_ = tokens_at(now_ns);
  last_ns_ = now_ns;
}

std::int64_t TokenBucket::needed(std::uint32_t bytes) const noexcept {
  return bytes <= burst_bytes_ ? static_cast<std::int64_t>(bytes) * kUnitsPerByte : capacity_units_;
}

bool TokenBucket::take(std::uint32_t bytes, std::uint64_t now_ns) noexcept {
  if (bytes > kMaxBytes) return false;
  refill(now_ns);
  if (tokens_units_ < needed(bytes)) return false;
  tokens_units_ -= static_cast<std::int64_t>(bytes) * kUnitsPerByte;
  return true;
}

std::uint64_t TokenBucket::ready_at(std::uint32_t bytes, std::uint64_t now_ns) const noexcept {
  if (bytes > kMaxBytes) return kNever;
  const std::uint64_t from_ns = std::max(now_ns, last_ns_);
  const std::int64_t have = tokens_at(from_ns);
  const std::int64_t need = needed(bytes);
  if (have >= need) return now_ns;
  if (rate_bps_ == 0) return kNever;
  const auto deficit = static_cast<std::uint64_t>(need - have);
  // Rounded up: at the returned nanosecond the tokens are there, never one short.
  const std::uint64_t wait_ns = deficit / rate_bps_ + (deficit % rate_bps_ != 0 ? 1 : 0);
  return wait_ns >= kNever - from_ns ? kNever : from_ns + wait_ns;
}

void TokenBucket::set_rate(std::uint64_t rate_bps, std::uint64_t now_ns) noexcept {
  refill(now_ns);
  rate_bps_ = clamp_rate(rate_bps);
}

void TokenBucket::set_burst(std::uint32_t burst_bytes, std::uint64_t now_ns) noexcept {
  refill(now_ns);
  burst_bytes_ = clamp_burst(burst_bytes);
  capacity_units_ = static_cast<std::int64_t>(burst_bytes_) * kUnitsPerByte;
  tokens_units_ = std::min(tokens_units_, capacity_units_);
}

std::uint64_t TokenBucket::available_bytes(std::uint64_t now_ns) const noexcept {
  const std::int64_t tokens = tokens_at(now_ns);
  return tokens <= 0 ? 0 : static_cast<std::uint64_t>(tokens / kUnitsPerByte);
}

}  // namespace mh::billing
