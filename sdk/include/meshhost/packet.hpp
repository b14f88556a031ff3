// Packet buffers (DESIGN §5): pooled, with headroom so every layer prepends its header in
// place. A packet is freed by the pool that made it, through packet->release().
#pragma once

#include <meshhost/types.hpp>

namespace mh {

// A link-layer address, opaque above the link driver that wrote it (an IPv4/IPv6 socket
// address and port for udp, a MAC address and interface index for eth).
struct Endpoint {
  static constexpr std::size_t kMaxSize = 32;
  std::uint8_t bytes[kMaxSize] = {};
  std::uint8_t size = 0;
  std::uint8_t kind = 0;  // driver-defined
};

struct Packet;

// Makes and frees packets. Pools are used on the loop thread only.
class PacketPool {
 public:
  // A packet with `headroom()` bytes free before an empty payload; nullptr when the pool
  // is exhausted (the caller drops and counts, it never waits).
  virtual Packet* acquire() noexcept = 0;
  // Returns `packet` to this pool. Only the pool that made a packet may free it.
  virtual void release(Packet* packet) noexcept = 0;
  virtual std::uint32_t headroom() const noexcept = 0;
  virtual std::uint32_t buffer_size() const noexcept = 0;

 protected:
  ~PacketPool() = default;
};

// One packet: `length` bytes of data at `buffer + offset`. Whoever holds the pointer owns
// the packet and must pass it on or release() it exactly once.
struct Packet {
  std::uint8_t* buffer;
  std::uint32_t capacity;
  std::uint32_t offset;
  std::uint32_t length;
  PacketPool* pool;
  Endpoint endpoint;     // link peer: the source on receive, the destination on send
  std::uint64_t tag[2];  // scratch for the current owner; meaningless across owners

  std::uint8_t* data() noexcept { return buffer + offset; }
  const std::uint8_t* data() const noexcept { return buffer + offset; }
  ByteSpan view() const noexcept { return {buffer + offset, length}; }
  std::uint32_t headroom() const noexcept { return offset; }
  std::uint32_t tailroom() const noexcept { return capacity - offset - length; }

  // Grows the data by `n` bytes at the front and returns where the new header goes;
  // nullptr (and no change) when the headroom is too small.
  std::uint8_t* prepend(std::uint32_t n) noexcept {
    if (n > offset) return nullptr;
    offset -= n;
    length += n;
    return buffer + offset;
  }
  // Drops `n` bytes from the front (a parsed header); false if there are fewer.
  bool consume(std::uint32_t n) noexcept {
    if (n > length) return false;
    offset += n;
    length -= n;
    return true;
  }
  // Grows the data by `n` bytes at the end and returns where they go; nullptr if no room.
  std::uint8_t* append(std::uint32_t n) noexcept {
    if (n > tailroom()) return nullptr;
    std::uint8_t* at = buffer + offset + length;
    length += n;
    return at;
  }
  // Drops bytes from the end; false if there are fewer than `n`.
  bool trim(std::uint32_t n) noexcept {
    if (n > length) return false;
    length -= n;
    return true;
  }
  void release() noexcept { pool->release(this); }
};

}  // namespace mh
