// The beacon codec: see beacon.hpp and docs/protocol.md ("Beacons").
#include "beacon.hpp"

#include <meshhost/keys.hpp>

#include <cstring>

namespace mh::link_common {

std::size_t encode_beacon(const PublicKey& key, std::uint8_t flags, MutableByteSpan out) noexcept {
  if (out.data == nullptr || out.size < kBeaconSize) return 0;
  out.data[kBeaconVersionOffset] = kFrameVersion;
  out.data[kBeaconTypeOffset] = static_cast<std::uint8_t>(FrameType::beacon);
  out.data[kBeaconFlagsOffset] = flags;
  out.data[kBeaconReservedOffset] = 0;
  std::memcpy(out.data + kBeaconKeyOffset, key.bytes, kPublicKeySize);
  return kBeaconSize;
}

bool is_beacon_frame(ByteSpan frame) noexcept {
  return frame.data != nullptr && frame.size > kBeaconTypeOffset && frame.data[kBeaconVersionOffset] == kFrameVersion &&
         frame.data[kBeaconTypeOffset] == static_cast<std::uint8_t>(FrameType::beacon);
}

std::optional<Beacon> parse_beacon(ByteSpan frame) noexcept {
  if (frame.size != kBeaconSize || !is_beacon_frame(frame)) return std::nullopt;
  if (frame.data[kBeaconReservedOffset] != 0) return std::nullopt;
  Beacon beacon;
  beacon.flags = frame.data[kBeaconFlagsOffset];
  std::memcpy(beacon.key.bytes, frame.data + kBeaconKeyOffset, kPublicKeySize);
  if (!is_valid_node_key(beacon.key)) return std::nullopt;
  return beacon;
}

}  // namespace mh::link_common
