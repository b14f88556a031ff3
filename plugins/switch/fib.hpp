// The switch's forwarding table (FIB): destination address → next-hop neighbour id, as the
// router installs it. Fixed capacity, open addressing with linear probing, indexed by the
// destination's own bytes: addresses are SHA-512 output, so they need no further hashing.
// set, remove and lookup never allocate; the slots are allocated once, at construction.
#pragma once

#include <meshhost/mesh.hpp>

#include <cstdint>
#include <memory>

namespace mh::sw {

class Fib {
 public:
  static constexpr std::uint32_t kDefaultCapacity = 4096;
  static constexpr std::uint32_t kMaxCapacity = 1u << 20;

  // Room for `capacity` routes (1..kMaxCapacity); the table has at least twice as many
  // slots, so a probe stays short. Throws std::bad_alloc.
  explicit Fib(std::uint32_t capacity = kDefaultCapacity);

  // Adds or replaces the route to `destination`. `next_hop` must not be kNoNeighbour.
  // False (nothing changed) when the table holds `capacity` routes already.
  bool set(const Address& destination, NeighbourId next_hop) noexcept;
  // Removes the route to `destination`; false when there was none.
  bool remove(const Address& destination) noexcept;
  // The next hop towards `destination`, kNoNeighbour without a route.
  NeighbourId lookup(const Address& destination) const noexcept;

  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t capacity() const noexcept { return capacity_; }

  // Calls fn(destination, next_hop) for every route, in table order.
  template <class F>
  void for_each(F&& fn) const {
    for (std::uint32_t i = 0; i <= mask_; ++i)
      if (slots_[i].next_hop != kNoNeighbour) fn(slots_[i].destination, slots_[i].next_hop);
  }
  // Removes every route whose next hop is `next_hop` (a neighbour that went down).
  std::uint32_t remove_next_hop(NeighbourId next_hop) noexcept;

 private:
  struct Slot {
    Address destination;
    NeighbourId next_hop = kNoNeighbour;  // kNoNeighbour: empty
  };
  std::uint32_t home(const Address& destination) const noexcept;
  // Empties slot i and moves later entries of its probe run back (no tombstones).
  void erase_at(std::uint32_t i) noexcept;

  std::uint32_t capacity_;
  std::uint32_t mask_;
  std::uint32_t size_ = 0;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace mh::sw
