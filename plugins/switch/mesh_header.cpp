// The mesh header codec. No state, no allocation; sizes checked before every read.
#include "mesh_header.hpp"

#include <cstring>

namespace mh::sw {

bool same_address(const Address& a, const Address& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0;
}

MeshHeaderError parse_mesh_header(ByteView packet, MeshHeader* out) noexcept {
  if (packet.size() < kMeshHeaderSize) return MeshHeaderError::too_short;
  const std::uint8_t* at = packet.data();
  if (at[0] != kMeshVersion) return MeshHeaderError::bad_version;
  if (get_u16(at + kMeshReservedAt) != 0) return MeshHeaderError::reserved_not_zero;
  out->hop_limit = at[kMeshHopLimitAt];
  out->protocol = get_u16(at + kMeshProtocolAt);
  out->e2e_offset = get_u16(at + kMeshE2eOffsetAt);
  std::memcpy(out->source.bytes, at + kMeshSourceAt, kAddressSize);
  std::memcpy(out->destination.bytes, at + kMeshDestinationAt, kAddressSize);
  return MeshHeaderError::ok;
}

void write_mesh_header(std::uint8_t* at, const MeshHeader& header) noexcept {
  at[0] = kMeshVersion;
  at[kMeshHopLimitAt] = header.hop_limit;
  put_u16(at + kMeshProtocolAt, header.protocol);
  put_u16(at + kMeshE2eOffsetAt, header.e2e_offset);
  put_u16(at + kMeshReservedAt, 0);
  std::memcpy(at + kMeshSourceAt, header.source.bytes, kAddressSize);
  std::memcpy(at + kMeshDestinationAt, header.destination.bytes, kAddressSize);
}

}  // namespace mh::sw
