// The switch's link frames (docs/protocol.md, "Switch: link frames and the handshake"):
// sizes, parsers that return borrowed views, and writers. No state, no allocation.
#pragma once

#include <meshhost/byte_order.hpp>
#include <meshhost/link.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/tai64n.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace mh::sw {

// Network byte order, from meshhost/byte_order.hpp (also reachable as mh::sw:: for tests).
using mh::get_u16;
using mh::get_u32;
using mh::get_u64;
using mh::put_u16;
using mh::put_u32;
using mh::put_u64;


using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline constexpr std::size_t kFrameHeaderSize = 2;  // version, type
inline constexpr std::size_t kIndexSize = 4;        // sender or receiver index, big-endian
inline constexpr std::size_t kMacSize = 16;         // mac1, mac2: BLAKE2b-128
inline constexpr std::size_t kCounterSize = 8;      // transport counter, big-endian

// Initiation payload (inside the Noise initiation, encrypted): TAI64N, login length, login.
inline constexpr std::size_t kLoginLengthSize = 1;
inline constexpr std::size_t kMaxLoginSize = 32;
inline constexpr std::size_t kInitiationPayloadMinSize = kTai64nSize + kLoginLengthSize;                  // 13
inline constexpr std::size_t kInitiationPayloadMaxSize = kInitiationPayloadMinSize + kMaxLoginSize;       // 45

// 0x01 handshake initiation: header, sender index, Noise initiation, mac1, mac2.
inline constexpr std::size_t kInitiationNoiseOffset = kFrameHeaderSize + kIndexSize;  // 6
inline constexpr std::size_t kInitiationFixedSize = kFrameHeaderSize + kIndexSize + noise::kInitiationOverhead + 2 * kMacSize;  // 2+4+96+32 = 134
inline constexpr std::size_t kInitiationMinSize = kInitiationFixedSize + kInitiationPayloadMinSize;  // 147
inline constexpr std::size_t kInitiationMaxSize = kInitiationFixedSize + kInitiationPayloadMaxSize;  // 179

// 0x02 handshake response: header, sender index, receiver index, Noise response (empty
// payload), mac1, mac2.
inline constexpr std::size_t kResponseNoiseOffset = kFrameHeaderSize + 2 * kIndexSize;  // 10
inline constexpr std::size_t kResponseNoiseSize = noise::kResponseOverhead;              // 48, no payload
inline constexpr std::size_t kResponseSize = kResponseNoiseOffset + kResponseNoiseSize + 2 * kMacSize;  // 10+48+32 = 90

// 0x03 cookie reply: header, receiver index, nonce, cookie encrypted with XChaCha20-Poly1305.
inline constexpr std::size_t kCookieSize = 16;       // BLAKE2b-128
inline constexpr std::size_t kCookieNonceSize = 24;  // XChaCha20
inline constexpr std::size_t kEncryptedCookieSize = kCookieSize + noise::kTagSize;  // 32
inline constexpr std::size_t kCookieReplySize = kFrameHeaderSize + kIndexSize + kCookieNonceSize + kEncryptedCookieSize;  // 2+4+24+32 = 62

// 0x04 transport (hopEncryption full): header, receiver index, counter, then ChaChaPoly of
// the inner frame (inner type byte + body) with the 14 header bytes as associated data.
inline constexpr std::size_t kTransportHeaderSize = kFrameHeaderSize + kIndexSize + kCounterSize;  // 14
inline constexpr std::size_t kInnerTypeSize = 1;
inline constexpr std::size_t kTransportOverhead = kTransportHeaderSize + kInnerTypeSize + noise::kTagSize;  // 14+1+16 = 31
inline constexpr std::size_t kTransportMinSize = kTransportOverhead;  // an inner frame of its type byte only

// The first byte of a transport's decrypted inner frame.
enum class InnerType : std::uint8_t {
  keepalive = 0,   // empty body: keepalive; 8-byte body: echo request (the id to echo)
  echo_reply = 1,  // 8-byte body: the id of the echo request answered
  data = 2,        // body: a frame for the switch above the link
  headers_key = 3,      // 40-byte body: key id (8), the sender's 0x05 key (32)
  headers_key_ack = 4,  // 8-byte body: the key id received
};
inline constexpr std::size_t kEchoIdSize = 8;

// The 2-byte header every frame starts with; nullopt for a frame shorter than it.
struct FrameHeader {
  std::uint8_t version;
  std::uint8_t type;
};
std::optional<FrameHeader> parse_header(ByteView frame) noexcept;

// Views borrow from the frame they were parsed from.
struct InitiationView {
  std::uint32_t sender_index;
  ByteView noise_message;  // Noise initiation: 96 + payload
  ByteView mac1;
  ByteView mac2;
  ByteView mac1_covered;   // frame bytes before mac1
  ByteView mac2_covered;   // frame bytes before mac2
};
struct ResponseView {
  std::uint32_t sender_index;
  std::uint32_t receiver_index;
  ByteView noise_message;  // 48 bytes
  ByteView mac1;
  ByteView mac2;
  ByteView mac1_covered;
  ByteView mac2_covered;
};
struct CookieReplyView {
  std::uint32_t receiver_index;
  ByteView nonce;             // 24
  ByteView encrypted_cookie;  // 32
};
struct TransportView {
  std::uint32_t receiver_index;
  std::uint64_t counter;
  ByteView header;      // the 14 bytes authenticated as associated data
  ByteView ciphertext;  // inner frame + tag, at least 17 bytes
};

// Each checks the version, the type and the exact (or minimum) size; nullopt otherwise.
std::optional<InitiationView> parse_initiation(ByteView frame) noexcept;
std::optional<ResponseView> parse_response(ByteView frame) noexcept;
std::optional<CookieReplyView> parse_cookie_reply(ByteView frame) noexcept;
std::optional<TransportView> parse_transport(ByteView frame) noexcept;

// The decrypted initiation payload.
struct InitiationPayload {
  Tai64n timestamp;
  std::string_view login;  // borrowed from the payload bytes; empty for none
};
std::optional<InitiationPayload> parse_initiation_payload(ByteView payload) noexcept;
// Writes the payload into out (kInitiationPayloadMaxSize bytes suffice); returns its size,
// 0 if `login` is longer than kMaxLoginSize or `out` too small.
std::size_t write_initiation_payload(const Tai64n& timestamp, std::string_view login, MutableByteView out) noexcept;

// Writes version and type into at[0..2).
void put_header(std::uint8_t* at, FrameType type) noexcept;

}  // namespace mh::sw
