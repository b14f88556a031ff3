// Babel-style route table (route_table.hpp; docs/protocol.md, "Routing").
#include "route_table.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>

namespace mh::router {

namespace {

constexpr std::uint64_t kNever = ~std::uint64_t{0};
constexpr std::uint64_t kNsPerCs = 10'000'000;

}  // namespace

std::uint16_t metric_of_link_cost(std::uint32_t link_cost) noexcept {
  if (link_cost == kInfiniteLinkCost || link_cost >= kInfiniteMetric) return kInfiniteMetric;
  return static_cast<std::uint16_t>(std::max<std::uint32_t>(link_cost, 1));
}

std::uint16_t add_metric(std::uint16_t metric, std::uint16_t cost) noexcept {
  const std::uint32_t sum = std::uint32_t{metric} + cost;
  return sum >= kInfiniteMetric ? kInfiniteMetric : static_cast<std::uint16_t>(sum);
}

RouteTable::RouteTable(const PublicKey& own_key, const Address& own_address, std::uint16_t own_seqno, Timers timers,
                       Limits limits, Output& output, std::uint64_t now_ns)
    : own_key_(own_key),
      own_address_(own_address),
      own_seqno_(own_seqno),
      own_seqno_since_ns_(now_ns),
      timers_(timers),
      limits_(limits),
      output_(output),
      now_ns_(now_ns) {}

const Neighbour* RouteTable::neighbour(NeighbourId id) const noexcept {
  const auto it = neighbours_.find(id);
  return it == neighbours_.end() ? nullptr : &it->second;
}

std::uint16_t RouteTable::interval_cs() const noexcept {
  const std::uint64_t cs = timers_.update_interval_ns / kNsPerCs;
  return static_cast<std::uint16_t>(std::min<std::uint64_t>(cs, 0xffff));
}

std::uint16_t RouteTable::metric(const Route& route) const noexcept {
  const Neighbour* n = neighbour(route.neighbour);
  if (n == nullptr || route.advertised_metric == kInfiniteMetric || n->cost == kInfiniteMetric) return kInfiniteMetric;
  return add_metric(route.advertised_metric, n->cost);
}

bool RouteTable::feasible(const Destination& d, std::uint16_t seqno, std::uint16_t advertised_metric) noexcept {
  if (advertised_metric == kInfiniteMetric || !d.has_fd) return true;
  if (seqno_newer(seqno, d.fd_seqno)) return true;
  return seqno == d.fd_seqno && advertised_metric < d.fd_metric;
}

bool RouteTable::lookup_key(const Address& address, PublicKey* key) const noexcept {
  const auto it = destinations_.find(address);
  if (it == destinations_.end() || it->second.selected == kNoNeighbour) return false;
  if (key != nullptr) *key = it->second.key;
  return true;
}

// ---- neighbours ----

void RouteTable::neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t link_cost, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (id == kNoNeighbour) return;
  auto [it, added] = neighbours_.try_emplace(id);
  Neighbour& n = it->second;
  if (!added && !same_key(n.key, key)) {
    // A reused id with another key cannot happen (ids carry a generation); be safe anyway.
    neighbour_down(id, now_ns);
    neighbour_up(id, key, link_cost, now_ns);
    return;
  }
  if (added) {
    n.id = id;
    n.key = key;
    n.address = address_of(key);
  }
  n.link_cost = link_cost;
  const std::uint16_t old_cost = n.cost;
  n.cost = metric_of_link_cost(link_cost);
  if (added) {
    // Ask for its table at once rather than wait for its periodic dump, and send ours.
    Message request;
    request.type = TlvType::route_request;
    request.route_request.wildcard = true;
    output_.send(id, request);
    ++stats_.route_requests_sent;
    full_dump(n);
    // Outstanding requests to every neighbour reach this one too: it may be the way to a
    // newer seqno (a restarted node coming back with its own).
    for (const auto& [address, d] : destinations_) {
      if (d.requesting && d.request_to == kNoNeighbour) pending_requests_.push_back({address, d.request_seqno, id});
    }
    if (next_periodic_ns_ == 0) next_periodic_ns_ = now_ns + timers_.update_interval_ns;
    wake_at(next_periodic_ns_);
  } else if (old_cost != n.cost) {
    for (auto& [address, d] : destinations_) {
      if (d.find(id) != nullptr) reselect(d);
    }
  }
  flush();
}

