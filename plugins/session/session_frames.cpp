// Parsers and writers for the session frames. Every parser checks sizes before it reads,
// returns views into the caller's bytes and never allocates.
#include "session_frames.hpp"

#include <sodium.h>

#include <string_view>

namespace mh::session {

namespace {

bool header_is(ByteView frame, FrameType type) noexcept {
  return frame.size() >= kFrameHeaderSize && frame[0] == kSessionVersion && frame[1] == static_cast<std::uint8_t>(type);
}

constexpr std::string_view kMac1Label = "mac1----";

}  // namespace

void put_header(std::uint8_t* at, FrameType type) noexcept {
  at[0] = kSessionVersion;
  at[1] = static_cast<std::uint8_t>(type);
}
void put_transport_header(std::uint8_t* at, std::uint32_t receiver_index, std::uint64_t counter) noexcept {
  put_header(at, FrameType::transport);
  put_u32(at + kFrameHeaderSize, receiver_index);
  put_u64(at + kFrameHeaderSize + kIndexSize, counter);
}

std::optional<FrameHeader> parse_header(ByteView frame) noexcept {
  if (frame.size() < kFrameHeaderSize) return std::nullopt;
  return FrameHeader{frame[0], frame[1]};
}

std::optional<InitiationView> parse_initiation(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::initiation) || frame.size() != kInitiationSize) return std::nullopt;
  constexpr std::size_t mac1_at = kInitiationNoiseOffset + kInitiationNoiseSize;
  InitiationView v;
  v.sender_index = get_u32(frame.data() + kFrameHeaderSize);
  v.noise_message = frame.subspan(kInitiationNoiseOffset, kInitiationNoiseSize);
  v.mac1 = frame.subspan(mac1_at, kMacSize);
  v.mac1_covered = frame.first(mac1_at);
  return v;
}

std::optional<ResponseView> parse_response(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::response) || frame.size() != kResponseSize) return std::nullopt;
  constexpr std::size_t mac1_at = kResponseNoiseOffset + kResponseNoiseSize;
  ResponseView v;
  v.sender_index = get_u32(frame.data() + kFrameHeaderSize);
  v.receiver_index = get_u32(frame.data() + kFrameHeaderSize + kIndexSize);
  v.noise_message = frame.subspan(kResponseNoiseOffset, kResponseNoiseSize);
  v.mac1 = frame.subspan(mac1_at, kMacSize);
  v.mac1_covered = frame.first(mac1_at);
  return v;
}

std::optional<TransportView> parse_transport(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::transport) || frame.size() < kTransportMinSize) return std::nullopt;
  TransportView v;
  v.receiver_index = get_u32(frame.data() + kFrameHeaderSize);
  v.counter = get_u64(frame.data() + kFrameHeaderSize + kIndexSize);
  v.header = frame.first(kTransportHeaderSize);
  v.ciphertext = frame.subspan(kTransportHeaderSize);
  return v;
}

std::optional<Plaintext> parse_plaintext(MutableByteView plaintext) noexcept {
  Plaintext p;
  if (plaintext.empty()) {
    p.keepalive = true;
    return p;
  }
  if (plaintext.size() < kInnerProtocolSize) return std::nullopt;
  p.protocol = get_u16(plaintext.data());
  p.data = plaintext.subspan(kInnerProtocolSize);
  return p;
}

std::optional<std::uint16_t> parse_no_receiver(ByteView data) noexcept {
  if (data.size() != kNoReceiverSize - kInnerProtocolSize || data[0] != static_cast<std::uint8_t>(ControlCode::no_receiver))
    return std::nullopt;
  return get_u16(data.data() + 1);
}

MacKey mac1_key_for(const PublicKey& receiver) noexcept {
  MacKey out;
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof out.bytes);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kMac1Label.data()), kMac1Label.size());
  crypto_generichash_update(&state, receiver.bytes, sizeof receiver.bytes);
  crypto_generichash_final(&state, out.bytes, sizeof out.bytes);
  return out;
}

void compute_mac1(const MacKey& key, ByteView covered, std::uint8_t out[kMacSize]) noexcept {
  crypto_generichash(out, kMacSize, covered.data(), covered.size(), key.bytes, sizeof key.bytes);
}

bool check_mac1(const MacKey& key, ByteView covered, ByteView mac) noexcept {
  if (mac.size() != kMacSize) return false;
  std::uint8_t expected[kMacSize];
  compute_mac1(key, covered, expected);
  return sodium_memcmp(expected, mac.data(), kMacSize) == 0;
}

}  // namespace mh::session
