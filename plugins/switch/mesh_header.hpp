// The mesh header (docs/protocol.md, "Switch: forwarding"): the 40 bytes the switch puts in
// front of every payload it carries between nodes, parsed and written in place.
//
//   version (1) | hop limit (1) | protocol (2) | e2e offset (2) | reserved (2) |
//   source address (16) | destination address (16)
#pragma once

#include "frames.hpp"

#include <meshhost/byte_order.hpp>
#include <meshhost/mesh.hpp>

#include <cstdint>
#include <optional>

namespace mh::sw {

inline constexpr std::size_t kMeshHopLimitAt = 1;
inline constexpr std::size_t kMeshProtocolAt = 2;
inline constexpr std::size_t kMeshE2eOffsetAt = 4;
inline constexpr std::size_t kMeshReservedAt = 6;
inline constexpr std::size_t kMeshSourceAt = 8;
inline constexpr std::size_t kMeshDestinationAt = kMeshSourceAt + kAddressSize;  // 24
static_assert(kMeshDestinationAt + kAddressSize == kMeshHeaderSize);

struct MeshHeader {
  std::uint8_t hop_limit = kDefaultHopLimit;
  std::uint16_t protocol = 0;
  std::uint16_t e2e_offset = kNoEndToEnd;
  Address source;
  Address destination;
};

// Why a mesh header was refused.
enum class MeshHeaderError : std::uint8_t { ok, too_short, bad_version, reserved_not_zero };

// Reads the header at the start of `packet` (which holds header + payload). Refuses a
// packet shorter than 40 bytes, another version, or a non-zero reserved field; an e2e
// offset beyond the payload is not an error here (the payload is then all hop-encrypted).
MeshHeaderError parse_mesh_header(ByteView packet, MeshHeader* out) noexcept;

// Writes the 40 bytes at `at` (version 1, reserved 0).
void write_mesh_header(std::uint8_t* at, const MeshHeader& header) noexcept;

// In-place field access on a header already checked by parse_mesh_header.
inline std::uint8_t mesh_hop_limit(const std::uint8_t* header) noexcept { return header[kMeshHopLimitAt]; }
inline void set_mesh_hop_limit(std::uint8_t* header, std::uint8_t hop_limit) noexcept {
  header[kMeshHopLimitAt] = hop_limit;
}

// Whether two addresses are the same (memcmp: addresses are plain bytes).
bool same_address(const Address& a, const Address& b) noexcept;


}  // namespace mh::sw
