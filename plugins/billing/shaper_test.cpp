// The shaper as a rate-limited client sees it: packets keep their order, wait no longer
// than the rate needs, the queue never holds more than its bounds, and at stop every
// packet goes back to the pool it came from.
#include "shaper.hpp"

#include <meshhost/packet_pool.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace {

using mh::FixedPacketPool;
using mh::Packet;
using mh::billing::queue_bytes_bound;
using mh::billing::Shaper;
using mh::billing::ShaperConfig;
using mh::billing::ShaperVerdict;
using mh::billing::TokenBucket;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kMbit = 1'000'000;
constexpr std::uint32_t kPacket = 1500;
constexpr std::uint32_t kPoolPackets = 256;
constexpr std::size_t kDrainBatch = 32;

ShaperConfig config(std::uint64_t rate_bps, std::uint32_t queue_packets, std::uint32_t burst_bytes = kPacket) {
  ShaperConfig c;
  c.rate_bps = rate_bps;
  c.queue_packets = queue_packets;
  c.burst_bytes = burst_bytes;
  return c;
}

// A packet from `pool` numbered `n` in tag[0] — the caller's scratch, which the shaper
// leaves alone — so order can be checked on the way out.
Packet* numbered(FixedPacketPool& pool, std::uint64_t n) {
  Packet* p = pool.acquire();
  REQUIRE(p != nullptr);
  p->tag[0] = n;
  return p;
}

// Offers `count` numbered packets at `now_ns`; packets refused are released at once, as
// the gateway does. Returns how many got each verdict.
struct Offered {
  std::vector<Packet*> passed;
  std::size_t queued = 0, dropped = 0;
};
Offered offer_many(Shaper& shaper, FixedPacketPool& pool, std::size_t count, std::uint64_t now_ns,
                   std::uint32_t bytes = kPacket, std::uint64_t first = 0) {
  Offered o;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* p = numbered(pool, first + i);
    switch (shaper.offer(p, bytes, now_ns)) {
      case ShaperVerdict::pass: o.passed.push_back(p); break;
      case ShaperVerdict::queued: o.queued++; break;
      case ShaperVerdict::drop:
        o.dropped++;
        p->release();
        break;
    }
  }
  return o;
}

void release_all(std::vector<Packet*>& packets) {
  for (Packet* p : packets) p->release();
  packets.clear();
}

}  // namespace

TEST_CASE("within the rate with nothing waiting, packets pass; over it they queue") {
  FixedPacketPool pool(kPoolPackets);
  Shaper shaper(config(kMbit, 16, 2 * kPacket), 0);
  Offered o = offer_many(shaper, pool, 5, 0);
  CHECK(o.passed.size() == 2);  // the burst
  CHECK(o.queued == 3);
  CHECK(o.dropped == 0);
  // Tokens back, but the queue is not empty: a new packet must not overtake it.
  Packet* late = numbered(pool, 99);
  CHECK(shaper.offer(late, 40, 12 * kMs) == ShaperVerdict::queued);
  CHECK(shaper.queued_packets() == 4);
  CHECK(shaper.queued_bytes() == 3 * kPacket + 40);
  CHECK(shaper.counters().passed_packets == 2);
  CHECK(shaper.counters().queued_packets == 4);
  release_all(o.passed);
  shaper.clear([](Packet* p) { p->release(); });
  CHECK(pool.in_use() == 0);
}

