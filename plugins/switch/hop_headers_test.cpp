// The 0x05 AEAD is RFC 8439 ChaCha20-Poly1305: checked against libsodium's one-shot AEAD
// with the associated data (outer header || e2e bytes) copied together.
#include "hop_headers.hpp"

#include <doctest/doctest.h>
#include <sodium.h>

#include <cstring>
#include <vector>

using namespace mh;
using namespace mh::sw;

namespace {

// A frame: outer header, `encrypted` plaintext bytes, `e2e` bytes, room for the tag.
std::vector<std::uint8_t> make_frame(std::size_t encrypted, std::size_t e2e, std::uint64_t counter) {
  std::vector<std::uint8_t> frame(kHeadersOuterSize + encrypted + e2e + noise::kTagSize);
  put_header(frame.data(), FrameType::transport_headers);
  put_u32(frame.data() + 2, 0x01020304);
  put_u64(frame.data() + 6, counter);
  frame[14] = static_cast<std::uint8_t>(encrypted >> 8);
  frame[15] = static_cast<std::uint8_t>(encrypted);
  for (std::size_t i = kHeadersOuterSize; i < frame.size() - noise::kTagSize; ++i)
    frame[i] = static_cast<std::uint8_t>(i * 7);
  return frame;
}

}  // namespace

TEST_CASE("0x05: the streamed AEAD equals the one-shot RFC 8439 AEAD with the AD copied together") {
  REQUIRE(sodium_init() >= 0);
  HeadersKey key;
  randombytes_buf(key.bytes, sizeof key.bytes);
  for (const auto& [encrypted, e2e] : {std::pair<std::size_t, std::size_t>{1, 0}, {41, 0}, {41, 1}, {57, 1239},
                                       {100, 15}, {1, 16}, {300, 33}}) {
    const std::uint64_t counter = 0x1122334455667788ull + encrypted;
    auto frame = make_frame(encrypted, e2e, counter);
    const auto original = frame;
    headers_seal(key, counter, frame, encrypted);

    // The one-shot AEAD: AD = outer header || e2e bytes, message = the encrypted part.
    std::vector<std::uint8_t> ad(original.begin(), original.begin() + kHeadersOuterSize);
    ad.insert(ad.end(), original.begin() + kHeadersOuterSize + encrypted, original.end() - noise::kTagSize);
    std::vector<std::uint8_t> ciphertext(encrypted);
    std::uint8_t mac[16];
    std::uint8_t nonce[12] = {};
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(ciphertext.data(), mac, nullptr,
                                                       original.data() + kHeadersOuterSize, encrypted, ad.data(),
                                                       ad.size(), nullptr, nonce, key.bytes);
    CAPTURE(encrypted);
    CAPTURE(e2e);
    CHECK(std::memcmp(frame.data() + kHeadersOuterSize, ciphertext.data(), encrypted) == 0);
    CHECK(std::memcmp(frame.data() + frame.size() - 16, mac, 16) == 0);
    // The outer header and the e2e bytes stay as they were.
    CHECK(std::memcmp(frame.data(), original.data(), kHeadersOuterSize) == 0);
    CHECK(std::memcmp(frame.data() + kHeadersOuterSize + encrypted, original.data() + kHeadersOuterSize + encrypted,
                      e2e) == 0);

    const auto view = parse_headers_frame(frame);
    REQUIRE(view);
    CHECK(view->counter == counter);
    CHECK(view->receiver_index == 0x01020304);
    CHECK(view->encrypted_size == encrypted);
    CHECK(headers_open(key, counter, frame, encrypted));
    CHECK(std::memcmp(frame.data(), original.data(), frame.size() - noise::kTagSize) == 0);
  }
}

TEST_CASE("0x05: a flipped bit anywhere (header, encrypted part, e2e bytes, tag) fails to open") {
  HeadersKey key;
  randombytes_buf(key.bytes, sizeof key.bytes);
  const std::size_t encrypted = 50, e2e = 30;
  auto sealed = make_frame(encrypted, e2e, 9);
  headers_seal(key, 9, sealed, encrypted);
  for (std::size_t at : {std::size_t{3}, std::size_t{15}, kHeadersOuterSize + 10, kHeadersOuterSize + encrypted + 5,
                         sealed.size() - 1}) {
    auto frame = sealed;
    frame[at] ^= 0x40;
    CAPTURE(at);
    CHECK_FALSE(headers_open(key, 9, frame, encrypted));
  }
  auto frame = sealed;
  CHECK_FALSE(headers_open(key, 10, frame, encrypted));  // another counter
  CHECK(headers_open(key, 9, frame, encrypted));
}

TEST_CASE("0x05: parse refuses short frames and lengths that do not fit") {
  auto frame = make_frame(10, 5, 1);
  CHECK(parse_headers_frame(frame));
  frame[15] = 0;
  CHECK_FALSE(parse_headers_frame(frame));  // encrypted length 0: not even the inner type
  frame[15] = static_cast<std::uint8_t>(15);
  CHECK(parse_headers_frame(frame));
  frame[15] = static_cast<std::uint8_t>(16);
  CHECK_FALSE(parse_headers_frame(frame));
  frame[1] = 0x04;
  CHECK_FALSE(parse_headers_frame(frame));
  CHECK_FALSE(parse_headers_frame(ByteView(frame.data(), kHeadersMinSize - 1)));
}
