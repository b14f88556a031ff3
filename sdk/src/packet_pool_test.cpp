// Tests for FixedPacketPool and the Packet buffer operations every layer uses to add and
// strip its header in place.
#include <meshhost/packet_pool.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

TEST_CASE("a fresh packet has the pool's headroom and no data") {
  mh::FixedPacketPool pool(4, 2048, 256);
  CHECK(pool.headroom() == 256);
  CHECK(pool.buffer_size() == 2048);
  mh::Packet* p = pool.acquire();
  REQUIRE(p != nullptr);
  CHECK(p->pool == &pool);
  CHECK(p->capacity == 2048);
  CHECK(p->headroom() == 256);
  CHECK(p->length == 0);
  CHECK(p->tailroom() == 2048 - 256);
  CHECK(p->data() == p->buffer + 256);
  p->release();
  CHECK(pool.in_use() == 0);
}

TEST_CASE("defaults: 256 bytes of headroom in 2048-byte buffers") {
  mh::FixedPacketPool pool(1);
  CHECK(pool.headroom() == 256);
  CHECK(pool.buffer_size() == 2048);
}

TEST_CASE("bad geometry is refused at construction") {
  CHECK_THROWS_AS(mh::FixedPacketPool(0), std::invalid_argument);
  CHECK_THROWS_AS(mh::FixedPacketPool(1, 128, 129), std::invalid_argument);
  CHECK_NOTHROW(mh::FixedPacketPool(1, 128, 128));  // all headroom, no payload: legal
}

TEST_CASE("layers prepend headers into the headroom and consume them again") {
  mh::FixedPacketPool pool(1, 64, 16);
  mh::Packet* p = pool.acquire();
  REQUIRE(p != nullptr);

  std::uint8_t* payload = p->append(4);
  REQUIRE(payload != nullptr);
  std::memcpy(payload, "data", 4);
  std::uint8_t* inner = p->prepend(6);
  REQUIRE(inner != nullptr);
  std::memcpy(inner, "inner:", 6);
  std::uint8_t* outer = p->prepend(10);
  REQUIRE(outer != nullptr);
  std::memcpy(outer, "outer-hdr:", 10);
  CHECK(p->headroom() == 0);
  CHECK(p->length == 20);
  CHECK(std::memcmp(p->data(), "outer-hdr:inner:data", 20) == 0);

  // The headroom is spent: a further header does not fit and changes nothing.
  CHECK(p->prepend(1) == nullptr);
  CHECK(p->length == 20);

  // The receiver strips headers in the opposite order.
  CHECK(p->consume(10));
  CHECK(std::memcmp(p->data(), "inner:data", 10) == 0);
  CHECK(p->consume(6));
  CHECK(p->view().size == 4);
  CHECK(std::memcmp(p->view().data, "data", 4) == 0);
  CHECK_FALSE(p->consume(5));
  CHECK(p->length == 4);
  p->release();
}

TEST_CASE("append and trim respect the buffer's end") {
  mh::FixedPacketPool pool(1, 64, 16);
  mh::Packet* p = pool.acquire();
  REQUIRE(p != nullptr);
  CHECK(p->append(49) == nullptr);  // 64 - 16 = 48 bytes of tailroom
  CHECK(p->length == 0);
  std::uint8_t* all = p->append(48);
  REQUIRE(all != nullptr);
  CHECK(all == p->buffer + 16);
  CHECK(p->tailroom() == 0);
  CHECK(p->append(1) == nullptr);
  CHECK(p->trim(8));
  CHECK(p->length == 40);
  CHECK(p->tailroom() == 8);
  CHECK_FALSE(p->trim(41));
  CHECK(p->trim(40));
  CHECK(p->length == 0);
  p->release();
}

TEST_CASE("an exhausted pool answers nullptr and counts it") {
  mh::FixedPacketPool pool(3, 256, 32);
  std::vector<mh::Packet*> held;
  for (int i = 0; i < 3; ++i) {
    mh::Packet* p = pool.acquire();
    REQUIRE(p != nullptr);
    held.push_back(p);
  }
  CHECK(std::set<mh::Packet*>(held.begin(), held.end()).size() == 3);
  CHECK(std::set<std::uint8_t*>{held[0]->buffer, held[1]->buffer, held[2]->buffer}.size() == 3);
  CHECK(pool.in_use() == 3);
  CHECK(pool.available() == 0);
  CHECK(pool.acquire() == nullptr);
  CHECK(pool.acquire() == nullptr);
  CHECK(pool.exhausted_count() == 2);

  held.back()->release();
  held.pop_back();
  mh::Packet* again = pool.acquire();
  CHECK(again != nullptr);
  held.push_back(again);
  for (mh::Packet* p : held) p->release();
  CHECK(pool.in_use() == 0);
  CHECK(pool.high_water() == 3);
}

TEST_CASE("a reused packet comes back reset, from the same slab") {
  mh::FixedPacketPool pool(2, 256, 32);
  std::set<const std::uint8_t*> buffers;
  for (int round = 0; round < 100; ++round) {
    mh::Packet* p = pool.acquire();
    REQUIRE(p != nullptr);
    buffers.insert(p->buffer);
    CHECK(p->headroom() == 32);
    CHECK(p->length == 0);
    CHECK(p->endpoint.size == 0);
    CHECK(p->endpoint.kind == 0);
    CHECK(p->endpoint.bytes[0] == 0);
    CHECK(p->tag[0] == 0);
    CHECK(p->tag[1] == 0);
    // Leave the packet dirty the way any owner might.
    REQUIRE(p->prepend(10) != nullptr);
    REQUIRE(p->append(100) != nullptr);
    p->endpoint.size = 6;
    p->endpoint.kind = 3;
    p->endpoint.bytes[0] = 0xaa;
    p->tag[0] = 7;
    p->tag[1] = 9;
    p->release();
  }
  // Only the preallocated buffers ever appear: reuse, never fresh memory.
  CHECK(buffers.size() <= 2);
  CHECK(pool.high_water() == 1);
  CHECK(pool.exhausted_count() == 0);
}

TEST_CASE("a pool knows its own packets") {
  mh::FixedPacketPool a(2, 128, 16);
  mh::FixedPacketPool b(2, 128, 16);
  mh::Packet* p = a.acquire();
  REQUIRE(p != nullptr);
  CHECK(a.owns(p));
  CHECK_FALSE(b.owns(p));
  mh::Packet outside{};
  CHECK_FALSE(a.owns(&outside));
  p->release();
}

#ifdef NDEBUG
// Debug builds assert on these instead; release builds refuse them and stay sound.
TEST_CASE("a foreign or repeated release is refused and counted") {
  mh::FixedPacketPool a(2, 128, 16);
  mh::FixedPacketPool b(2, 128, 16);
  mh::Packet* p = a.acquire();
  REQUIRE(p != nullptr);
  b.release(p);
  CHECK(b.misuse_count() == 1);
  CHECK(b.available() == 2);
  a.release(p);
  a.release(p);
  CHECK(a.misuse_count() == 1);
  CHECK(a.available() == 2);
  // The free list still hands out two distinct packets.
  mh::Packet* x = a.acquire();
  mh::Packet* y = a.acquire();
  CHECK(x != y);
  CHECK(a.acquire() == nullptr);
  x->release();
  y->release();
}
#endif
