// The radio cost: the formula on each figure it can use, the weak-signal penalty, and the
// hysteresis that keeps a wavering signal from moving routes while a real drop does.
#include "radio_cost.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using namespace mh::meshpoint;
using mh::RadioFigures;

namespace {

RadioFigures throughput(std::uint32_t mbps, std::int32_t signal_dbm = -60) {
  RadioFigures f;
  f.present = mh::kRadioExpectedThroughput | mh::kRadioSignal;
  f.expected_throughput_kbps = mbps * 1000;
  f.signal_dbm = signal_dbm;
  return f;
}

}  // namespace

TEST_CASE("expected throughput sets the cost: a good 802.11n link costs little, 6 Mbit/s far more than a few ms") {
  CHECK(radio_cost(throughput(60)) == 10);
  CHECK(radio_cost(throughput(150)) == 4);
  CHECK(radio_cost(throughput(54)) == 12);  // ceil(600 / 54)
  CHECK(radio_cost(throughput(6)) == 100);
  CHECK(radio_cost(throughput(1)) == 600);
  RadioFigures slow;
  slow.present = mh::kRadioExpectedThroughput;
  slow.expected_throughput_kbps = 1;  // 1 kbit/s: capped
  CHECK(radio_cost(slow) == kMaxRadioCost);
}

TEST_CASE("without an expected throughput: the tx bitrate at two thirds, else the airtime metric") {
  RadioFigures bitrate;
  bitrate.present = mh::kRadioTxBitrate;
  bitrate.tx_bitrate_kbps = 90'000;  // ≈ 60 Mbit/s of throughput
  CHECK(radio_cost(bitrate) == 10);
  bitrate.expected_throughput_kbps = 6000;  // not present: ignored
  CHECK(radio_cost(bitrate) == 10);

  RadioFigures airtime;
  airtime.present = mh::kRadioAirtimeMetric;
  airtime.airtime_metric = 152;  // what mac80211 reports for 54 Mbit/s
  CHECK(radio_cost(airtime) == 12);
  airtime.airtime_metric = 1366;  // 6 Mbit/s
  CHECK(radio_cost(airtime) == 101);

  // Expected throughput first when the kernel has it; a zero figure is no figure.
  RadioFigures all = throughput(60);
  all.present |= mh::kRadioTxBitrate | mh::kRadioAirtimeMetric;
  all.tx_bitrate_kbps = 6000;
  all.airtime_metric = 5000;
  CHECK(radio_cost(all) == 10);
  all.expected_throughput_kbps = 0;
  CHECK(radio_cost(all) == 150);  // 6000 kbit/s × 2/3 = 4 Mbit/s

  RadioFigures signal_only;
  signal_only.present = mh::kRadioSignal | mh::kRadioInactiveTime;
  signal_only.signal_dbm = -95;
  CHECK(radio_cost(signal_only) == 0);  // nothing to say of the rate: adds nothing
}

TEST_CASE("below -80 dBm the cost grows by a tenth per dB") {
  CHECK(radio_cost(throughput(60, -80)) == 10);
  CHECK(radio_cost(throughput(60, -81)) == 11);
  CHECK(radio_cost(throughput(60, -90)) == 20);
  CHECK(radio_cost(throughput(60, -100)) == 30);
  CHECK(radio_cost(throughput(6, -90)) == 200);
}

TEST_CASE("the first sample publishes; a signal and rate wavering within the band never move the cost") {
  RadioCost cost;
  CHECK(cost.on_sample(throughput(54, -76)));
  CHECK(cost.published());
  const std::uint32_t first = cost.cost();
  CHECK(first == 12);
  // A rate wavering 50/58 Mbit/s and a signal swinging ±4 dB across the weak-signal
  // threshold, for a long time: the published cost never changes.
  for (int i = 0; i < 1000; ++i) {
    const bool odd = (i % 2) != 0;
    CHECK_FALSE(cost.on_sample(throughput(odd ? 58 : 50, odd ? -76 : -84)));
  }
  CHECK(cost.cost() == first);
  // One bad sample is not enough either.
  CHECK_FALSE(cost.on_sample(throughput(10, -85)));
  CHECK_FALSE(cost.on_sample(throughput(54, -76)));
  CHECK(cost.cost() == first);
}

TEST_CASE("a burst of interference over two dumps in a row is smoothed away") {
  RadioCost cost;
  cost.on_sample(throughput(54));
  const std::uint32_t first = cost.cost();
  // Two dumps at 20 Mbit/s (cost 30 each, unsmoothed), then eight back at 54, over and over.
  for (int i = 0; i < 200; ++i) {
    const bool burst = (i % 10) < 2;
    CHECK_FALSE(cost.on_sample(throughput(burst ? 20 : 54)));
  }
  CHECK(cost.cost() == first);
}

TEST_CASE("a real drop is published within a few samples, and so is the recovery") {
  RadioCost cost;
  cost.on_sample(throughput(54, -60));
  int changes = 0;
  int samples = 0;
  while (cost.cost() < 100 && samples < 20) {
    changes += cost.on_sample(throughput(6, -88)) ? 1 : 0;
    ++samples;
  }
  CHECK(samples < 20);
  CHECK(changes >= 1);
  CHECK(changes <= 5);  // converging, not flapping
  // Settles at the cost of the new figures: 100 × 1.8.
  for (int i = 0; i < 40; ++i) cost.on_sample(throughput(6, -88));
  CHECK(cost.cost() >= 150);
  CHECK(cost.cost() <= 180);
  const RadioFigures smoothed = cost.smoothed();
  CHECK(smoothed.expected_throughput_kbps == doctest::Approx(6000).epsilon(0.05));
  CHECK(smoothed.signal_dbm == -88);

  samples = 0;
  while (cost.cost() > 20 && samples < 30) {
    cost.on_sample(throughput(54, -60));
    ++samples;
  }
  CHECK(samples < 30);
}

TEST_CASE("a sustained move just outside the band is published after it holds") {
  RadioCost cost;
  cost.on_sample(throughput(60));
  CHECK(cost.cost() == 10);
  // 40 Mbit/s: cost 15, half again. The smoothed figure gets there over a few samples,
  // and the published cost follows once it has stayed outside ±2 for three samples.
  int changed_at = -1;
  for (int i = 0; i < 30 && changed_at < 0; ++i) {
    if (cost.on_sample(throughput(40))) changed_at = i;
  }
  CHECK(changed_at >= 2);
  CHECK(cost.cost() > 12);
  CHECK(cost.cost() <= 15);
}
