// The station table: stations come, get smoothed costs across dumps, and vanish.
#include "station_table.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace mh::meshpoint;
using mh::ether::MacAddress;

namespace {

StationInfo station(std::uint8_t last, std::uint32_t mbps) {
  StationInfo s;
  s.mac = MacAddress{{0x02, 0, 0, 0, 0, last}};
  s.figures.present = mh::kRadioExpectedThroughput;
  s.figures.expected_throughput_kbps = mbps * 1000;
  return s;
}

}  // namespace

TEST_CASE("stations are kept across dumps, and those missing from a dump vanish") {
  StationTable table;
  std::vector<MacAddress> vanished = {MacAddress{}};
  table.update({station(1, 60), station(2, 6)}, &vanished);
  CHECK(vanished.empty());
  REQUIRE(table.stations().size() == 2);
  CHECK(table.find(station(1, 0).mac)->cost.cost() == 10);
  CHECK(table.find(station(2, 0).mac)->cost.cost() == 100);
  CHECK(table.find(station(3, 0).mac) == nullptr);

  // Station 1's cost is smoothed over the dumps, not replaced by the latest one.
  table.update({station(1, 30), station(3, 60), station(3, 1)}, &vanished);
  REQUIRE(vanished.size() == 1);
  CHECK(vanished[0] == station(2, 0).mac);
  CHECK(table.stations().size() == 2);  // the repeated station 3 counted once
  const Station* one = table.find(station(1, 0).mac);
  REQUIRE(one != nullptr);
  CHECK(one->info.figures.expected_throughput_kbps == 30'000);  // the latest figures
  CHECK(one->cost.cost() == 10);                                  // one sample is within the hold
  CHECK(one->cost.smoothed().expected_throughput_kbps == 52'500);  // 60 + (30 − 60) / 4

  table.clear(&vanished);
  CHECK(vanished.size() == 2);
  CHECK(table.stations().empty());
}