void RouteTable::neighbour_cost(NeighbourId id, std::uint32_t link_cost, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  const auto it = neighbours_.find(id);
  if (it == neighbours_.end()) return;
  it->second.link_cost = link_cost;
  const std::uint16_t cost = metric_of_link_cost(link_cost);
  if (cost == it->second.cost) return;
  it->second.cost = cost;
  for (auto& [address, d] : destinations_) {
    if (d.find(id) != nullptr) reselect(d);
  }
  flush();
}

void RouteTable::neighbour_down(NeighbourId id, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (neighbours_.erase(id) == 0) return;
  // Its routes are retracted at once: gone from the table, and whatever was selected
  // through it reselected (or retracted onwards) before this returns.
  for (auto& [address, d] : destinations_) {
    if (d.request_to == id) d.request_to = kNoNeighbour;
    if (d.find(id) == nullptr) continue;
    remove_route_entry(d, id);
    reselect(d);
  }
  flush();
}

void RouteTable::remove_route_entry(Destination& d, NeighbourId id) {
  const auto it = std::find_if(d.routes.begin(), d.routes.end(), [id](const Route& r) { return r.neighbour == id; });
  if (it == d.routes.end()) return;
  d.routes.erase(it);
  --route_count_;
  if (auto n = neighbours_.find(id); n != neighbours_.end() && n->second.routes > 0) --n->second.routes;
}

// ---- receiving ----

void RouteTable::receive(NeighbourId from, const Address& source, ByteView packet, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  const auto it = neighbours_.find(from);
  if (it == neighbours_.end() || !same_address(it->second.address, source)) {
    ++stats_.not_neighbour;
    return;
  }
  std::size_t unknown = 0;
  if (check_packet(packet, nullptr, &unknown) != PacketCheck::ok) {
    ++stats_.bad_message;
    return;
  }
  stats_.unknown_tlv += unknown;
  TlvReader reader(packet);
  Message m;
  while (reader.next(&m)) {
    switch (m.type) {
      case TlvType::update:
        handle_update(it->second, m.update);
        break;
      case TlvType::route_request:
        handle_route_request(it->second, m.route_request);
        break;
      case TlvType::seqno_request:
        handle_seqno_request(it->second, m.seqno_request);
        break;
    }
  }
  flush();
}

bool RouteTable::check_key(const Address& address, const PublicKey& key) {
  if (const auto it = key_checks_.find(address); it != key_checks_.end() && same_key(it->second.key, key)) {
    return it->second.valid;
  }
  ++stats_.key_checks;
  const bool valid = address.bytes[0] == kAddressPrefix && address_matches_key(address, key);
  // Bounded: a flood of fresh keys clears the cache rather than growing it.
  if (key_checks_.size() >= std::size_t{limits_.max_routes} + 256) key_checks_.clear();
  key_checks_[address] = KeyCheck{key, valid};
  return valid;
}

