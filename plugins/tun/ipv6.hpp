// IPv6 as the tun plugin sees it: the fixed header of packets between the kernel and the
// mesh, and the two ICMPv6 errors (RFC 4443) tun writes back to the kernel — Packet Too
// Big and Destination Unreachable (no route). Pure code: no sockets, no clocks.
#pragma once

#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mh::tun {

// version+class+flow (4) | payload length (2) | next header (1) | hop limit (1) |
// source (16) | destination (16)
inline constexpr std::size_t kIpv6HeaderSize = 4 + 2 + 1 + 1 + kAddressSize + kAddressSize;  // 40
inline constexpr std::uint8_t kIpv6Version = 6;
// RFC 8200: every link carries 1280; an ICMPv6 error never exceeds it (RFC 4443 §2.4 (c)).
inline constexpr std::uint32_t kIpv6MinMtu = 1280;
inline constexpr std::uint8_t kNextHeaderIcmpv6 = 58;
inline constexpr std::uint8_t kIcmpv6ErrorHopLimit = 64;

// type (1) | code (1) | checksum (2) | MTU or unused (4)
inline constexpr std::size_t kIcmpv6ErrorHeaderSize = 1 + 1 + 2 + 4;  // 8
inline constexpr std::uint8_t kIcmpv6DestinationUnreachable = 1;
inline constexpr std::uint8_t kIcmpv6CodeNoRoute = 0;
inline constexpr std::uint8_t kIcmpv6CodeAddressUnreachable = 3;
inline constexpr std::uint8_t kIcmpv6PacketTooBig = 2;
// Types below 128 are errors; no error is ever sent about one (RFC 4443 §2.4 (e)).
inline constexpr std::uint8_t kIcmpv6FirstInformational = 128;

// The most of an invoking packet an error quotes: the error stays within 1280 bytes.
inline constexpr std::size_t kIcmpv6MaxQuote = kIpv6MinMtu - kIpv6HeaderSize - kIcmpv6ErrorHeaderSize;  // 1232
inline constexpr std::size_t kIcmpv6ErrorMaxSize = kIpv6MinMtu;

// The node addresses of the mesh: fc00::/8.
inline constexpr std::uint8_t kMeshPrefixByte = 0xfc;

// The fixed header of one whole IPv6 packet (addresses copied out).
struct Ipv6Header {
  Address source;
  Address destination;
  std::uint16_t payload_length = 0;
  std::uint8_t next_header = 0;
  std::uint8_t hop_limit = 0;
};

// Reads the fixed header of `packet`, which must be exactly one IPv6 packet: version 6 and
// a payload length that accounts for every byte after the header (so jumbograms, whose
// payload length is 0, and truncated or padded packets are refused). nullopt otherwise.
std::optional<Ipv6Header> parse_ipv6(ByteSpan packet) noexcept;

inline bool in_mesh_prefix(const Address& address) noexcept { return address.bytes[0] == kMeshPrefixByte; }
bool same_address(const Address& a, const Address& b) noexcept;

// The Internet checksum (RFC 1071) of an upper-layer message over the IPv6 pseudo-header
// (RFC 8200 §8.1): source, destination, the message's length as 32 bits, three zero bytes
// and `next_header`. Over a message whose checksum field holds its checksum, the result
// is 0; over one whose field is zero, it is the value to write there (in network order).
std::uint16_t upper_layer_checksum(const Address& source, const Address& destination, std::uint8_t next_header,
                                   ByteSpan message) noexcept;

// Whether RFC 4443 §2.4 (e) lets us answer `invoking` (a parsed packet) with an error:
// not when it is itself an ICMPv6 error, nor when its source is multicast or unspecified.
bool may_answer_with_error(const Ipv6Header& header, ByteSpan invoking) noexcept;

// Writes an ICMPv6 Packet Too Big about `invoking` into `out`: from the invoking
// packet's destination to its source, advertising `mtu` (raised to 1280 if below), quoting
// as much of the invoking packet as fits in 1280 bytes, with its checksum. Returns the
// size written; 0 if `invoking` is shorter than an IPv6 header or `out` is too small for
// the result.
std::size_t build_packet_too_big(ByteSpan invoking, std::uint32_t mtu, MutableByteSpan out) noexcept;

// As build_packet_too_big, an ICMPv6 Destination Unreachable with `code` (0: no route,
// 3: address unreachable).
std::size_t build_destination_unreachable(ByteSpan invoking, std::uint8_t code, MutableByteSpan out) noexcept;

}  // namespace mh::tun
