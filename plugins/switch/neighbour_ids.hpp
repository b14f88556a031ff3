// The ids the switch gives its established neighbours (mh::NeighbourId): a slot index and a
// generation, so an id handed to the router before a neighbour went down never reaches a
// neighbour that later took the same slot. Fixed capacity, array lookup, no allocation
// after construction.
#pragma once

#include "peer.hpp"

#include <meshhost/mesh.hpp>

#include <cstdint>
#include <vector>

namespace mh::sw {

class NeighbourIds {
 public:
  struct Entry {
    Neighbour* neighbour = nullptr;  // nullptr: the slot is free
    PublicKey key;
    Address address;     // address_of(key), kept so the data path never hashes
    std::uint32_t cost = kInfiniteLinkCost;  // as last told to the observer
    std::uint16_t generation = 0;
  };

  // Up to `capacity` (1..65536) neighbours at once.
  explicit NeighbourIds(std::uint32_t capacity) : entries_(capacity) {}

  // A fresh id for `n`; kNoNeighbour when every slot is taken.
  NeighbourId add(Neighbour* n, const PublicKey& key, const Address& address, std::uint32_t cost) noexcept {
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
      Entry& e = entries_[i];
      if (e.neighbour != nullptr) continue;
      e.neighbour = n;
      e.key = key;
      e.address = address;
      e.cost = cost;
      return make_id(i, e.generation);
    }
    return kNoNeighbour;
  }
  // The live entry `id` names; nullptr for kNoNeighbour, a stale id or a free slot.
  Entry* find(NeighbourId id) noexcept {
    const std::uint32_t slot = id & kSlotMask;
    if (slot == 0 || slot > entries_.size()) return nullptr;
    Entry& e = entries_[slot - 1];
    if (e.neighbour == nullptr || make_id(slot - 1, e.generation) != id) return nullptr;
    return &e;
  }
  // Frees `id`'s slot; the next id in that slot has another generation.
  void remove(NeighbourId id) noexcept {
    if (Entry* e = find(id)) {
      e->neighbour = nullptr;
      e->generation = static_cast<std::uint16_t>((e->generation + 1) & kGenerationMask);
    }
  }
  template <class F>
  void for_each(F&& fn) {
    for (std::uint32_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].neighbour != nullptr) fn(make_id(i, entries_[i].generation), entries_[i]);
  }

 private:
  static constexpr std::uint32_t kSlotBits = 17;  // slot + 1 ≤ 65536 < 2^17: never 0
  static constexpr std::uint32_t kSlotMask = (1u << kSlotBits) - 1;
  static constexpr std::uint32_t kGenerationMask = (1u << (32 - kSlotBits)) - 1;
  static NeighbourId make_id(std::uint32_t index, std::uint16_t generation) noexcept {
    return (std::uint32_t{generation} << kSlotBits) | (index + 1);
  }

  std::vector<Entry> entries_;
};

}  // namespace mh::sw
