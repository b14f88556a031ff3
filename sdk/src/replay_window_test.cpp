// Tests the replay window: what a receiver accepts and drops as packets arrive in order,
// reordered, duplicated, too late, or after a jump, including wrap-around of the ring.
#include <meshhost/replay_window.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>

using mh::ReplayWindow;

namespace {
constexpr std::uint64_t kWindow = ReplayWindow::kWindowSize;
}

TEST_CASE("replay window: in-order counters are all accepted once") {
  ReplayWindow window;
  for (std::uint64_t counter = 0; counter < 10 * kWindow; ++counter) {
    REQUIRE(window.check(counter));
    REQUIRE(window.update(counter));
  }
  CHECK(window.highest() == 10 * kWindow - 1);
  CHECK_FALSE(window.check(10 * kWindow - 1));
  CHECK_FALSE(window.check(0));
}

TEST_CASE("replay window: the first counter is 0 and is accepted exactly once") {
  ReplayWindow window;
  CHECK(window.check_and_update(0));
  CHECK_FALSE(window.check_and_update(0));
  CHECK(window.check_and_update(1));
}

TEST_CASE("replay window: reordering within the window is accepted") {
  ReplayWindow window;
  CHECK(window.check_and_update(100));
  CHECK(window.check_and_update(50));
  CHECK(window.check_and_update(99));
  CHECK(window.check_and_update(0));
  CHECK(window.check_and_update(101));
  CHECK(window.check_and_update(75));
  CHECK_FALSE(window.check_and_update(50));
  CHECK_FALSE(window.check_and_update(100));

  // The oldest counter the window still guarantees, and one past it.
  ReplayWindow wide;
  const std::uint64_t top = 5 * kWindow + 17;
  CHECK(wide.check_and_update(top));
  CHECK(wide.check(top - kWindow));
  CHECK(wide.check_and_update(top - kWindow));
  CHECK_FALSE(wide.check(top - kWindow - 1));
  CHECK_FALSE(wide.update(top - kWindow - 1));
}

TEST_CASE("replay window: counters older than the window are rejected") {
  ReplayWindow window;
  CHECK(window.check_and_update(kWindow + 1000));
  CHECK_FALSE(window.check(0));
  CHECK_FALSE(window.check(999));
  CHECK_FALSE(window.check_and_update(999));
  CHECK(window.check_and_update(1000));
}

TEST_CASE("replay window: duplicates are rejected wherever they fall") {
  ReplayWindow window;
  for (std::uint64_t counter : {7u, 64u, 63u, 65u, 128u, 4000u, 4031u}) {
    CHECK(window.check_and_update(counter));
    CHECK_FALSE(window.check(counter));
    CHECK_FALSE(window.update(counter));
  }
  // Every earlier one is still remembered.
  for (std::uint64_t counter : {64u, 63u, 65u, 128u, 4000u, 4031u}) CHECK_FALSE(window.check(counter));
}

TEST_CASE("replay window: a huge jump clears the whole ring") {
  ReplayWindow window;
  for (std::uint64_t counter = 0; counter < 2 * kWindow; ++counter) window.check_and_update(counter);
  const std::uint64_t far = (std::uint64_t{1} << 50) + 3;
  CHECK(window.check_and_update(far));
  CHECK(window.highest() == far);
  // Every slot was cleared: counters just below the jump that map onto old bits are new.
  for (std::uint64_t back = 1; back <= kWindow; ++back) REQUIRE(window.check(far - back));
  CHECK_FALSE(window.check(far - kWindow - 1));
  CHECK_FALSE(window.check(5));

  ReplayWindow top;
  CHECK(top.check_and_update(~std::uint64_t{0}));
  CHECK_FALSE(top.check(~std::uint64_t{0}));
  CHECK(top.check(~std::uint64_t{0} - 1));
}

TEST_CASE("replay window: sliding over the ring's end forgets old words but not recent bits") {
  ReplayWindow window;
  // Walk across several full turns of the ring in steps that are not word-aligned, leaving
  // gaps; the gaps inside the window stay acceptable, duplicates never are.
  const std::uint64_t ring_bits = ReplayWindow::kWords * ReplayWindow::kWordBits;
  std::uint64_t counter = 0;
  for (; counter < 5 * ring_bits; counter += 3) REQUIRE(window.check_and_update(counter));
  const std::uint64_t last = counter - 3;
  for (std::uint64_t c = last - kWindow; c <= last; ++c) {
    const bool sent = c % 3 == 0;
    INFO("counter " << c);
    REQUIRE(window.check(c) == !sent);
  }
  // A jump of exactly one ring (every slot reused) keeps the window consistent.
  CHECK(window.check_and_update(last + ring_bits));
  CHECK(window.check(last + ring_bits - 1));
  CHECK_FALSE(window.check(last));  // now too old
}

TEST_CASE("replay window: check alone never moves the window (a forged packet cannot)") {
  ReplayWindow window;
  CHECK(window.check_and_update(10));
  CHECK(window.check(10 + 100 * kWindow));  // would pass the window check ...
  CHECK(window.highest() == 10);            // ... but only update() moves it
  CHECK(window.check_and_update(9));
}

TEST_CASE("replay window: update re-validates when the window moved after check") {
  ReplayWindow window;
  CHECK(window.check(3));
  CHECK(window.check(3 + 2 * kWindow));
  CHECK(window.update(3 + 2 * kWindow));
  CHECK_FALSE(window.update(3));  // checked while fresh, too old by the time it authenticated
}

TEST_CASE("replay window: reset forgets everything") {
  ReplayWindow window;
  CHECK(window.check_and_update(42));
  window.reset();
  CHECK(window.highest() == 0);
  CHECK(window.check_and_update(42));
  CHECK(window.check_and_update(0));
}
