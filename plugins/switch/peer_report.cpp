// Flattens the peer table into rows for `switch.peers`.
#include "peer_report.hpp"

#include <meshhost/keys.hpp>

namespace mh::sw {

std::vector<PeerRow> peer_rows(const PeerTable& table, std::uint64_t now_ns) {
  std::vector<PeerRow> rows;
  for (const auto& n : table.neighbours()) {
    PeerRow base;
    base.key = format_public_key(n->key);
    base.address = format_address(address_of(n->key));
    base.peer_name = n->peer_name;
    base.configured = n->configured;
    base.state = n->state;
    if (n->paths.empty()) {
      rows.push_back(base);
      continue;
    }
    for (const auto& p : n->paths) {
      PeerRow row = base;
      row.best = p.get() == n->best;
      row.state = p->state;
      if (p->link != nullptr) {
        const Str name = p->link->name();
        row.link.assign(name.data, name.size);
        char text[96];
        const std::size_t size = p->link->format_endpoint(p->endpoint, text, sizeof text);
        row.endpoint.assign(text, size);
      }
      row.has_rtt = p->quality.has_rtt();
      row.rtt_ms = static_cast<double>(p->quality.srtt_ns()) / 1e6;
      row.loss_percent = static_cast<double>(p->quality.loss_permille()) / 10.0;
      row.cost = p->quality.cost();
      row.rtt_cost = p->quality.has_rtt() ? p->quality.rtt_cost() : kInfiniteCost;
      row.has_metric = p->has_metric;
      row.metric = p->metric;
      row.bytes_in = p->bytes_in;
      row.bytes_out = p->bytes_out;
      row.packets_in = p->packets_in;
      row.packets_out = p->packets_out;
      row.ever_seen = p->last_received_ns != 0;
      if (row.ever_seen && now_ns >= p->last_received_ns)
        row.last_seen_s_ago = static_cast<double>(now_ns - p->last_received_ns) / 1e9;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

}  // namespace mh::sw
