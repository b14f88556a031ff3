// The FIB: what the router installs is what forwarding finds, up to maxRoutes.
#include "fib.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>

using namespace mh;
using namespace mh::sw;

namespace {

Address random_address(std::mt19937& rng) {
  Address a;
  for (auto& b : a.bytes) b = static_cast<std::uint8_t>(rng());
  a.bytes[0] = 0xfc;
  return a;
}

struct Less {
  bool operator()(const Address& a, const Address& b) const { return std::memcmp(a.bytes, b.bytes, kAddressSize) < 0; }
};

}  // namespace

TEST_CASE("fib: set, replace, lookup and remove") {
  Fib fib(8);
  std::mt19937 rng(1);
  const Address a = random_address(rng);
  const Address b = random_address(rng);
  CHECK(fib.lookup(a) == kNoNeighbour);
  CHECK(fib.set(a, 5));
  CHECK(fib.lookup(a) == 5);
  CHECK(fib.lookup(b) == kNoNeighbour);
  CHECK(fib.set(a, 6));
  CHECK(fib.lookup(a) == 6);
  CHECK(fib.size() == 1);
  CHECK(fib.remove(a));
  CHECK_FALSE(fib.remove(a));
  CHECK(fib.lookup(a) == kNoNeighbour);
  CHECK(fib.size() == 0);
  CHECK_FALSE(fib.set(a, kNoNeighbour));
}

TEST_CASE("fib: full at capacity; a replace still works when full") {
  Fib fib(4);
  std::mt19937 rng(2);
  Address addresses[5];
  for (auto& a : addresses) a = random_address(rng);
  for (int i = 0; i < 4; ++i) CHECK(fib.set(addresses[i], static_cast<NeighbourId>(i + 1)));
  CHECK_FALSE(fib.set(addresses[4], 9));
  CHECK(fib.set(addresses[0], 9));
  CHECK(fib.lookup(addresses[0]) == 9);
  CHECK(fib.remove(addresses[1]));
  CHECK(fib.set(addresses[4], 9));
}

// Few distinct home slots: every address shares bytes 8..11 with many others; `base`
// puts the homes at the start of the table or at its end, where probe runs wrap around.
static void exercise_collisions(std::uint8_t base) {
  CAPTURE(base);
  Fib fib(64);
  std::map<Address, NeighbourId, Less> model;
  std::mt19937 rng(3);
  for (int round = 0; round < 20000; ++round) {
    Address a = random_address(rng);
    a.bytes[8] = a.bytes[9] = a.bytes[10] = 0;
    a.bytes[11] = static_cast<std::uint8_t>(base | (a.bytes[11] & 0x7));  // 8 homes (of 128 slots)
    a.bytes[15] &= 0x3f;
    const NeighbourId id = rng() % 5 + 1;
    switch (rng() % 3) {
      case 0:
        if (model.size() < 64 || model.count(a)) {
          CHECK(fib.set(a, id));
          model[a] = id;
        }
        break;
      case 1: CHECK(fib.remove(a) == (model.erase(a) == 1)); break;
      default: {
        const auto it = model.find(a);
        CHECK(fib.lookup(a) == (it == model.end() ? kNoNeighbour : it->second));
      }
    }
    if (round % 1000 == 0) {
      const NeighbourId gone = rng() % 5 + 1;
      std::uint32_t removed = 0;
      for (auto it = model.begin(); it != model.end();)
        if (it->second == gone) it = model.erase(it), ++removed;
        else ++it;
      CHECK(fib.remove_next_hop(gone) == removed);
    }
  }
  CHECK(fib.size() == model.size());
  std::size_t seen = 0;
  fib.for_each([&](const Address& a, NeighbourId id) {
    ++seen;
    CHECK(model.at(a) == id);
  });
  CHECK(seen == model.size());
}

TEST_CASE("fib: colliding addresses survive removals in any order (against a map)") {
  exercise_collisions(0);
  exercise_collisions(0x78);
}
