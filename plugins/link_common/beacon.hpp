// The beacon frame link drivers send to announce a node on a LAN (UDP broadcast and
// multicast, an Ethernet segment) and parse from others: the sender's key and whether it
// wants a password from peers it does not know. Pure codec: no sockets, no clocks.
#pragma once

#include <meshhost/link.hpp>
#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mh::link_common {

// version | type | flags | reserved | sender public key
inline constexpr std::size_t kBeaconVersionOffset = 0;
inline constexpr std::size_t kBeaconTypeOffset = kBeaconVersionOffset + 1;    // 1
inline constexpr std::size_t kBeaconFlagsOffset = kBeaconTypeOffset + 1;      // 2
inline constexpr std::size_t kBeaconReservedOffset = kBeaconFlagsOffset + 1;  // 3
inline constexpr std::size_t kBeaconKeyOffset = kBeaconReservedOffset + 1;    // 4
inline constexpr std::size_t kBeaconSize = kBeaconKeyOffset + kPublicKeySize;  // 1 + 1 + 1 + 1 + 32 = 36

// Flag bit 0: the sender accepts a neighbour it does not know only if the initiation uses
// one of its authorizedPasswords (DiscoveredPeerPolicy::require_password).
inline constexpr std::uint8_t kBeaconFlagRequiresPassword = 0x01;
// Bits a receiver understands; others are carried in Beacon::flags and otherwise ignored,
// so a later version may define them without breaking this one.
inline constexpr std::uint8_t kBeaconKnownFlags = kBeaconFlagRequiresPassword;

struct Beacon {
  PublicKey key;
  std::uint8_t flags = 0;

  bool requires_password() const noexcept { return (flags & kBeaconFlagRequiresPassword) != 0; }
};

// Writes a beacon for `key` with `flags` into out[0..kBeaconSize) and returns kBeaconSize,
// or returns 0 (writing nothing) when `out` is smaller than that.
std::size_t encode_beacon(const PublicKey& key, std::uint8_t flags, MutableByteSpan out) noexcept;

// Whether `frame` starts like a beacon (version 1, type beacon): a driver uses this to keep
// beacons for itself and hand every other frame to the switch, before parsing the beacon.
bool is_beacon_frame(ByteSpan frame) noexcept;

// The beacon in `frame`, or nullopt when the frame is not exactly kBeaconSize bytes, has
// another version or type, a non-zero reserved byte, or a key whose address is outside
// fc00::/8. Never allocates; safe on any input.
std::optional<Beacon> parse_beacon(ByteSpan frame) noexcept;

}  // namespace mh::link_common
