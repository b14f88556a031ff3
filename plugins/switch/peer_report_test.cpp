// `switch.peers` rows show what an operator needs: who, where, how well.
#include "peer_report.hpp"
#include "test_net.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

using namespace mh;
using namespace mh::sw;
using namespace mh::sw::testing;

TEST_CASE("peer rows name the neighbour, its path and its measurements") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(30 * kNsPerSecond);
  const auto rows = peer_rows(*a.table, net.now_ns);
  REQUIRE(rows.size() == 1);
  const PeerRow& r = rows[0];
  CHECK(r.key == format_public_key(b.pub()));
  CHECK(r.address.rfind("fc", 0) == 0);
  CHECK(r.configured);
  CHECK(r.best);
  CHECK(r.link == "test/0");
  CHECK(r.state == PeerState::established);
  CHECK(r.has_rtt);
  CHECK(r.rtt_ms == doctest::Approx(10.0));
  CHECK(r.loss_percent == 0);
  CHECK(r.cost == compute_cost(10, 0));
  CHECK(r.rtt_cost == compute_cost(10, 0));
  CHECK_FALSE(r.has_metric);
  CHECK(r.packets_in > 0);
  CHECK(r.bytes_out > 0);
  CHECK(r.ever_seen);
  CHECK(r.last_seen_s_ago < 10.0);
}

TEST_CASE("peer rows show a link metric's radio figures and the cost's two parts") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(30 * kNsPerSecond);
  LinkMetric m;
  m.cost = 90;
  m.radio.present = kRadioSignal | kRadioTxBitrate | kRadioInactiveTime;
  m.radio.signal_dbm = -67;
  m.radio.tx_bitrate_kbps = 65000;
  m.radio.inactive_ms = 120;
  a.table->set_link_metric(1, "test/0", b.endpoint, m, a);
  const auto rows = peer_rows(*a.table, net.now_ns);
  REQUIRE(rows.size() == 1);
  const PeerRow& r = rows[0];
  CHECK(r.has_metric);
  CHECK(r.rtt_cost == compute_cost(10, 0));
  CHECK(r.metric.cost == 90);
  CHECK(r.cost == r.rtt_cost + r.metric.cost);
  CHECK(r.metric.radio.present == (kRadioSignal | kRadioTxBitrate | kRadioInactiveTime));
  CHECK(r.metric.radio.signal_dbm == -67);
  CHECK(r.metric.radio.tx_bitrate_kbps == 65000);
}
