// Metric registration and the Prometheus text format.
#include "metrics_registry.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using mh::core::MetricsRegistry;

TEST_CASE("counters and gauges render as Prometheus text") {
  MetricsRegistry metrics;
  auto* packets = metrics.counter("udp", "meshhost_packets_total", "Packets seen", {{"dir", "in"}, {"link", "a\"b"}});
  REQUIRE(packets);
  packets->add(3);
  packets->add(4);
  auto* peers = metrics.gauge("switch", "meshhost_peers", "Established peers", {});
  REQUIRE(peers);
  peers->set(2.5);
  const std::string text = metrics.prometheus_text();
  CHECK(text.find("# HELP meshhost_packets_total Packets seen\n# TYPE meshhost_packets_total counter\n") !=
        std::string::npos);
  CHECK(text.find("meshhost_packets_total{dir=\"in\",link=\"a\\\"b\"} 7\n") != std::string::npos);
  CHECK(text.find("# TYPE meshhost_peers gauge\nmeshhost_peers 2.5\n") != std::string::npos);
}

TEST_CASE("the same name and labels give the same metric; bad names none") {
  MetricsRegistry metrics;
  auto* a = metrics.counter("p", "x_total", "", {{"k", "v"}});
  CHECK(a == metrics.counter("p", "x_total", "", {{"k", "v"}}));
  CHECK(a != metrics.counter("p", "x_total", "", {{"k", "w"}}));
  CHECK(metrics.gauge("p", "x_total", "", {}) == nullptr);  // a counter already
  CHECK(metrics.counter("p", "9bad", "", {}) == nullptr);
  CHECK(metrics.counter("p", "ok", "", {{"__reserved", "v"}}) == nullptr);
}

TEST_CASE("a plugin's metrics go with it") {
  MetricsRegistry metrics;
  metrics.counter("a", "a_total", "", {})->add(1);
  metrics.counter("b", "b_total", "", {})->add(1);
  metrics.remove_owner("a");
  auto json = metrics.to_json();
  REQUIRE(json.size() == 1);
  CHECK(json[0]["name"] == "b_total");
  CHECK(json[0]["value"] == 1);
}