void RouteTable::handle_update(Neighbour& from, const Update& u) {
  ++stats_.updates_received;
  if (same_address(u.address, own_address_)) return;  // our own route, echoed back
  if (!check_key(u.address, u.key)) {
    ++stats_.bad_key;
    return;
  }
  auto dit = destinations_.find(u.address);
  Destination* d = dit == destinations_.end() ? nullptr : &dit->second;
  Route* route = d == nullptr ? nullptr : d->find(from.id);

  if (u.metric == kInfiniteMetric) {  // retraction
    if (route == nullptr) return;
    if (route->advertised_metric != kInfiniteMetric) {
      route->advertised_metric = kInfiniteMetric;
      route->updated_ns = now_ns_;
      route->expires_ns = now_ns_ + timers_.hold_down_ns;
      wake_at(route->expires_ns);
      reselect(*d);
    }
    return;
  }

  // Unfeasible updates are kept too (RFC 8966 keeps existing entries; we also keep new
  // ones): never selected, but they show where a seqno request may find a better route.
  const bool is_feasible = d == nullptr || feasible(*d, u.seqno, u.metric);
  // Counted when it brings something new, not on every periodic refresh of the same.
  if (!is_feasible && (route == nullptr || route->seqno != u.seqno || route->advertised_metric != u.metric))
    ++stats_.unfeasible;
  if (route == nullptr) {
    if (route_count_ >= limits_.max_routes || from.routes >= limits_.max_routes_per_neighbour ||
        (d == nullptr && destinations_.size() >= limits_.max_routes)) {
      ++stats_.table_full;
      return;
    }
    if (d == nullptr) {
      d = &destinations_.try_emplace(u.address).first->second;
      d->address = u.address;
      d->key = u.key;
    }
    d->routes.push_back(Route{from.id});
    route = &d->routes.back();
    ++route_count_;
    ++from.routes;
  }
  route->seqno = u.seqno;
  route->advertised_metric = u.metric;
  route->updated_ns = now_ns_;
  // Three and a half of the sender's intervals (RFC 8966), or our own expiry if longer.
  const std::uint64_t their_interval_ns = u.interval_cs != 0 ? u.interval_cs * kNsPerCs : timers_.update_interval_ns;
  route->expires_ns = now_ns_ + std::max(timers_.route_expiry_ns, their_interval_ns * 7 / 2);
  wake_at(route->expires_ns);
  if (d->requesting && is_feasible && !seqno_newer(d->request_seqno, u.seqno)) d->requesting = false;
  reselect(*d);
}

void RouteTable::handle_route_request(Neighbour& from, const RouteRequest& request) {
  ++stats_.route_requests_received;
  if (request.wildcard) {
    // A full dump at most once per request timeout per neighbour: a chatty neighbour
    // cannot make us send the whole table in a loop.
    if (from.dumped && now_ns_ < from.last_dump_ns + timers_.request_timeout_ns) return;
    full_dump(from);
    return;
  }
  if (same_address(request.address, own_address_)) {
    Message m;
    m.type = TlvType::update;
    m.update = own_update();
    output_.send(from.id, m);
    ++stats_.updates_sent;
    return;
  }
  const auto it = destinations_.find(request.address);
  if (it == destinations_.end()) return;
  send_update(from.id, it->second);
}

void RouteTable::handle_seqno_request(Neighbour& from, const SeqnoRequest& request) {
  ++stats_.seqno_requests_received;
  if (same_address(request.address, own_address_)) {
    // RFC 8966 §3.8.1.2, with the raise going straight to the requested seqno: after a
    // restart that lost our seqno, one request brings us past what the mesh remembers.
    // At most one raise per request timeout: each is written to disk and floods the mesh
    // with updates, so a neighbour must not be able to ask for them in a loop. A genuine
    // asker resends after the timeout.
    const bool may_raise = !own_raised_ || now_ns_ >= own_seqno_since_ns_ + timers_.request_timeout_ns;
    if (seqno_newer(request.seqno, own_seqno_) && may_raise) {
      own_raised_ = true;
      own_seqno_ = request.seqno;
      own_seqno_since_ns_ = now_ns_;
      ++stats_.own_seqno_raised;
      output_.own_seqno_changed(own_seqno_);
      own_dirty_ = true;
    } else {
      Message m;
      m.type = TlvType::update;
      m.update = own_update();
      output_.send(from.id, m);
      ++stats_.updates_sent;
    }
    return;
  }
  const auto it = destinations_.find(request.address);
  if (it == destinations_.end()) return;
  Destination& d = it->second;
  const Route* selected = d.find(d.selected);
  if (selected != nullptr && metric(*selected) != kInfiniteMetric && !seqno_newer(request.seqno, selected->seqno)) {
    send_update(from.id, d);  // we already have what was asked for
    return;
  }
  if (request.hop_count < 2) return;
  // Towards the originator: through the selected route, or else (none, or it goes back
  // to the asker) through the cheapest other route we hold even if unfeasible: its
  // neighbour may reach a newer seqno (RFC 8966 §3.8.1.2).
  NeighbourId target = selected != nullptr ? selected->neighbour : kNoNeighbour;
  if (target == kNoNeighbour || target == from.id) {
    target = kNoNeighbour;
    std::uint16_t best = kInfiniteMetric;
    for (const auto& r : d.routes) {
      const std::uint16_t m = metric(r);
      if (m < best && r.neighbour != from.id) {
        best = m;
        target = r.neighbour;
      }
    }
  }
  if (target == kNoNeighbour || target == from.id) return;
  if (now_ns_ < d.forwarded_until_ns && !seqno_newer(request.seqno, d.forwarded_seqno)) return;
  Message m;
  m.type = TlvType::seqno_request;
  m.seqno_request = SeqnoRequest{request.seqno, static_cast<std::uint8_t>(request.hop_count - 1), d.address};
  output_.send(target, m);
  ++stats_.seqno_requests_forwarded;
  d.forwarded_seqno = request.seqno;
  d.forwarded_until_ns = now_ns_ + timers_.request_timeout_ns;
}

