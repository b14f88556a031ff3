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

TEST_CASE("a link metric adds to the cost, through the same hysteresis") {
  CHECK(add_metric_cost(30, 0) == 30);
  CHECK(add_metric_cost(30, 100) == 130);
  CHECK(add_metric_cost(kInfiniteCost - 5, 100) == kInfiniteCost - 1);  // saturates, stays usable
  CHECK(add_metric_cost(30, kInfiniteCost) == kInfiniteCost);
  CHECK(add_metric_cost(kInfiniteCost, 0) == kInfiniteCost);

  LinkQuality q;
  q.on_rtt_sample(20'000'000);
  q.on_probe(true);
  REQUIRE(q.update_cost());
  REQUIRE(q.cost() == 30);
  // A metric worth less than a fifth of the sum does not move it…
  q.set_metric_cost(5);
  CHECK_FALSE(q.update_cost());
  CHECK(q.cost() == 30);
  CHECK(q.rtt_cost() == 30);
  CHECK(q.metric_cost() == 5);
  // …a larger one does, and the published cost is the sum.
  q.set_metric_cost(100);
  CHECK(q.update_cost());
  CHECK(q.cost() == 130);
  // Wobbles of the metric within a fifth of the sum stay put.
  q.set_metric_cost(120);
  CHECK_FALSE(q.update_cost());
  CHECK(q.cost() == 130);
  // A new session measures afresh but keeps the metric.
  q.reset();
  CHECK(q.metric_cost() == 120);
  q.on_rtt_sample(20'000'000);
  CHECK(q.update_cost());
  CHECK(q.cost() == 150);
  // An infinite metric rules the path out at once, and its end restores it at once.
  q.set_metric_cost(kInfiniteCost);
  CHECK(q.update_cost());
  CHECK(q.cost() == kInfiniteCost);
  q.set_metric_cost(0);
  CHECK(q.update_cost());
  CHECK(q.cost() == 30);
  // Exact: a forgotten metric's cost goes, however small.
  q.set_metric_cost(5);
  CHECK_FALSE(q.update_cost());
  CHECK(q.update_cost(true));
  CHECK(q.cost() == 35);
  q.set_metric_cost(0);
  CHECK(q.update_cost(true));
  CHECK(q.cost() == 30);
}