TEST_CASE("drained packets leave in the order they came") {
  FixedPacketPool pool(kPoolPackets);
  constexpr std::size_t kCount = 40;
  Shaper shaper(config(kMbit, kCount, kPacket), 0);
  Offered o = offer_many(shaper, pool, kCount, 0);
  REQUIRE(o.passed.size() == 1);
  REQUIRE(o.queued == kCount - 1);
  std::vector<std::uint64_t> order{o.passed[0]->tag[0]};
  release_all(o.passed);
  Packet* out[kDrainBatch];
  // Interleave more offers with the drains: the newcomers wait behind the rest.
  std::uint64_t next = kCount;
  for (std::uint64_t t = 0; shaper.queued_packets() > 0; t = shaper.next_wakeup(t)) {
    const std::size_t n = shaper.drain(t, out, kDrainBatch);
    for (std::size_t i = 0; i < n; ++i) {
      order.push_back(out[i]->tag[0]);
      out[i]->release();
    }
    if (next < kCount + 5) {
      Offered more = offer_many(shaper, pool, 1, t, kPacket, next++);
      CHECK(more.passed.empty());
    }
  }
  REQUIRE(order.size() == kCount + 5);
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("the queue never holds more than its packet and byte bounds") {
  FixedPacketPool pool(kPoolPackets);

  SUBCASE("packets: the ring's capacity") {
    Shaper shaper(config(100 * kMbit, 8, kPacket), 0);
    Offered o = offer_many(shaper, pool, 20, 0);
    CHECK(o.passed.size() == 1);
    CHECK(o.queued == 8);
    CHECK(o.dropped == 11);
    CHECK(shaper.counters().dropped_packets == 11);
    CHECK(shaper.counters().dropped_bytes == 11 * kPacket);
    release_all(o.passed);
    shaper.clear([](Packet* p) { p->release(); });
  }
  SUBCASE("bytes: 64 KiB at a low rate, where 100 ms is less") {
    Shaper shaper(config(8'000, 200, kPacket), 0);
    CHECK(shaper.capacity_bytes() == ShaperConfig::kMinQueueBytes);
    Offered o = offer_many(shaper, pool, 100, 0);
    CHECK(o.queued == ShaperConfig::kMinQueueBytes / kPacket);  // 43 × 1500 ≤ 65536 < 44 × 1500
    CHECK(shaper.queued_bytes() <= ShaperConfig::kMinQueueBytes);
    // A small packet still fits in what is left.
    Packet* small = numbered(pool, 1000);
    CHECK(shaper.offer(small, 64, 0) == ShaperVerdict::queued);
    release_all(o.passed);
    shaper.clear([](Packet* p) { p->release(); });
  }
  SUBCASE("bytes: 100 ms worth at the rate, capped") {
    ShaperConfig c = config(100 * kMbit, 200);
    CHECK(queue_bytes_bound(c, 100 * kMbit) == 1'250'000);  // 100 Mbit/s × 100 ms / 8
    CHECK(queue_bytes_bound(c, 10'000 * kMbit) == ShaperConfig::kMaxQueueBytes);
    CHECK(queue_bytes_bound(c, TokenBucket::kMaxRateBps) == ShaperConfig::kMaxQueueBytes);
    c.max_queue_bytes = 1000;  // the cap wins over the minimum
    CHECK(queue_bytes_bound(c, 8'000) == 1000);
  }
  CHECK(pool.in_use() == 0);
}

TEST_CASE("drain releases packets exactly when the rate allows") {
  FixedPacketPool pool(kPoolPackets);
  Shaper shaper(config(kMbit, 64, kPacket), 0);
  CHECK(shaper.next_wakeup(0) == TokenBucket::kNever);  // nothing held: no timer needed
  Offered o = offer_many(shaper, pool, 11, 0);
  release_all(o.passed);
  Packet* out[kDrainBatch];
  // 1500 bytes at 1 Mbit/s: one packet every 12 ms.
  for (std::uint64_t k = 1; k <= 10; ++k) {
    const std::uint64_t due = k * 12 * kMs;
    CHECK(shaper.next_wakeup((k - 1) * 12 * kMs) == due);
    CHECK(shaper.drain(due - 1, out, kDrainBatch) == 0);
    REQUIRE(shaper.drain(due, out, kDrainBatch) == 1);
    out[0]->release();
  }
  CHECK(shaper.next_wakeup(120 * kMs) == TokenBucket::kNever);

  SUBCASE("a second of a saturating sender drains at the rate") {
    std::size_t drained = 0;
    std::uint64_t next = 0;
    for (std::uint64_t t = 120 * kMs; t <= 120 * kMs + kSecond; t += kMs) {
      const std::size_t n = shaper.drain(t, out, kDrainBatch);
      for (std::size_t i = 0; i < n; ++i) out[i]->release();
      drained += n;
      Offered more = offer_many(shaper, pool, 2, t, kPacket, next);  // twice the rate
      next += 2;
      drained += more.passed.size();
      release_all(more.passed);
    }
    // 1 Mbit/s for a second is 83.3 packets of 1500 bytes.
    CHECK(drained >= 83);
    CHECK(drained <= 84);
    shaper.clear([](Packet* p) { p->release(); });
  }
  CHECK(pool.in_use() == 0);
}

TEST_CASE("a late timer gets what the burst saved, at most `max` per call") {
  FixedPacketPool pool(kPoolPackets);
  constexpr std::uint32_t kBurstPackets = 4;
  Shaper shaper(config(kMbit, 64, kBurstPackets * kPacket), 0);
  Offered o = offer_many(shaper, pool, 10, 0);
  CHECK(o.passed.size() == kBurstPackets);
  release_all(o.passed);
  // Due at 12 ms but woken at 100 ms: the bucket saved up to its burst, no more.
  constexpr std::uint64_t kLate = 100 * kMs;
  CHECK(shaper.next_wakeup(kLate) == kLate);
  Packet* out[kDrainBatch];
  CHECK(shaper.drain(kLate, out, 3) == 3);
  for (std::size_t i = 0; i < 3; ++i) out[i]->release();
  CHECK(shaper.drain(kLate, out, kDrainBatch) == 1);
  out[0]->release();
  CHECK(shaper.queued_packets() == 2);
  CHECK(shaper.next_wakeup(kLate) == kLate + 12 * kMs);
  shaper.clear([](Packet* p) { p->release(); });
  CHECK(pool.in_use() == 0);
}

TEST_CASE("clear hands every held packet back, oldest first") {
  FixedPacketPool pool(64);
  Shaper shaper(config(8'000, 32, kPacket), 0);
  Offered o = offer_many(shaper, pool, 40, 0);
  CHECK(o.queued == 32);
  release_all(o.passed);
  CHECK(pool.in_use() == 32);
  std::vector<std::uint64_t> order;
  shaper.clear([&order](Packet* p) {
    order.push_back(p->tag[0]);
    p->release();
  });
  CHECK(pool.in_use() == 0);
  CHECK(pool.misuse_count() == 0);
  REQUIRE(order.size() == 32);
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i + 1);
  CHECK(shaper.queued_packets() == 0);
  CHECK(shaper.queued_bytes() == 0);
  CHECK(shaper.next_wakeup(0) == TokenBucket::kNever);
  // The ring is reusable after a clear.
  Offered again = offer_many(shaper, pool, 3, 0);
  CHECK(again.queued == 3);
  shaper.clear([](Packet* p) { p->release(); });
  CHECK(pool.in_use() == 0);
}

TEST_CASE("a throttle at run time slows the queue and shrinks its byte bound") {
  FixedPacketPool pool(kPoolPackets);
  Shaper shaper(config(100 * kMbit, 200, kPacket), 0);
  Offered o = offer_many(shaper, pool, 100, 0);
  release_all(o.passed);
  CHECK(o.queued == 99);
  shaper.set_rate(8'000, 0);
  CHECK(shaper.rate_bps() == 8'000);
  CHECK(shaper.capacity_bytes() == ShaperConfig::kMinQueueBytes);
  // What was queued stays (99 × 1500 > 64 KiB); new packets wait for room.
  CHECK(shaper.queued_packets() == 99);
  Offered refused = offer_many(shaper, pool, 1, 0);
  CHECK(refused.dropped == 1);
  CHECK(shaper.next_wakeup(0) == 1500 * kMs);  // 1500 bytes at 1 kB/s
  shaper.clear([](Packet* p) { p->release(); });
  CHECK(pool.in_use() == 0);
}

TEST_CASE("a moved shaper keeps its packets; the moved-from one holds none") {
  FixedPacketPool pool(16);
  Shaper a(config(8'000, 8, kPacket), 0);
  Offered o = offer_many(a, pool, 4, 0);
  release_all(o.passed);
  Shaper b(std::move(a));
  CHECK(b.queued_packets() == 3);
  std::vector<Shaper> shapers;
  shapers.push_back(std::move(b));
  std::size_t released = 0;
  shapers[0].clear([&released](Packet* p) {
    released++;
    p->release();
  });
  CHECK(released == 3);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("a queue of no packets is a configuration error") {
  CHECK_THROWS_AS(Shaper(config(kMbit, 0), 0), std::invalid_argument);
}
