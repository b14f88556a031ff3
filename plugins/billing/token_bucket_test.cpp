// The token bucket as a plan's rate limit relies on it: the configured rate over minutes
// and hours to the byte, the burst and no more after idling, no overflow from 8 kbit/s to
// 100 Gbit/s, and a clock that steps back changes nothing.
#include "token_bucket.hpp"

#include <doctest/doctest.h>

#include <cstdint>

namespace {

using mh::billing::TokenBucket;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kHour = 3600 * kSecond;
constexpr std::uint32_t kPacket = 1500;
constexpr std::uint64_t kMbit = 1'000'000;

// A sender that always has a packet waiting and sends each at the first moment the bucket
// allows; returns the bytes sent in [start_ns, end_ns].
std::uint64_t greedy(TokenBucket& bucket, std::uint32_t packet, std::uint64_t start_ns, std::uint64_t end_ns) {
  std::uint64_t sent = 0;
  for (std::uint64_t t = start_ns;;) {
    t = bucket.ready_at(packet, t);
    if (t > end_ns) return sent;
    REQUIRE(bucket.take(packet, t));
    sent += packet;
  }
}

// A sender woken by a timer every `tick_ns`, sending all the bucket allows at each tick.
std::uint64_t ticked(TokenBucket& bucket, std::uint32_t packet, std::uint64_t tick_ns, std::uint64_t end_ns) {
  std::uint64_t sent = 0;
  for (std::uint64_t t = 0; t <= end_ns; t += tick_ns) {
    while (bucket.take(packet, t)) sent += packet;
  }
  return sent;
}

}  // namespace

TEST_CASE("over a minute at 1 Mbit/s the bytes passed are within 0.1% of the rate") {
  constexpr std::uint64_t kExpected = 60 * kMbit / 8;  // 7.5 MB
  constexpr std::uint64_t kTolerance = kExpected / 1000;

  SUBCASE("a sender paced by ready_at") {
    TokenBucket bucket(kMbit, kPacket, 0);
    const std::uint64_t sent = greedy(bucket, kPacket, 0, 60 * kSecond);
    CHECK(sent + kTolerance >= kExpected);
    CHECK(sent <= kExpected + kTolerance);
  }
  SUBCASE("a sender woken every millisecond") {
    TokenBucket bucket(kMbit, 2 * kPacket, 0);
    const std::uint64_t sent = ticked(bucket, kPacket, kMs, 60 * kSecond);
    CHECK(sent + kTolerance >= kExpected);
    CHECK(sent <= kExpected + kTolerance);
  }
}

TEST_CASE("hours at an odd rate with odd packets: no drift, exact to one packet") {
  // 1 234 567 bit/s does not divide into bytes per millisecond; a bucket that rounded each
  // refill would be thousands of bytes off after two hours.
  constexpr std::uint64_t kRate = 1'234'567;
  constexpr std::uint32_t kOddPacket = 1337;
  constexpr std::uint32_t kBurst = 4000;
  constexpr std::uint64_t kDuration = 2 * kHour;
  constexpr std::uint64_t kAccrued = kRate * (kDuration / kSecond) / 8;  // exact: 7200 s × rate / 8
  TokenBucket bucket(kRate, kBurst, 0);
  const std::uint64_t sent = ticked(bucket, kOddPacket, kMs, kDuration);
  // Everything accrued plus the initial burst, less what is left over: under one packet.
  CHECK(sent <= kBurst + kAccrued);
  CHECK(sent > kBurst + kAccrued - kOddPacket);
}

TEST_CASE("a full bucket lets the burst through at once, then only the rate") {
  constexpr std::uint32_t kBurstPackets = 10;
  TokenBucket bucket(kMbit, kBurstPackets * kPacket, 0);
  for (std::uint32_t i = 0; i < kBurstPackets; ++i) CHECK(bucket.take(kPacket, 0));
  CHECK_FALSE(bucket.take(kPacket, 0));
  CHECK_FALSE(bucket.take(1, 0));
  // 1500 bytes at 1 Mbit/s take 12 ms to earn back.
  CHECK(bucket.ready_at(kPacket, 0) == 12 * kMs);
  CHECK_FALSE(bucket.take(kPacket, 12 * kMs - 1));
  CHECK(bucket.take(kPacket, 12 * kMs));
  CHECK(bucket.take(0, 12 * kMs));
}

TEST_CASE("idling refills the bucket to the burst and no further") {
  constexpr std::uint32_t kBurst = 3 * kPacket;
  TokenBucket bucket(kMbit, kBurst, 0);
  CHECK(bucket.take(kBurst, 0));
  CHECK(bucket.available_bytes(0) == 0);
  CHECK(bucket.available_bytes(kHour) == kBurst);
  CHECK(bucket.take(kBurst, kHour));
  CHECK_FALSE(bucket.take(1, kHour));
}

