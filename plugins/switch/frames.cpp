// Parsers and writers for the switch's link frames. Every parser checks sizes before it
// reads, returns views into the caller's bytes and never allocates.
#include "frames.hpp"

#include <cstring>

namespace mh::sw {

namespace {

bool header_is(ByteView frame, FrameType type) noexcept {
  return frame.size() >= kFrameHeaderSize && frame[0] == kFrameVersion && frame[1] == static_cast<std::uint8_t>(type);
}

}  // namespace

void put_header(std::uint8_t* at, FrameType type) noexcept {
  at[0] = kFrameVersion;
  at[1] = static_cast<std::uint8_t>(type);
}

std::optional<FrameHeader> parse_header(ByteView frame) noexcept {
  if (frame.size() < kFrameHeaderSize) return std::nullopt;
  return FrameHeader{frame[0], frame[1]};
}

std::optional<InitiationView> parse_initiation(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::handshake_initiation)) return std::nullopt;
  if (frame.size() < kInitiationMinSize || frame.size() > kInitiationMaxSize) return std::nullopt;
  const std::size_t mac1_at = frame.size() - 2 * kMacSize;
  const std::size_t mac2_at = frame.size() - kMacSize;
  InitiationView v;
  v.sender_index = get_u32(frame.data() + kFrameHeaderSize);
  v.noise_message = frame.subspan(kInitiationNoiseOffset, mac1_at - kInitiationNoiseOffset);
  v.mac1 = frame.subspan(mac1_at, kMacSize);
  v.mac2 = frame.subspan(mac2_at, kMacSize);
  v.mac1_covered = frame.first(mac1_at);
  v.mac2_covered = frame.first(mac2_at);
  return v;
}

std::optional<ResponseView> parse_response(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::handshake_response) || frame.size() != kResponseSize) return std::nullopt;
  const std::size_t mac1_at = kResponseNoiseOffset + kResponseNoiseSize;
  ResponseView v;
  v.sender_index = get_u32(frame.data() + kFrameHeaderSize);
  v.receiver_index = get_u32(frame.data() + kFrameHeaderSize + kIndexSize);
  v.noise_message = frame.subspan(kResponseNoiseOffset, kResponseNoiseSize);
  v.mac1 = frame.subspan(mac1_at, kMacSize);
  v.mac2 = frame.subspan(mac1_at + kMacSize, kMacSize);
  v.mac1_covered = frame.first(mac1_at);
  v.mac2_covered = frame.first(mac1_at + kMacSize);
  return v;
}

std::optional<CookieReplyView> parse_cookie_reply(ByteView frame) noexcept {
  if (!header_is(frame, FrameType::cookie_reply) || frame.size() != kCookieReplySize) return std::nullopt;
  CookieReplyView v;
  v.receiver_index = get_u32(frame.data() + kFrameHeaderSize);
  v.nonce = frame.subspan(kFrameHeaderSize + kIndexSize, kCookieNonceSize);
  v.encrypted_cookie = frame.subspan(kFrameHeaderSize + kIndexSize + kCookieNonceSize, kEncryptedCookieSize);
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

std::optional<InitiationPayload> parse_initiation_payload(ByteView payload) noexcept {
  if (payload.size() < kInitiationPayloadMinSize) return std::nullopt;
  const std::size_t login_size = payload[kTai64nSize];
  if (login_size > kMaxLoginSize || payload.size() != kInitiationPayloadMinSize + login_size) return std::nullopt;
  InitiationPayload p;
  std::memcpy(p.timestamp.bytes, payload.data(), kTai64nSize);
  p.login = std::string_view(reinterpret_cast<const char*>(payload.data() + kInitiationPayloadMinSize), login_size);
  return p;
}

std::size_t write_initiation_payload(const Tai64n& timestamp, std::string_view login, MutableByteView out) noexcept {
  const std::size_t size = kInitiationPayloadMinSize + login.size();
  if (login.size() > kMaxLoginSize || out.size() < size) return 0;
  std::memcpy(out.data(), timestamp.bytes, kTai64nSize);
  out[kTai64nSize] = static_cast<std::uint8_t>(login.size());
  if (!login.empty()) std::memcpy(out.data() + kInitiationPayloadMinSize, login.data(), login.size());
  return size;
}

}  // namespace mh::sw
