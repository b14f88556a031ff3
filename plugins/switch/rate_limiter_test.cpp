// One endpoint gets its burst and then its rate; others are not affected.
#include "rate_limiter.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace mh::sw;

namespace {
mh::Endpoint endpoint(std::uint8_t b) {
  mh::Endpoint e;
  e.kind = 1;
  e.size = 6;
  std::memset(e.bytes, b, 6);
  return e;
}
}  // namespace

TEST_CASE("handshakes from one endpoint are limited to a burst and then a rate") {
  HandshakeRateLimiter limiter(20, 5);
  const std::uint64_t t0 = 1'000'000'000;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limiter.allow(endpoint(1), t0) ? 1 : 0;
  CHECK(allowed == 5);
  CHECK(limiter.allow(endpoint(2), t0));  // someone else still gets through
  // One second later: 20 more (the bucket refills at 20/s, capped at the burst of 5).
  allowed = 0;
  for (int ms = 1; ms <= 1000; ++ms) allowed += limiter.allow(endpoint(1), t0 + ms * 1'000'000ull) ? 1 : 0;
  CHECK(allowed >= 20);
  CHECK(allowed <= 25);
}
