// The rows `switch.peers` shows: one per path, with the neighbour's key, address, state and
// the path's link, endpoint, RTT, loss, cost (and its RTT and link metric parts), the radio
// figures a link metric source reported, bytes and last seen. Plain data for the admin
// handler to turn into JSON.
#pragma once

#include "peer_table.hpp"

#include <string>
#include <vector>

namespace mh::sw {

struct PeerRow {
  std::string key;       // "….k"
  std::string address;   // "fc…"
  std::string peer_name;
  bool configured = false;
  bool best = false;     // the path the neighbour sends on
  std::string link;      // Link::name()
  std::string endpoint;  // Link::format_endpoint()
  PeerState state = PeerState::handshaking;
  bool has_rtt = false;
  double rtt_ms = 0;
  double loss_percent = 0;
  std::uint32_t cost = kInfiniteCost;  // published: rtt_cost + metric_cost, through the hysteresis
  std::uint32_t rtt_cost = kInfiniteCost;  // what RTT and loss say now
  bool has_metric = false;                // a link metric source names this path
  LinkMetric metric;                      // its report: cost (metric_cost) and radio figures
  std::uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;
  bool ever_seen = false;
  double last_seen_s_ago = 0;  // since the latest authenticated frame
};

// Rows for every path of every neighbour (a neighbour without paths gets one row with an
// empty link), in table order.
std::vector<PeerRow> peer_rows(const PeerTable& table, std::uint64_t now_ns);

}  // namespace mh::sw
