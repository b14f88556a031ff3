// FixedPacketPool: one slab, a stack of free indices, and a flag per packet so a bad
// release is caught instead of corrupting the free list.
#include <meshhost/packet_pool.hpp>

#include <cassert>
#include <cstdint>
#include <stdexcept>

namespace mh {

FixedPacketPool::FixedPacketPool(std::uint32_t packet_count, std::uint32_t buffer_size_bytes,
                                 std::uint32_t headroom_bytes)
    : packet_count_(packet_count),
      buffer_size_bytes_(buffer_size_bytes),
      headroom_bytes_(headroom_bytes),
      free_count_(packet_count) {
  if (packet_count == 0) throw std::invalid_argument("FixedPacketPool: packet_count must be at least 1");
  if (headroom_bytes > buffer_size_bytes) {
    throw std::invalid_argument("FixedPacketPool: headroom larger than the buffer");
  }
  const std::size_t slab_bytes = std::size_t{packet_count} * buffer_size_bytes;
  // Allocates value-initialised (zeroed) arrays: no packet ever exposes stale heap bytes.
  slab_ = std::make_unique<std::uint8_t[]>(slab_bytes);
  packets_ = std::make_unique<Packet[]>(packet_count);
  free_list_ = std::make_unique<std::uint32_t[]>(packet_count);
  out_ = std::make_unique<bool[]>(packet_count);
  for (std::uint32_t i = 0; i < packet_count; ++i) {
    Packet& p = packets_[i];
    p.buffer = slab_.get() + std::size_t{i} * buffer_size_bytes;
    p.capacity = buffer_size_bytes;
    p.offset = headroom_bytes;
    p.length = 0;
    p.pool = this;
    // Hand out low indices first (a stack popped from the top), which keeps a lightly
    // used pool's working set small.
    free_list_[i] = packet_count - 1 - i;
  }
}

FixedPacketPool::~FixedPacketPool() = default;

Packet* FixedPacketPool::acquire() noexcept {
  if (free_count_ == 0) {
    ++exhausted_count_;
    return nullptr;
  }
  const std::uint32_t index = free_list_[--free_count_];
  out_[index] = true;
  const std::uint32_t now_in_use = packet_count_ - free_count_;
  if (now_in_use > high_water_) high_water_ = now_in_use;

  Packet& p = packets_[index];
  p.capacity = buffer_size_bytes_;
  p.offset = headroom_bytes_;
  p.length = 0;
  p.pool = this;
  p.endpoint = Endpoint{};
  p.tag[0] = 0;
  p.tag[1] = 0;
  return &p;
}

bool FixedPacketPool::owns(const Packet* packet) const noexcept {
  // Integer arithmetic: comparing pointers into different arrays with < is unspecified.
  const auto first = reinterpret_cast<std::uintptr_t>(packets_.get());
  const auto at = reinterpret_cast<std::uintptr_t>(packet);
  if (at < first) return false;
  const std::uintptr_t distance = at - first;
  return distance % sizeof(Packet) == 0 && distance / sizeof(Packet) < packet_count_;
}

void FixedPacketPool::release(Packet* packet) noexcept {
  if (packet == nullptr) return;
  const bool ours = owns(packet);
  const auto index = ours ? static_cast<std::uint32_t>(packet - packets_.get()) : 0;
  assert(ours && "FixedPacketPool::release: packet belongs to another pool");
  assert((!ours || out_[index]) && "FixedPacketPool::release: packet released twice");
  if (!ours || !out_[index]) {
    ++misuse_count_;
    return;
  }
  out_[index] = false;
  free_list_[free_count_++] = index;
}

}  // namespace mh