// ---- selection ----

void RouteTable::reselect(Destination& d) {
  const NeighbourId old = d.selected;
  const Route* current = d.find(old);
  std::uint16_t current_metric = kInfiniteMetric;
  if (current != nullptr && feasible(d, current->seqno, current->advertised_metric)) current_metric = metric(*current);

  const Route* best = nullptr;
  std::uint16_t best_metric = kInfiniteMetric;
  for (const auto& r : d.routes) {
    if (!feasible(d, r.seqno, r.advertised_metric)) continue;
    const std::uint16_t m = metric(r);
    if (m < best_metric || (m == best_metric && m != kInfiniteMetric && &r == current)) {
      best = &r;
      best_metric = m;
    }
  }
  // Hysteresis: keep a usable selected route unless the best is clearly cheaper.
  if (current_metric != kInfiniteMetric && best != current &&
      std::uint32_t{best_metric} * kHysteresisDenominator >= std::uint32_t{current_metric} * kHysteresisNumerator) {
    best = current;
    best_metric = current_metric;
  }
  const NeighbourId chosen = best != nullptr ? best->neighbour : kNoNeighbour;
  if (chosen != old) {
    d.selected = chosen;
    if (chosen != kNoNeighbour) {
      output_.install_route(d.address, chosen);
      if (old == kNoNeighbour) ++selected_count_;
    } else {
      output_.remove_route(d.address);
      --selected_count_;
      // Lost: hold the destination down and ask the mesh for a newer seqno, which lets
      // an unfeasible alternative become feasible (RFC 8966 §3.8.2.1).
      d.hold_down_until_ns = now_ns_ + timers_.hold_down_ns;
      wake_at(d.hold_down_until_ns);
      if (d.has_fd) start_request(d, static_cast<std::uint16_t>(d.fd_seqno + 1), kNoNeighbour);
    }
  }
  // An unfeasible route clearly better than what we have (or the only one): ask through
  // it for a newer seqno, which will make it feasible (RFC 8966 §3.8.2.2).
  if (d.has_fd) {
    const Route* better = nullptr;
    std::uint16_t better_metric = kInfiniteMetric;
    for (const auto& r : d.routes) {
      if (feasible(d, r.seqno, r.advertised_metric)) continue;
      const std::uint16_t m = metric(r);
      if (m < better_metric) {
        better = &r;
        better_metric = m;
      }
    }
    if (better != nullptr &&
        (chosen == kNoNeighbour ||
         std::uint32_t{better_metric} * kHysteresisDenominator < std::uint32_t{best_metric} * kHysteresisNumerator)) {
      start_request(d, static_cast<std::uint16_t>(d.fd_seqno + 1), better->neighbour);
    }
  }
  const Update now = current_update(d);
  const bool retracted = now.metric == kInfiniteMetric;
  if (retracted && (!d.advertised || d.advertised_metric == kInfiniteMetric)) return;  // nothing to take back
  if (!d.advertised || now.seqno != d.advertised_seqno || now.metric != d.advertised_metric) mark_dirty(d);
}

