// The session layer's frames (docs/protocol.md, "Session: end-to-end frames"): what the
// session plugin puts in the payload of a mesh packet with protocol kProtocolSession.
// Sizes, parsers that return borrowed views, and writers. No state, no allocation.
#pragma once

#include <meshhost/byte_order.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/tai64n.hpp>
#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace mh::session {

// Network byte order, from meshhost/byte_order.hpp (also reachable as mh::session:: for tests).
using mh::get_u16;
using mh::get_u32;
using mh::get_u64;
using mh::put_u16;
using mh::put_u32;
using mh::put_u64;


using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline constexpr std::uint8_t kSessionVersion = 1;

enum class FrameType : std::uint8_t {
  initiation = 1,
  response = 2,
  transport = 3,
};

inline constexpr std::size_t kFrameHeaderSize = 2;  // version, type
inline constexpr std::size_t kIndexSize = 4;        // sender or receiver index, big-endian
inline constexpr std::size_t kCounterSize = 8;      // transport counter, big-endian
inline constexpr std::size_t kMacSize = 16;         // mac1: BLAKE2b-128 keyed by the receiver's key

// The initiation payload (encrypted inside the Noise initiation): a TAI64N timestamp only;
// sessions use the all-zero psk, so there is no login.
inline constexpr std::size_t kInitiationPayloadSize = kTai64nSize;  // 12

// 0x01 initiation: header, sender index, Noise initiation (96 + 12), mac1.
inline constexpr std::size_t kInitiationNoiseOffset = kFrameHeaderSize + kIndexSize;                        // 6
inline constexpr std::size_t kInitiationNoiseSize = noise::kInitiationOverhead + kInitiationPayloadSize;    // 108
inline constexpr std::size_t kInitiationSize = kInitiationNoiseOffset + kInitiationNoiseSize + kMacSize;    // 130

// 0x02 response: header, sender index, receiver index, Noise response (empty payload), mac1.
inline constexpr std::size_t kResponseNoiseOffset = kFrameHeaderSize + 2 * kIndexSize;                       // 10
inline constexpr std::size_t kResponseNoiseSize = noise::kResponseOverhead;                                  // 48
inline constexpr std::size_t kResponseSize = kResponseNoiseOffset + kResponseNoiseSize + kMacSize;           // 74

// 0x03 transport: header, receiver index, counter (the 14 cleartext bytes, authenticated as
// associated data), then ChaCha20-Poly1305 of [inner protocol (2) + data] and its tag.
// An empty plaintext is a keepalive.
inline constexpr std::size_t kTransportHeaderSize = kFrameHeaderSize + kIndexSize + kCounterSize;  // 14
inline constexpr std::size_t kInnerProtocolSize = 2;
inline constexpr std::size_t kTransportMinSize = kTransportHeaderSize + noise::kTagSize;  // 30: a keepalive
// What a payload costs on the mesh: 14 + 2 + 16 = 32 bytes, within the 55 that
// kMeshMinPayload leaves above a 1280-byte packet.
inline constexpr std::size_t kTransportOverhead = kTransportHeaderSize + kInnerProtocolSize + noise::kTagSize;
static_assert(kTransportOverhead <= 55, "a 1280-byte packet must fit in kMeshMinPayload");

// Inner protocol 0: the session layer's own control messages (plaintext = protocol 0,
// then a code byte and its body).
inline constexpr std::uint16_t kControlProtocol = 0;
enum class ControlCode : std::uint8_t {
  no_receiver = 1,  // body: the protocol (2, big-endian) that has no receiver here
};
inline constexpr std::size_t kNoReceiverSize = kInnerProtocolSize + 1 + 2;  // 5

// The 2-byte header every frame starts with; nullopt for a frame shorter than it.
struct FrameHeader {
  std::uint8_t version;
  std::uint8_t type;
};
std::optional<FrameHeader> parse_header(ByteView frame) noexcept;

// Views borrow from the frame they were parsed from.
struct InitiationView {
  std::uint32_t sender_index;
  ByteView noise_message;  // 108 bytes
  ByteView mac1;
  ByteView mac1_covered;  // frame bytes before mac1
};
struct ResponseView {
  std::uint32_t sender_index;
  std::uint32_t receiver_index;
  ByteView noise_message;  // 48 bytes
  ByteView mac1;
  ByteView mac1_covered;
};
struct TransportView {
  std::uint32_t receiver_index;
  std::uint64_t counter;
  ByteView header;      // the 14 bytes authenticated as associated data
  ByteView ciphertext;  // plaintext + tag, at least 16 bytes
};

// Each checks the version, the type and the exact (or minimum) size; nullopt otherwise.
std::optional<InitiationView> parse_initiation(ByteView frame) noexcept;
std::optional<ResponseView> parse_response(ByteView frame) noexcept;
std::optional<TransportView> parse_transport(ByteView frame) noexcept;

// A decrypted plaintext: keepalive (empty), a payload for `protocol`, or malformed (one
// byte). Views borrow from the plaintext.
struct Plaintext {
  bool keepalive = false;
  std::uint16_t protocol = 0;
  MutableByteView data;
};
std::optional<Plaintext> parse_plaintext(MutableByteView plaintext) noexcept;
// A control message's no_receiver body: the protocol; nullopt for anything else.
std::optional<std::uint16_t> parse_no_receiver(ByteView data) noexcept;

// Writes version and type into at[0..2).
void put_header(std::uint8_t* at, FrameType type) noexcept;
// Writes a transport header (14 bytes) into at.
void put_transport_header(std::uint8_t* at, std::uint32_t receiver_index, std::uint64_t counter) noexcept;

// mac1 (WireGuard's, over the session frames): key = BLAKE2b-256("mac1----" || receiver's
// public key), mac1 = BLAKE2b-128(key, frame bytes before mac1).
struct MacKey {
  std::uint8_t bytes[32] = {};
};
MacKey mac1_key_for(const PublicKey& receiver) noexcept;
void compute_mac1(const MacKey& key, ByteView covered, std::uint8_t out[kMacSize]) noexcept;
// Constant time.
bool check_mac1(const MacKey& key, ByteView covered, ByteView mac) noexcept;

}  // namespace mh::session
