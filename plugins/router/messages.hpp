// The router's wire format (docs/protocol.md, "Routing"): a 4-byte packet header and TLVs
// with explicit lengths. Pure: a checker, a reader that walks a checked packet, and a
// writer that appends TLVs into a caller's buffer. No state, no allocation.
#pragma once

#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mh::router {

using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline constexpr std::uint8_t kRoutingVersion = 1;
// version (1) | reserved, 0 (1) | body length (2): the bytes of TLVs that follow
inline constexpr std::size_t kPacketHeaderSize = 1 + 1 + 2;  // 4
// type (1) | length (1) | body (length)
inline constexpr std::size_t kTlvHeaderSize = 1 + 1;  // 2

enum class TlvType : std::uint8_t {
  update = 0x01,
  route_request = 0x02,
  seqno_request = 0x03,
};

// Metrics are 16 bits; 0xffff is infinity (a retraction, an unusable route).
inline constexpr std::uint16_t kInfiniteMetric = 0xffff;

// 0x01 update: interval in centiseconds (2) | seqno (2) | metric (2) | address (16) | key (32)
inline constexpr std::size_t kUpdateBodySize = 2 + 2 + 2 + kAddressSize + kPublicKeySize;  // 54
inline constexpr std::size_t kUpdateSize = kTlvHeaderSize + kUpdateBodySize;                 // 56
// 0x02 route request: empty body (every route) or address (16)
inline constexpr std::size_t kRouteRequestAddressBodySize = kAddressSize;  // 16
inline constexpr std::size_t kWildcardRequestSize = kTlvHeaderSize;                              // 2
inline constexpr std::size_t kRouteRequestSize = kTlvHeaderSize + kRouteRequestAddressBodySize;  // 18
// 0x03 seqno request: seqno (2) | hop count (1) | reserved, 0 (1) | address (16)
inline constexpr std::size_t kSeqnoRequestBodySize = 2 + 1 + 1 + kAddressSize;  // 20
inline constexpr std::size_t kSeqnoRequestSize = kTlvHeaderSize + kSeqnoRequestBodySize;  // 22
inline constexpr std::size_t kMaxTlvSize = kUpdateSize;

struct Update {
  std::uint16_t interval_cs = 0;  // the sender's update interval; 0: unknown
  std::uint16_t seqno = 0;
  std::uint16_t metric = kInfiniteMetric;  // kInfiniteMetric: a retraction
  Address address;
  PublicKey key;
};

struct RouteRequest {
  bool wildcard = true;  // every route; otherwise only `address`
  Address address;
};

struct SeqnoRequest {
  std::uint16_t seqno = 0;
  std::uint8_t hop_count = 0;
  Address address;
};

// One TLV: `type` says which member holds it.
struct Message {
  TlvType type = TlvType::update;
  Update update;
  RouteRequest route_request;
  SeqnoRequest seqno_request;
};

enum class PacketCheck {
  ok,
  too_short,       // shorter than the packet header
  bad_version,     // version other than kRoutingVersion
  bad_length,      // body length does not match the bytes that follow
  truncated_tlv,   // a TLV header or body runs past the end
  malformed_tlv,   // a known TLV with a body shorter than its fields
};

// Checks a whole packet: header and every TLV's framing and size. Nothing of a packet that
// fails is to be used. *known_tlvs and *unknown_tlvs (when not null) count what it holds.
PacketCheck check_packet(ByteView packet, std::size_t* known_tlvs = nullptr, std::size_t* unknown_tlvs = nullptr) noexcept;

// Walks the TLVs of a packet check_packet() accepted; unknown types are skipped.
class TlvReader {
 public:
  explicit TlvReader(ByteView checked_packet) noexcept;
  // The next known TLV into *out; false at the end.
  bool next(Message* out) noexcept;

 private:
  ByteView rest_;
};

// The bytes message `m` takes on the wire.
std::size_t encoded_size(const Message& m) noexcept;
// Writes `m` at the start of `out` (at least encoded_size(m) bytes); returns the size.
std::size_t write_tlv(const Message& m, MutableByteView out) noexcept;
// Writes the packet header for `body_size` bytes of TLVs (at most 0xffff) into `out` (4 bytes).
void write_packet_header(std::size_t body_size, MutableByteView out) noexcept;

// RFC 8966 §3.2.1: seqnos compare modulo 2^16; true when `a` is newer than `b`.
constexpr bool seqno_newer(std::uint16_t a, std::uint16_t b) noexcept {
  return a != b && static_cast<std::uint16_t>(a - b) < 0x8000;
}

}  // namespace mh::router
