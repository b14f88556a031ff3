// The link cost follows RTT and loss as documented, and hysteresis stops small wobbles.
#include "link_quality.hpp"

#include <doctest/doctest.h>

using namespace mh::sw;

TEST_CASE("cost formula") {
  CHECK(compute_cost(0, 0) == 10);
  CHECK(compute_cost(20, 0) == 30);
  CHECK(compute_cost(20, 500) == 60);
  CHECK(compute_cost(0, 1000) == 100);  // loss capped at 90 %
}

TEST_CASE("smoothed rtt, loss and hysteresis") {
  LinkQuality q;
  CHECK(q.cost() == kInfiniteCost);
  q.on_rtt_sample(20'000'000);
  q.on_probe(true);
  CHECK(q.update_cost());
  CHECK(q.cost() == 30);
  // A small wobble does not move the published cost.
  q.on_rtt_sample(24'000'000);
  CHECK_FALSE(q.update_cost());
  CHECK(q.cost() == 30);
  // A lasting change does.
  for (int i = 0; i < 30; ++i) q.on_rtt_sample(100'000'000);
  CHECK(q.update_cost());
  CHECK(q.cost() > 90);
  // Losses raise it.
  const auto before = q.cost();
  for (int i = 0; i < 8; ++i) q.on_probe(false);
  q.update_cost();
  CHECK(q.loss_permille() > 500);
  CHECK(q.cost() > before);
  q.mark_unreachable();
  CHECK(q.cost() == kInfiniteCost);
}
