// A PacketPool over one preallocated slab (DESIGN §5): the data path acquires and releases
// buffers in O(1) and never allocates once the pool exists.
#pragma once

#include <meshhost/packet.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mh {

class FixedPacketPool final : public PacketPool {
 public:
  static constexpr std::uint32_t kDefaultBufferSize = 2048;
  static constexpr std::uint32_t kDefaultHeadroom = 256;

  // Allocates `packet_count` packets of `buffer_size_bytes` each, `headroom_bytes` of which
  // are kept free in front of every fresh packet. Throws std::invalid_argument when
  // packet_count is 0 or headroom_bytes > buffer_size_bytes, std::bad_alloc when memory
  // runs out. The only allocation the pool ever makes.
  explicit FixedPacketPool(std::uint32_t packet_count, std::uint32_t buffer_size_bytes = kDefaultBufferSize,
                           std::uint32_t headroom_bytes = kDefaultHeadroom);
  // Frees the slab. Every packet must have come back first: one still held dangles.
  ~FixedPacketPool();

  FixedPacketPool(const FixedPacketPool&) = delete;
  FixedPacketPool& operator=(const FixedPacketPool&) = delete;

  // O(1), no allocation. A packet with offset = headroom(), length 0, capacity =
  // buffer_size(), a zeroed endpoint and tag; its bytes are left as the last owner wrote
  // them. nullptr when every packet is out (counted in exhausted_count()).
  Packet* acquire() noexcept override;

  // O(1). `packet` must be one this pool made and currently out. Releasing a foreign or
  // already-released packet is a bug: debug builds assert; release builds refuse it
  // (the free list stays sound) and count it in misuse_count(). nullptr is ignored.
  void release(Packet* packet) noexcept override;

  std::uint32_t headroom() const noexcept override { return headroom_bytes_; }
  std::uint32_t buffer_size() const noexcept override { return buffer_size_bytes_; }

  // Whether `packet` is one of this pool's packets (in use or not).
  bool owns(const Packet* packet) const noexcept;

  std::uint32_t packet_count() const noexcept { return packet_count_; }
  std::uint32_t in_use() const noexcept { return packet_count_ - free_count_; }
  std::uint32_t available() const noexcept { return free_count_; }
  // The most packets ever out at once.
  std::uint32_t high_water() const noexcept { return high_water_; }
  // How many acquire() calls found the pool empty.
  std::uint64_t exhausted_count() const noexcept { return exhausted_count_; }
  // How many release() calls were refused (foreign or double release).
  std::uint64_t misuse_count() const noexcept { return misuse_count_; }

 private:
  std::uint32_t packet_count_;
  std::uint32_t buffer_size_bytes_;
  std::uint32_t headroom_bytes_;
  std::unique_ptr<std::uint8_t[]> slab_;        // packet_count_ × buffer_size_bytes_
  std::unique_ptr<Packet[]> packets_;           // packets_[i].buffer points into slab_
  std::unique_ptr<std::uint32_t[]> free_list_;  // indices of free packets; a stack
  std::unique_ptr<bool[]> out_;                 // out_[i]: packets_[i] is held by someone
  std::uint32_t free_count_;
  std::uint32_t high_water_ = 0;
  std::uint64_t exhausted_count_ = 0;
  std::uint64_t misuse_count_ = 0;
};

}  // namespace mh