void RouteTable::mark_dirty(Destination& d) {
  if (d.dirty) return;
  d.dirty = true;
  dirty_.push_back(d.address);
}

Update RouteTable::current_update(const Destination& d) const noexcept {
  Update u;
  u.interval_cs = interval_cs();
  u.address = d.address;
  u.key = d.key;
  const Route* selected = d.find(d.selected);
  if (selected != nullptr) {
    u.seqno = selected->seqno;
    u.metric = metric(*selected);
  } else {
    u.seqno = d.has_fd ? d.fd_seqno : 0;
    u.metric = kInfiniteMetric;
  }
  return u;
}

Update RouteTable::own_update() const noexcept {
  Update u;
  u.interval_cs = interval_cs();
  u.seqno = own_seqno_;
  u.metric = 0;
  u.address = own_address_;
  u.key = own_key_;
  return u;
}

void RouteTable::note_advertised(Destination& d, const Update& u) {
  d.advertised = true;
  d.advertised_seqno = u.seqno;
  d.advertised_metric = u.metric;
  if (u.metric == kInfiniteMetric) return;
  // RFC 8966 §3.7.3: advertising a finite metric moves the feasibility distance.
  if (!d.has_fd || seqno_newer(u.seqno, d.fd_seqno) || (u.seqno == d.fd_seqno && u.metric <= d.fd_metric)) {
    d.has_fd = true;
    d.fd_seqno = u.seqno;
    d.fd_metric = u.metric;
    d.fd_refreshed_ns = now_ns_;
  }
}

void RouteTable::send_update(NeighbourId to, Destination& d) {
  Message m;
  m.type = TlvType::update;
  m.update = current_update(d);
  if (m.update.metric == kInfiniteMetric && !d.has_fd) return;  // never had a route to take back
  note_advertised(d, m.update);
  send_poisoned(to, d, m);
}

void RouteTable::send_poisoned(NeighbourId to, const Destination& d, Message m) {
  // Poison reverse: the next hop hears our route as retracted, so a neighbour that lost
  // its memory (restarted) never takes a route back through us — a two-node loop.
  if (d.selected == to) m.update.metric = kInfiniteMetric;
  output_.send(to, m);
  ++stats_.updates_sent;
}

void RouteTable::full_dump(Neighbour& n) {
  Message m;
  m.type = TlvType::update;
  m.update = own_update();
  output_.send(n.id, m);
  ++stats_.updates_sent;
  for (auto& [address, d] : destinations_) {
    if (d.selected != kNoNeighbour || now_ns_ < d.hold_down_until_ns) send_update(n.id, d);
  }
  n.dumped = true;
  n.last_dump_ns = now_ns_;
}

void RouteTable::flush() {
  if (own_dirty_) {
    own_dirty_ = false;
    Message m;
    m.type = TlvType::update;
    m.update = own_update();
    for (const auto& [id, n] : neighbours_) {
      output_.send(id, m);
      ++stats_.updates_sent;
    }
  }
  for (const Address& address : dirty_) {
    const auto it = destinations_.find(address);
    if (it == destinations_.end() || !it->second.dirty) continue;
    Destination& d = it->second;
    d.dirty = false;
    Message m;
    m.type = TlvType::update;
    m.update = current_update(d);
    note_advertised(d, m.update);
    for (const auto& [id, n] : neighbours_) send_poisoned(id, d, m);
  }
  dirty_.clear();
  // Requests after the updates: a neighbour reading this packet learns first that our
  // route went, so it does not send the request straight back to us.
  for (const auto& r : pending_requests_) send_request(r.address, r.seqno, r.to);
  pending_requests_.clear();
}

// ---- requests ----

