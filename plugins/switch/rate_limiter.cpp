// Token buckets per endpoint, in a fixed table keyed by SipHash (libsodium crypto_shorthash).
#include "rate_limiter.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace mh::sw {


HandshakeRateLimiter::HandshakeRateLimiter(std::uint32_t per_second, std::uint32_t burst, std::uint32_t buckets)
    : cost_ns_(1'000'000'000 / std::max<std::uint32_t>(per_second, 1)),
      max_credit_ns_(cost_ns_ * std::max<std::uint32_t>(burst, 1)) {
  std::uint32_t size = 1;
  while (size < buckets && size < (1u << 20)) size <<= 1;
  buckets_.resize(size);
  mask_ = size - 1;
  static_assert(sizeof hash_key_ == crypto_shorthash_KEYBYTES);
  randombytes_buf(hash_key_, sizeof hash_key_);
}

bool HandshakeRateLimiter::allow(const Endpoint& from, std::uint64_t now_ns) noexcept {
  std::uint8_t input[2 + Endpoint::kMaxSize];
  const std::size_t size = std::min<std::size_t>(from.size, Endpoint::kMaxSize);
  input[0] = from.kind;
  input[1] = static_cast<std::uint8_t>(size);
  std::memcpy(input + 2, from.bytes, size);
  std::uint8_t hash[crypto_shorthash_BYTES];
  crypto_shorthash(hash, input, 2 + size, hash_key_);
  std::uint32_t index = 0;
  std::memcpy(&index, hash, sizeof index);
  Bucket& b = buckets_[index & mask_];

  const bool same = b.used && b.endpoint.kind == from.kind && b.endpoint.size == from.size &&
                    std::memcmp(b.endpoint.bytes, from.bytes, size) == 0;
  if (!same) {
    b.endpoint = from;
    b.used = true;
    b.last_ns = now_ns;
    b.credit_ns = max_credit_ns_;
  } else if (now_ns > b.last_ns) {
    b.credit_ns = std::min(max_credit_ns_, b.credit_ns + (now_ns - b.last_ns));
    b.last_ns = now_ns;
  }
  if (b.credit_ns < cost_ns_) return false;
  b.credit_ns -= cost_ns_;
  return true;
}

}  // namespace mh::sw
