// The FIB: linear probing over a power-of-two table, backward-shift deletion.
#include "fib.hpp"

#include <cstring>

namespace mh::sw {

namespace {
bool same(const Address& a, const Address& b) noexcept { return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0; }
}  // namespace

Fib::Fib(std::uint32_t capacity) : capacity_(capacity == 0 ? 1 : capacity > kMaxCapacity ? kMaxCapacity : capacity) {
  std::uint32_t slots = 16;
  while (slots < 2 * capacity_) slots <<= 1;
  mask_ = slots - 1;
  slots_ = std::make_unique<Slot[]>(slots);
}

std::uint32_t Fib::home(const Address& destination) const noexcept {
  // Bytes 8..11: uniformly distributed hash output (byte 0 is always 0xfc).
  const std::uint8_t* b = destination.bytes + 8;
  const std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return v & mask_;
}

bool Fib::set(const Address& destination, NeighbourId next_hop) noexcept {
  if (next_hop == kNoNeighbour) return false;
  for (std::uint32_t i = home(destination);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.next_hop == kNoNeighbour) {
      if (size_ >= capacity_) return false;
      s.destination = destination;
      s.next_hop = next_hop;
      ++size_;
      return true;
    }
    if (same(s.destination, destination)) {
      s.next_hop = next_hop;
      return true;
    }
  }
}

NeighbourId Fib::lookup(const Address& destination) const noexcept {
  // The table is never full (at most half its slots are used), so every probe ends.
  for (std::uint32_t i = home(destination);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.next_hop == kNoNeighbour) return kNoNeighbour;
    if (same(s.destination, destination)) return s.next_hop;
  }
}

bool Fib::remove(const Address& destination) noexcept {
  for (std::uint32_t i = home(destination);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.next_hop == kNoNeighbour) return false;
    if (same(s.destination, destination)) {
      erase_at(i);
      return true;
    }
  }
}

void Fib::erase_at(std::uint32_t i) noexcept {
  slots_[i] = Slot{};
  --size_;
  // Later entries of the run whose home is not in (i, j] move into the hole.
  for (std::uint32_t j = (i + 1) & mask_; slots_[j].next_hop != kNoNeighbour; j = (j + 1) & mask_) {
    const std::uint32_t h = home(slots_[j].destination);
    const bool stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    slots_[j] = Slot{};
    i = j;
  }
}

std::uint32_t Fib::remove_next_hop(NeighbourId next_hop) noexcept {
  std::uint32_t removed = 0;
  for (std::uint32_t i = 0; i <= mask_;) {
    if (slots_[i].next_hop == next_hop && next_hop != kNoNeighbour) {
      erase_at(i);  // may move a later entry into i: look at i again
      ++removed;
    } else {
      ++i;
    }
  }
  return removed;
}

}  // namespace mh::sw
