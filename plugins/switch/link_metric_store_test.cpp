// The store keeps what sources said of each path, bounded per source, newest report first.
#include "link_metric_store.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using namespace mh;
using namespace mh::sw;

namespace {

Endpoint endpoint(std::uint8_t last, std::uint8_t kind = 0x45) {
  Endpoint e;
  e.kind = kind;
  e.size = 10;
  const std::uint8_t bytes[10] = {0x02, 0, 0, 0, 0, last, 0, 0, 0, 3};
  std::memcpy(e.bytes, bytes, sizeof bytes);
  return e;
}

LinkMetric cost(std::uint32_t c) {
  LinkMetric m;
  m.cost = c;
  return m;
}

}  // namespace

TEST_CASE("a metric is found by link name and byte-equal endpoint") {
  LinkMetricStore store;
  CHECK(store.empty());
  LinkMetric m = cost(40);
  m.radio.present = kRadioSignal;
  m.radio.signal_dbm = -71;
  CHECK_FALSE(store.set(1, "eth/mh0", endpoint(1), m));
  const auto* e = store.find("eth/mh0", endpoint(1));
  REQUIRE(e != nullptr);
  CHECK(e->metric.cost == 40);
  CHECK(e->metric.radio.signal_dbm == -71);
  CHECK(store.find("eth/mh1", endpoint(1)) == nullptr);        // another link
  CHECK(store.find("eth/mh0", endpoint(2)) == nullptr);        // another MAC
  CHECK(store.find("eth/mh0", endpoint(1, 0x55)) == nullptr);  // another kind of endpoint
  // A report for the same path replaces the last.
  store.set(1, "eth/mh0", endpoint(1), cost(70));
  CHECK(store.size() == 1);
  CHECK(store.find("eth/mh0", endpoint(1))->metric.cost == 70);
  CHECK(store.forget(1, "eth/mh0", endpoint(1)));
  CHECK_FALSE(store.forget(1, "eth/mh0", endpoint(1)));
  CHECK(store.find("eth/mh0", endpoint(1)) == nullptr);
}

TEST_CASE("two sources on one path: the newer report applies, the other stays behind it") {
  LinkMetricStore store;
  store.set(1, "eth/mh0", endpoint(1), cost(40));
  store.set(2, "eth/mh0", endpoint(1), cost(90));
  CHECK(store.find("eth/mh0", endpoint(1))->metric.cost == 90);
  store.set(1, "eth/mh0", endpoint(1), cost(45));
  CHECK(store.find("eth/mh0", endpoint(1))->metric.cost == 45);
  CHECK(store.forget(1, "eth/mh0", endpoint(1)));
  CHECK(store.find("eth/mh0", endpoint(1))->metric.cost == 90);
}

TEST_CASE("a source names at most kMaxPerSource paths; the least recently reported goes") {
  LinkMetricStore store;
  store.set(2, "eth/other", endpoint(0), cost(1));  // another source is not counted
  for (std::size_t i = 0; i < LinkMetricStore::kMaxPerSource; ++i)
    CHECK_FALSE(store.set(1, "eth/mh" + std::to_string(i), endpoint(1), cost(10)));
  store.set(1, "eth/mh0", endpoint(1), cost(11));  // refreshed: now the newest
  const auto dropped = store.set(1, "eth/new", endpoint(1), cost(12));
  REQUIRE(dropped);
  CHECK(dropped->link == "eth/mh1");
  CHECK(store.count(1) == LinkMetricStore::kMaxPerSource);
  CHECK(store.find("eth/mh1", endpoint(1)) == nullptr);
  CHECK(store.find("eth/mh0", endpoint(1)) != nullptr);
  CHECK(store.find("eth/other", endpoint(0)) != nullptr);

  // Forgetting a source one path at a time leaves the others'.
  std::size_t forgotten = 0;
  while (store.forget_one(1)) ++forgotten;
  CHECK(forgotten == LinkMetricStore::kMaxPerSource);
  CHECK(store.size() == 1);
  CHECK_FALSE(store.forget_one(1));
}
