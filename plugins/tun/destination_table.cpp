// The table of troubled destinations: see destination_table.hpp.
#include "destination_table.hpp"

#include <algorithm>

namespace mh::tun {

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

}  // namespace

const DestinationTable::Entry* DestinationTable::find(const Address& destination) const noexcept {
  for (std::size_t i = 0; i < used_; ++i) {
    if (entries_[i].used && same_address(entries_[i].destination, destination)) return &entries_[i];
  }
  return nullptr;
}

DestinationTable::Entry& DestinationTable::slot_for(const Address& destination, std::uint64_t now_ns) noexcept {
  if (const Entry* existing = find(destination); existing != nullptr) return const_cast<Entry&>(*existing);
  Entry* chosen = nullptr;
  for (std::size_t i = 0; i < used_ && chosen == nullptr; ++i) {
    if (entries_[i].expired(now_ns)) chosen = &entries_[i];
  }
  if (chosen == nullptr && used_ < kCapacity) chosen = &entries_[used_++];
  if (chosen == nullptr) {
    chosen = &*std::min_element(entries_.begin(), entries_.end(),
                                [](const Entry& a, const Entry& b) { return a.until_ns() < b.until_ns(); });
  }
  *chosen = Entry{};
  chosen->destination = destination;
  chosen->used = true;
  return *chosen;
}

void DestinationTable::mark_unreachable(const Address& destination, std::uint8_t code, std::uint64_t now_ns) noexcept {
  Entry& entry = slot_for(destination, now_ns);
  entry.code = code;
  entry.unreachable_until_ns = saturating_add(now_ns, hold_.unreachable_ns);
}

void DestinationTable::set_path_mtu(const Address& destination, std::uint32_t mtu, std::uint64_t now_ns) noexcept {
  Entry& entry = slot_for(destination, now_ns);
  entry.mtu = std::max(mtu, kIpv6MinMtu);
  entry.mtu_until_ns = saturating_add(now_ns, hold_.path_mtu_ns);
}

bool DestinationTable::unreachable(const Address& destination, std::uint64_t now_ns, std::uint8_t* code) const noexcept {
  const Entry* entry = find(destination);
  if (entry == nullptr || entry->unreachable_until_ns <= now_ns) return false;
  if (code != nullptr) *code = entry->code;
  return true;
}

std::uint32_t DestinationTable::path_mtu(const Address& destination, std::uint64_t now_ns) const noexcept {
  const Entry* entry = find(destination);
  return entry != nullptr && entry->mtu_until_ns > now_ns ? entry->mtu : 0;
}

std::size_t DestinationTable::live(std::uint64_t now_ns) const noexcept {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(used_),
                                                [now_ns](const Entry& e) { return !e.expired(now_ns); }));
}

}  // namespace mh::tun
