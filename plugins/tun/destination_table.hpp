// What tun remembers about destinations the sessions layer reported trouble with: a
// small fixed-size table, no allocation, entries that expire. "No route" (or an
// unreachable node) makes tun answer packets to that node with an ICMPv6 Destination
// Unreachable for `unreachable_ns`; a "too big" hint lowers the path MTU tun enforces
// (with ICMPv6 Packet Too Big) for `path_mtu_ns`. Pure code: the caller passes the time.
#pragma once

#include "ipv6.hpp"

#include <meshhost/types.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace mh::tun {

class DestinationTable {
 public:
  // Few destinations fail at once; when more do, the entry closest to expiry gives way.
  static constexpr std::size_t kCapacity = 64;

  struct Hold {
    std::uint64_t unreachable_ns;  // how long "no route" answers last
    std::uint64_t path_mtu_ns;     // how long a lowered path MTU lasts
  };

  explicit DestinationTable(Hold hold) noexcept : hold_(hold) {}

  void set_hold(Hold hold) noexcept { hold_ = hold; }

  // `destination` could not be reached; packets to it are answered with an ICMPv6
  // Destination Unreachable with `code` (kIcmpv6CodeNoRoute, kIcmpv6CodeAddressUnreachable).
  void mark_unreachable(const Address& destination, std::uint8_t code, std::uint64_t now_ns) noexcept;
  // The path to `destination` carries at most `mtu` bytes of IPv6 packet (never taken
  // below 1280). A higher value than the one remembered replaces it too: the hint is new.
  void set_path_mtu(const Address& destination, std::uint32_t mtu, std::uint64_t now_ns) noexcept;

  // Whether packets to `destination` are answered with Destination Unreachable now, and
  // with which code (*code, when not null).
  bool unreachable(const Address& destination, std::uint64_t now_ns, std::uint8_t* code = nullptr) const noexcept;
  // The remembered path MTU towards `destination`, or 0 when there is none (or it expired).
  std::uint32_t path_mtu(const Address& destination, std::uint64_t now_ns) const noexcept;

  // Entries not yet expired (for tun.status).
  std::size_t live(std::uint64_t now_ns) const noexcept;

 private:
  struct Entry {
    Address destination;
    std::uint64_t unreachable_until_ns = 0;
    std::uint64_t mtu_until_ns = 0;
    std::uint32_t mtu = 0;
    std::uint8_t code = kIcmpv6CodeNoRoute;
    bool used = false;

    bool expired(std::uint64_t now_ns) const noexcept {
      return !used || (unreachable_until_ns <= now_ns && mtu_until_ns <= now_ns);
    }
    std::uint64_t until_ns() const noexcept {
      return unreachable_until_ns > mtu_until_ns ? unreachable_until_ns : mtu_until_ns;
    }
  };

  const Entry* find(const Address& destination) const noexcept;
  Entry& slot_for(const Address& destination, std::uint64_t now_ns) noexcept;

  Hold hold_;
  std::array<Entry, kCapacity> entries_{};
  std::size_t used_ = 0;  // entries_[0..used_) have ever been used: lookups scan only those
};

}  // namespace mh::tun
