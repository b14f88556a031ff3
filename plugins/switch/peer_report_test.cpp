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
  CHECK(r.packets_in > 0);
  CHECK(r.bytes_out > 0);
  CHECK(r.ever_seen);
  CHECK(r.last_seen_s_ago < 10.0);
}
