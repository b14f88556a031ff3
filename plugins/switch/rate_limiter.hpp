// Per-endpoint limit on handshakes a busy responder does a DH for (wireguard-go's
// ratelimiter): under load, an initiation with a valid mac2 — so from an endpoint that can
// really receive — still gets at most `per_second` DH a second from that endpoint, after a
// burst. Fixed memory: a table of buckets indexed by a keyed hash of the endpoint; a
// collision takes the bucket over.
#pragma once

#include <meshhost/packet.hpp>

#include <cstdint>
#include <vector>

namespace mh::sw {

class HandshakeRateLimiter {
 public:
  static constexpr std::uint32_t kDefaultPerSecond = 20;
  static constexpr std::uint32_t kDefaultBurst = 5;
  static constexpr std::uint32_t kDefaultBuckets = 1024;

  // `buckets` is rounded up to a power of two.
  explicit HandshakeRateLimiter(std::uint32_t per_second = kDefaultPerSecond, std::uint32_t burst = kDefaultBurst,
                                std::uint32_t buckets = kDefaultBuckets);

  // Whether a handshake from `from` may go ahead at now_ns; takes a token if so.
  bool allow(const Endpoint& from, std::uint64_t now_ns) noexcept;

 private:
  struct Bucket {
    Endpoint endpoint;
    std::uint64_t last_ns = 0;
    std::uint64_t credit_ns = 0;  // tokens, as time: one handshake costs cost_ns_
    bool used = false;
  };
  std::uint64_t cost_ns_;
  std::uint64_t max_credit_ns_;
  std::vector<Bucket> buckets_;
  std::uint32_t mask_;
  std::uint8_t hash_key_[16];
};

}  // namespace mh::sw
