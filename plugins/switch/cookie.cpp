// Cookie secret, cookie replies (XChaCha20-Poly1305) and the load meter.
#include "cookie.hpp"

#include <sodium.h>

namespace mh::sw {

namespace {
constexpr std::uint64_t kSecond = 1'000'000'000;
static_assert(kCookieNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kMacKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kEncryptedCookieSize == kCookieSize + crypto_aead_xchacha20poly1305_ietf_ABYTES);
}  // namespace

CookieChecker::CookieChecker(const PublicKey& local, std::uint64_t rotate_after_ns) noexcept
    : mac1_key_(mac1_key_for(local)), cookie_key_(cookie_key_for(local)), rotate_after_ns_(rotate_after_ns) {}

bool CookieChecker::check_mac1(ByteView covered, ByteView mac1) const noexcept {
  return mac_equal(compute_mac1(mac1_key_, covered), mac1);
}

void CookieChecker::rotate_if_due(std::uint64_t now_ns) noexcept {
  if (has_secret_ && now_ns - secret_born_ns_ < rotate_after_ns_) return;
  randombytes_buf(secret_, sizeof secret_);
  secret_born_ns_ = now_ns;
  has_secret_ = true;
}

Cookie CookieChecker::cookie_for(const Endpoint& from, std::uint64_t now_ns) noexcept {
  rotate_if_due(now_ns);
  Cookie out;
  crypto_generichash_state state;
  crypto_generichash_init(&state, secret_, sizeof secret_, sizeof out.bytes);
  const std::uint8_t prefix[2] = {from.kind, from.size};
  crypto_generichash_update(&state, prefix, sizeof prefix);
  crypto_generichash_update(&state, from.bytes, from.size <= Endpoint::kMaxSize ? from.size : Endpoint::kMaxSize);
  crypto_generichash_final(&state, out.bytes, sizeof out.bytes);
  return out;
}

bool CookieChecker::check_mac2(const Endpoint& from, ByteView covered, ByteView mac2, std::uint64_t now_ns) noexcept {
  return mac_equal(compute_mac2(cookie_for(from, now_ns), covered), mac2);
}

void CookieChecker::write_reply(std::uint32_t receiver_index, ByteView initiation_mac1, const Endpoint& from,
                                std::uint64_t now_ns, std::uint8_t* out) noexcept {
  const Cookie cookie = cookie_for(from, now_ns);
  put_header(out, FrameType::cookie_reply);
  put_u32(out + kFrameHeaderSize, receiver_index);
  std::uint8_t* nonce = out + kFrameHeaderSize + kIndexSize;
  randombytes_buf(nonce, kCookieNonceSize);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kCookieNonceSize, &written, cookie.bytes, sizeof cookie.bytes,
                                             initiation_mac1.data(), initiation_mac1.size(), nullptr, nonce,
                                             cookie_key_.bytes);
}

bool open_cookie_reply(const MacKey& cookie_key, const CookieReplyView& reply, ByteView sent_mac1,
                       Cookie* out) noexcept {
  unsigned long long written = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out->bytes, &written, nullptr, reply.encrypted_cookie.data(),
                                                    reply.encrypted_cookie.size(), sent_mac1.data(), sent_mac1.size(),
                                                    reply.nonce.data(), cookie_key.bytes) == 0 &&
         written == kCookieSize;
}

bool LoadMeter::record(std::uint64_t now_ns) noexcept {
  if (now_ns - window_start_ns_ >= kSecond || now_ns < window_start_ns_) {
    window_start_ns_ = now_ns;
    in_window_ = 0;
  }
  if (++in_window_ > threshold_) under_load_until_ns_ = now_ns + kSecond;
  return under_load(now_ns);
}

}  // namespace mh::sw

