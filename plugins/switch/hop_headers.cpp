// The 0x05 AEAD, streamed: RFC 8439 §2.8 with the associated data in two pieces (the outer
// header before the encrypted part, the e2e bytes after it).
#include "hop_headers.hpp"

#include <sodium.h>

#include <cstring>

namespace mh::sw {

namespace {

constexpr std::size_t kNonceSize = 12;

// Noise's nonce, as the 0x04 transport: 4 zero bytes, then the counter little-endian.
void make_nonce(std::uint64_t counter, std::uint8_t* nonce) noexcept {
  std::memset(nonce, 0, 4);
  for (std::size_t i = 0; i < 8; ++i, counter >>= 8) nonce[4 + i] = static_cast<std::uint8_t>(counter);
}

void pad16(crypto_onetimeauth_poly1305_state* state, std::size_t size) noexcept {
  static const std::uint8_t kZeros[16] = {};
  if (size % 16 != 0) crypto_onetimeauth_poly1305_update(state, kZeros, 16 - size % 16);
}

void put_le64(std::uint8_t* at, std::uint64_t value) noexcept {
  for (std::size_t i = 0; i < 8; ++i, value >>= 8) at[i] = static_cast<std::uint8_t>(value);
}

// The tag over outer header || e2e bytes (the AD) and the ciphertext, in the frame as laid out.
void compute_tag(const std::uint8_t* poly_key, ByteView frame, std::size_t encrypted_size, std::uint8_t* tag) noexcept {
  const std::uint8_t* outer = frame.data();
  const std::uint8_t* ciphertext = outer + kHeadersOuterSize;
  const std::uint8_t* e2e = ciphertext + encrypted_size;
  const std::size_t e2e_size = frame.size() - kHeadersOuterSize - encrypted_size - noise::kTagSize;
  crypto_onetimeauth_poly1305_state state;
  crypto_onetimeauth_poly1305_init(&state, poly_key);
  crypto_onetimeauth_poly1305_update(&state, outer, kHeadersOuterSize);
  if (e2e_size > 0) crypto_onetimeauth_poly1305_update(&state, e2e, e2e_size);
  pad16(&state, kHeadersOuterSize + e2e_size);
  crypto_onetimeauth_poly1305_update(&state, ciphertext, encrypted_size);
  pad16(&state, encrypted_size);
  std::uint8_t lengths[16];
  put_le64(lengths, kHeadersOuterSize + e2e_size);
  put_le64(lengths + 8, encrypted_size);
  crypto_onetimeauth_poly1305_update(&state, lengths, sizeof lengths);
  crypto_onetimeauth_poly1305_final(&state, tag);
  sodium_memzero(&state, sizeof state);
}

// The Poly1305 key: the first 32 bytes of ChaCha20 block 0.
void poly_key_for(const HeadersKey& key, const std::uint8_t* nonce, std::uint8_t* poly_key) noexcept {
  std::memset(poly_key, 0, crypto_onetimeauth_poly1305_KEYBYTES);
  crypto_stream_chacha20_ietf_xor_ic(poly_key, poly_key, crypto_onetimeauth_poly1305_KEYBYTES, nonce, 0, key.bytes);
}

}  // namespace

std::optional<HeadersView> parse_headers_frame(ByteView frame) noexcept {
  if (frame.size() < kHeadersMinSize || frame[0] != kFrameVersion ||
      frame[1] != static_cast<std::uint8_t>(FrameType::transport_headers))
    return std::nullopt;
  HeadersView v;
  v.receiver_index = get_u32(frame.data() + kFrameHeaderSize);
  v.counter = get_u64(frame.data() + kFrameHeaderSize + kIndexSize);
  v.encrypted_size = (std::size_t{frame[kTransportHeaderSize]} << 8) | frame[kTransportHeaderSize + 1];
  if (v.encrypted_size < kInnerTypeSize || v.encrypted_size > frame.size() - kHeadersOuterSize - noise::kTagSize)
    return std::nullopt;
  return v;
}

void headers_seal(const HeadersKey& key, std::uint64_t counter, MutableByteView frame,
                  std::size_t encrypted_size) noexcept {
  std::uint8_t nonce[kNonceSize];
  make_nonce(counter, nonce);
  std::uint8_t* plaintext = frame.data() + kHeadersOuterSize;
  crypto_stream_chacha20_ietf_xor_ic(plaintext, plaintext, encrypted_size, nonce, 1, key.bytes);
  std::uint8_t poly_key[crypto_onetimeauth_poly1305_KEYBYTES];
  poly_key_for(key, nonce, poly_key);
  compute_tag(poly_key, frame, encrypted_size, frame.data() + frame.size() - noise::kTagSize);
  sodium_memzero(poly_key, sizeof poly_key);
}

bool headers_open(const HeadersKey& key, std::uint64_t counter, MutableByteView frame,
                  std::size_t encrypted_size) noexcept {
  std::uint8_t nonce[kNonceSize];
  make_nonce(counter, nonce);
  std::uint8_t poly_key[crypto_onetimeauth_poly1305_KEYBYTES];
  poly_key_for(key, nonce, poly_key);
  std::uint8_t tag[noise::kTagSize];
  compute_tag(poly_key, frame, encrypted_size, tag);
  sodium_memzero(poly_key, sizeof poly_key);
  if (crypto_verify_16(tag, frame.data() + frame.size() - noise::kTagSize) != 0) return false;
  std::uint8_t* ciphertext = frame.data() + kHeadersOuterSize;
  crypto_stream_chacha20_ietf_xor_ic(ciphertext, ciphertext, encrypted_size, nonce, 1, key.bytes);
  return true;
}

}  // namespace mh::sw