TEST_CASE("packets larger than the burst pass from a full bucket and the debt is repaid") {
  TokenBucket bucket(kMbit, 0, 0);  // no burst at all: pure pacing
  CHECK(bucket.ready_at(kPacket, 0) == 0);
  CHECK(bucket.take(kPacket, 0));
  CHECK(bucket.ready_at(kPacket, 0) == 12 * kMs);
  CHECK(bucket.ready_at(1, 0) == 12 * kMs);  // the debt comes first, whatever the size
  CHECK_FALSE(bucket.take(kPacket, 12 * kMs - 1));
  CHECK(bucket.take(kPacket, 12 * kMs));
  // Paced this way the rate still holds.
  const std::uint64_t sent = greedy(bucket, kPacket, 12 * kMs, 12 * kMs + 60 * kSecond);
  CHECK(sent == 60 * kMbit / 8);
}

TEST_CASE("very low and very high rates neither overflow nor lose precision") {
  SUBCASE("8 kbit/s: a kilobyte a second") {
    constexpr std::uint64_t kRate = 8'000;
    TokenBucket bucket(kRate, kPacket, 0);
    CHECK(bucket.take(kPacket, 0));
    CHECK(bucket.ready_at(kPacket, 0) == 1500 * kMs);
    CHECK(bucket.ready_at(1, 0) == 1 * kMs);
    CHECK(bucket.available_bytes(10 * kHour) == kPacket);
    CHECK(greedy(bucket, kPacket, 0, 60 * kSecond) == 60'000 - 60'000 % kPacket);
  }
  SUBCASE("100 Gbit/s: 12.5 bytes a nanosecond") {
    constexpr std::uint64_t kRate = 100'000 * kMbit;
    TokenBucket bucket(kRate, 64 * 1024, 0);
    CHECK(bucket.take(64 * 1024, 0));
    CHECK(bucket.ready_at(kPacket, 0) == 120);
    CHECK(bucket.ready_at(1, 0) == 1);  // 0.64 ns, rounded up
    // 10 ms of back-to-back packets: 125 MB, plus the burst already spent above.
    const std::uint64_t sent = greedy(bucket, kPacket, 0, 10 * kMs);
    CHECK(sent <= 125'000'000);
    CHECK(sent > 125'000'000 - kPacket);
  }
  SUBCASE("the largest burst, the fastest rate and a clock read near its end") {
    constexpr std::uint64_t kLate = UINT64_MAX - kHour;
    TokenBucket bucket(TokenBucket::kMaxRateBps * 10, TokenBucket::kMaxBytes, 0);
    CHECK(bucket.rate_bps() == TokenBucket::kMaxRateBps);
    CHECK(bucket.available_bytes(kLate) == TokenBucket::kMaxBytes);
    CHECK(bucket.take(TokenBucket::kMaxBytes, kLate));
    CHECK(bucket.take(TokenBucket::kMaxBytes, kLate + kHour));  // a full refill, then debt
    CHECK(bucket.ready_at(1, kLate + kHour) == TokenBucket::kNever);  // past the clock's end
    CHECK(bucket.available_bytes(UINT64_MAX) == 0);
  }
}

TEST_CASE("bytes that can never pass say so") {
  TokenBucket stopped(0, kPacket, 0);
  CHECK(stopped.take(kPacket, 0));
  CHECK(stopped.ready_at(kPacket, kHour) == TokenBucket::kNever);
  CHECK_FALSE(stopped.take(1, kHour));

  TokenBucket bucket(kMbit, kPacket, 0);
  CHECK(bucket.ready_at(TokenBucket::kMaxBytes + 1, 0) == TokenBucket::kNever);
  CHECK_FALSE(bucket.take(TokenBucket::kMaxBytes + 1, kHour));
}

TEST_CASE("a clock stepping back neither refills nor rewinds the bucket") {
  TokenBucket bucket(kMbit, kPacket, 10 * kSecond);
  CHECK(bucket.take(kPacket, 10 * kSecond));
  CHECK_FALSE(bucket.take(kPacket, 5 * kSecond));
  // Asked at an earlier time, the answer is still counted from the latest time seen.
  CHECK(bucket.ready_at(kPacket, 5 * kSecond) == 10 * kSecond + 12 * kMs);
  CHECK_FALSE(bucket.take(kPacket, 10 * kSecond + 12 * kMs - 1));
  CHECK(bucket.take(kPacket, 10 * kSecond + 12 * kMs));
  // Going back after a refill does not hand out the same tokens twice.
  CHECK_FALSE(bucket.take(kPacket, 10 * kSecond));
}

TEST_CASE("a rate changed at run time applies from that moment") {
  TokenBucket bucket(kMbit, kPacket, 0);
  CHECK(bucket.take(kPacket, 0));
  // 6 ms at 1 Mbit/s earn half a packet; then at 2 Mbit/s the other half takes 3 ms.
  bucket.set_rate(2 * kMbit, 6 * kMs);
  CHECK(bucket.rate_bps() == 2 * kMbit);
  CHECK(bucket.ready_at(kPacket, 6 * kMs) == 9 * kMs);
  // Throttled to 8 kbit/s: what was earned stays, the rest comes slowly.
  bucket.set_rate(8'000, 9 * kMs);
  CHECK(bucket.take(kPacket, 9 * kMs));
  CHECK(bucket.ready_at(kPacket, 9 * kMs) == 9 * kMs + 1500 * kMs);
  // A smaller burst drops the tokens above it.
  bucket.set_burst(100, kHour);
  CHECK(bucket.burst_bytes() == 100);
  CHECK(bucket.available_bytes(kHour) == 100);
}
