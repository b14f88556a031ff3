// The shaper's FIFO ring and its admission rule, over billing's token bucket.
#include "shaper.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace mh::billing {

namespace {

constexpr std::uint64_t kBitsPerByte = 8;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

}  // namespace

std::uint64_t queue_bytes_bound(const ShaperConfig& config, std::uint64_t rate_bps) noexcept {
  // rate × delay overflows at Tbit/s rates with long delays; saturating is exact enough,
  // since any such product is far above every sensible max_queue_bytes.
  const std::uint64_t bit_ns = config.queue_delay_ns != 0 && rate_bps > UINT64_MAX / config.queue_delay_ns
                                   ? UINT64_MAX
                                   : rate_bps * config.queue_delay_ns;
  const std::uint64_t delay_bytes = bit_ns / (kBitsPerByte * kNsPerSecond);
  return std::min(std::max(delay_bytes, config.min_queue_bytes), config.max_queue_bytes);
}

Shaper::Shaper(const ShaperConfig& config, std::uint64_t now_ns)
    : config_(config), bucket_(config.rate_bps, config.burst_bytes, now_ns) {
  if (config.queue_packets == 0) throw std::invalid_argument("billing: a shaper needs a queue of at least one packet");
  ring_ = std::make_unique<Slot[]>(config.queue_packets);
  capacity_ = config.queue_packets;
  bound_bytes_ = queue_bytes_bound(config_, bucket_.rate_bps());
}

Shaper::~Shaper() { assert(count_ == 0 && "billing: a shaper destroyed while holding packets leaks them"); }

Shaper::Shaper(Shaper&& other) noexcept
    : config_(other.config_),
      bucket_(other.bucket_),
      ring_(std::move(other.ring_)),
      capacity_(std::exchange(other.capacity_, 0)),
      head_(std::exchange(other.head_, 0)),
      count_(std::exchange(other.count_, 0)),
      queued_bytes_(std::exchange(other.queued_bytes_, 0)),
      bound_bytes_(other.bound_bytes_),
      counters_(other.counters_) {}

Shaper& Shaper::operator=(Shaper&& other) noexcept {
  if (this == &other) return *this;
  assert(count_ == 0 && "billing: a shaper overwritten while holding packets leaks them");
  config_ = other.config_;
  bucket_ = other.bucket_;
  ring_ = std::move(other.ring_);
  capacity_ = std::exchange(other.capacity_, 0);
  head_ = std::exchange(other.head_, 0);
  count_ = std::exchange(other.count_, 0);
  queued_bytes_ = std::exchange(other.queued_bytes_, 0);
  bound_bytes_ = other.bound_bytes_;
  counters_ = other.counters_;
  return *this;
}

ShaperVerdict Shaper::offer(Packet* packet, std::uint32_t bytes, std::uint64_t now_ns) noexcept {
  if (count_ == 0 && bucket_.take(bytes, now_ns)) {
    counters_.passed_packets++;
    return ShaperVerdict::pass;
  }
  // Bounded in packets (the shared pools) and in bytes (the delay a client's flows see).
  if (count_ == capacity_ || queued_bytes_ + bytes > bound_bytes_) {
    counters_.dropped_packets++;
    counters_.dropped_bytes += bytes;
    return ShaperVerdict::drop;
  }
  std::size_t tail = head_ + count_;
  if (tail >= capacity_) tail -= capacity_;
  ring_[tail] = Slot{packet, bytes};
  count_++;
  queued_bytes_ += bytes;
  counters_.queued_packets++;
  return ShaperVerdict::queued;
}

Packet* Shaper::pop() noexcept {
  Slot& slot = ring_[head_];
  Packet* packet = slot.packet;
  queued_bytes_ -= slot.bytes;
  slot = Slot{nullptr, 0};  // so a stale pointer is never mistaken for a held packet
  if (++head_ == capacity_) head_ = 0;
  count_--;
  return packet;
}

std::size_t Shaper::drain(std::uint64_t now_ns, Packet** out, std::size_t max) noexcept {
  std::size_t n = 0;
  while (n < max && count_ > 0 && bucket_.take(ring_[head_].bytes, now_ns)) out[n++] = pop();
  counters_.drained_packets += n;
  return n;
}

std::uint64_t Shaper::next_wakeup(std::uint64_t now_ns) const noexcept {
  if (count_ == 0) return TokenBucket::kNever;
  return bucket_.ready_at(ring_[head_].bytes, now_ns);
}

void Shaper::set_rate(std::uint64_t rate_bps, std::uint64_t now_ns) noexcept {
  bucket_.set_rate(rate_bps, now_ns);
  bound_bytes_ = queue_bytes_bound(config_, bucket_.rate_bps());
}

}  // namespace mh::billing
