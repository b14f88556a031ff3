// What meshhost puts on an Ethernet segment, shared by `eth` and `meshpoint`: the EtherType,
// the small header in front of each meshhost frame, how a MAC address and interface index
// pack into an mh::Endpoint, and the MTU rule. Pure: no sockets (docs/protocol.md, "eth").
#pragma once

#include <meshhost/mesh.hpp>
#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mh::ether {

// The registry's EtherType (docs/protocol.md, Registry → Link layer): IEEE 802 local
// experimental, not cjdns's 0xfc00.
inline constexpr std::uint16_t kEtherType = 0x88B5;

// ---- the eth header: in front of every meshhost frame on the wire ----
//
//   0         1          2                    4
//   +---------+----------+--------------------+------------------------+
//   | version | reserved | length (uint16 BE) | meshhost frame (length) |  padding…
//   +---------+----------+--------------------+------------------------+
//
// Ethernet pads frames shorter than 60 bytes and the receiver sees the padding as payload;
// the length says where the meshhost frame ends (cjdns's ETHInterface carries one for the
// same reason). Bytes after it are padding and ignored.
inline constexpr std::uint8_t kHeaderVersion = 1;
inline constexpr std::size_t kHeaderVersionOffset = 0;
inline constexpr std::size_t kHeaderReservedOffset = kHeaderVersionOffset + 1;  // 1
inline constexpr std::size_t kHeaderLengthOffset = kHeaderReservedOffset + 1;   // 2
inline constexpr std::size_t kHeaderSize = kHeaderLengthOffset + 2;            // 1 + 1 + 2 = 4

// Writes the header for a `frame_length`-byte meshhost frame into at[0..kHeaderSize).
inline void write_header(std::uint8_t* at, std::uint16_t frame_length) noexcept {
  at[kHeaderVersionOffset] = kHeaderVersion;
  at[kHeaderReservedOffset] = 0;
  at[kHeaderLengthOffset] = static_cast<std::uint8_t>(frame_length >> 8);
  at[kHeaderLengthOffset + 1] = static_cast<std::uint8_t>(frame_length & 0xff);
}

// The length of the meshhost frame that follows the header in `payload` (an Ethernet
// payload as received), or nullopt when the payload is shorter than a header, has another
// version, a non-zero reserved byte, an empty frame, or a length beyond the payload.
// Never allocates; safe on any input.
inline std::optional<std::uint16_t> parse_header(ByteSpan payload) noexcept {
  if (payload.data == nullptr || payload.size < kHeaderSize) return std::nullopt;
  if (payload.data[kHeaderVersionOffset] != kHeaderVersion) return std::nullopt;
  if (payload.data[kHeaderReservedOffset] != 0) return std::nullopt;
  const auto length = static_cast<std::uint16_t>((payload.data[kHeaderLengthOffset] << 8) |
                                                 payload.data[kHeaderLengthOffset + 1]);
  if (length == 0 || length > payload.size - kHeaderSize) return std::nullopt;
  return length;
}

// ---- the MTU rule (DESIGN §5) ----
//
// Every link carries 1280 bytes of inner packet plus meshhost's overhead: the switch's hop
// framing (33 bytes for a 0x05 frame, 31 for 0x04), the mesh header (40) and 55 bytes for
// the layers above the mesh (mh::kMeshMinPayload − 1280: a session's 32, the rest for
// iptunnel's header). docs/protocol.md has each layer's diagram.
inline constexpr std::uint32_t kInnerPacketBytes = 1280;
inline constexpr std::uint32_t kMeshhostOverheadBytes = 33 + kMeshHeaderSize + (kMeshMinPayload - kInnerPacketBytes);
static_assert(kMeshhostOverheadBytes == 128);
// The smallest frame a link must carry: 1280 + 128 = 1408.
inline constexpr std::uint32_t kMinLinkMtu = kInnerPacketBytes + kMeshhostOverheadBytes;
// The smallest interface MTU `eth` accepts: 1408 + 4 = 1412.
inline constexpr std::uint32_t kMinInterfaceMtu = kMinLinkMtu + kHeaderSize;

// Why an interface with `interface_mtu` cannot carry meshhost, naming the interface and
// both numbers; nullopt when it can.
std::optional<std::string> mtu_refusal(std::string_view interface_name, std::uint32_t interface_mtu);

// The largest meshhost frame a link on this interface sends and receives: the interface
// MTU less the eth header, capped at what a packet buffer holds after its headroom
// (a jumbo-frame interface does not make frames larger than the buffers).
constexpr std::uint32_t link_mtu(std::uint32_t interface_mtu, std::uint32_t buffer_capacity) noexcept {
  const std::uint32_t from_interface = interface_mtu > kHeaderSize ? interface_mtu - kHeaderSize : 0;
  const std::uint32_t from_buffer = buffer_capacity > kHeaderSize ? buffer_capacity - kHeaderSize : 0;
  return from_interface < from_buffer ? from_interface : from_buffer;
}

// ---- addresses ----

inline constexpr std::size_t kMacSize = 6;

struct MacAddress {
  std::uint8_t bytes[kMacSize] = {};
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

inline constexpr MacAddress kBroadcastMac = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// "02:00:00:00:00:01": 17 characters.
inline constexpr std::size_t kMacTextSize = 3 * kMacSize - 1;
// Writes the text form of `mac` into out[0..capacity) without a terminator; returns
// kMacTextSize, or 0 (writing nothing) when it does not fit.
std::size_t format_mac(const MacAddress& mac, char* out, std::size_t capacity) noexcept;
std::string format_mac(const MacAddress& mac);

// An eth endpoint: Endpoint::kind kEndpointKind, 10 bytes
//   0                 6                         10
//   +-----------------+-------------------------+
//   | MAC address (6) | ifindex (uint32 BE)     |
//   +-----------------+-------------------------+
// The interface index keeps the same neighbour on two interfaces two endpoints.
inline constexpr std::uint8_t kEndpointKind = 0x45;  // 'E'
inline constexpr std::size_t kEndpointMacOffset = 0;
inline constexpr std::size_t kEndpointIfindexOffset = kEndpointMacOffset + kMacSize;  // 6
inline constexpr std::size_t kEndpointSize = kEndpointIfindexOffset + 4;             // 6 + 4 = 10

Endpoint make_endpoint(const MacAddress& mac, std::uint32_t ifindex) noexcept;
// The MAC and interface index in `endpoint`; false when it is not an eth endpoint.
bool parse_endpoint(const Endpoint& endpoint, MacAddress* mac, std::uint32_t* ifindex) noexcept;

}  // namespace mh::ether