void RouteTable::start_request(Destination& d, std::uint16_t seqno, NeighbourId to) {
  // One outstanding request per destination; a newer seqno or another target replaces it.
  if (d.requesting && !seqno_newer(seqno, d.request_seqno) && (d.request_to == to || d.request_to == kNoNeighbour)) {
    return;
  }
  d.requesting = true;
  d.request_seqno = seqno;
  d.request_to = to;
  d.request_resends_left = kRequestResends;
  d.request_next_ns = now_ns_ + timers_.request_timeout_ns;
  wake_at(d.request_next_ns);
  queue_request(d, seqno, to);
}

void RouteTable::queue_request(const Destination& d, std::uint16_t seqno, NeighbourId to) {
  pending_requests_.push_back(PendingRequest{d.address, seqno, to});
}

void RouteTable::send_request(const Address& address, std::uint16_t seqno, NeighbourId to) {
  Message m;
  m.type = TlvType::seqno_request;
  m.seqno_request = SeqnoRequest{seqno, kSeqnoRequestHopCount, address};
  for (const auto& [id, n] : neighbours_) {
    if (to != kNoNeighbour && id != to) continue;
    output_.send(id, m);
    ++stats_.seqno_requests_sent;
  }
}

// ---- time ----

void RouteTable::tick(std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (!neighbours_.empty() && next_periodic_ns_ != 0 && now_ns >= next_periodic_ns_) {
    for (auto& [id, n] : neighbours_) full_dump(n);
    next_periodic_ns_ = now_ns + timers_.update_interval_ns;
  }
  for (auto it = destinations_.begin(); it != destinations_.end();) {
    Destination& d = it->second;
    bool changed = false;
    for (std::size_t i = 0; i < d.routes.size();) {
      Route& r = d.routes[i];
      if (now_ns < r.expires_ns) {
        ++i;
        continue;
      }
      changed = true;
      if (r.advertised_metric != kInfiniteMetric) {  // not refreshed: retracted, then held
        r.advertised_metric = kInfiniteMetric;
        r.expires_ns = now_ns + timers_.hold_down_ns;
        ++i;
      } else {
        remove_route_entry(d, r.neighbour);  // erases d.routes[i]
      }
    }
    if (changed) reselect(d);
    if (d.requesting && now_ns >= d.request_next_ns) {
      if (d.request_resends_left > 0) {
        --d.request_resends_left;
        d.request_next_ns = now_ns + timers_.request_timeout_ns;
        queue_request(d, d.request_seqno, d.request_to);
      } else {
        d.requesting = false;
      }
    }
    const bool idle = d.routes.empty() && d.selected == kNoNeighbour && !d.requesting && !d.dirty &&
                      now_ns >= d.hold_down_until_ns && (!d.has_fd || now_ns >= d.fd_refreshed_ns + timers_.source_gc_ns);
    it = idle ? destinations_.erase(it) : std::next(it);
  }
  flush();
  recompute_wake();
}

void RouteTable::recompute_wake() noexcept {
  std::uint64_t wake = neighbours_.empty() || next_periodic_ns_ == 0 ? kNever : next_periodic_ns_;
  for (const auto& [address, d] : destinations_) {
    for (const auto& r : d.routes) wake = std::min(wake, r.expires_ns);
    if (d.requesting) wake = std::min(wake, d.request_next_ns);
    if (d.routes.empty()) {
      if (now_ns_ < d.hold_down_until_ns) wake = std::min(wake, d.hold_down_until_ns);
      else if (d.has_fd) wake = std::min(wake, d.fd_refreshed_ns + timers_.source_gc_ns);
    }
  }
  next_wake_ns_ = wake;
}

void RouteTable::retract_all(std::uint64_t now_ns) {
  now_ns_ = now_ns;
  Message m;
  m.type = TlvType::update;
  m.update = own_update();
  m.update.metric = kInfiniteMetric;
  for (const auto& [id, n] : neighbours_) {
    output_.send(id, m);
    ++stats_.updates_sent;
  }
  for (auto& [address, d] : destinations_) {
    if (d.selected == kNoNeighbour) continue;
    output_.remove_route(d.address);
    d.selected = kNoNeighbour;
  }
  selected_count_ = 0;
}

}  // namespace mh::router
