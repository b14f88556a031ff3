// The peer table's state machine. See peer_table.hpp for the contract and
// docs/protocol.md ("Switch: link frames and the handshake") for the wire side.
#include "peer_table.hpp"

#include <meshhost/keys.hpp>

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace mh::sw {

namespace {

constexpr std::uint64_t kNever = ~std::uint64_t{0};

bool same_key(const PublicKey& a, const PublicKey& b) noexcept { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }
bool psk_is_zero(const noise::Psk& psk) noexcept {
  return sodium_is_zero(psk.bytes, sizeof psk.bytes) == 1;
}
std::uint32_t random_u32() noexcept { return randombytes_random(); }
std::uint64_t age(std::uint64_t now_ns, std::uint64_t then_ns) noexcept { return now_ns >= then_ns ? now_ns - then_ns : 0; }

// Neighbour states ranked: the neighbour is as good as its best path.
int rank(PeerState s) noexcept {
  switch (s) {
    case PeerState::established: return 3;
    case PeerState::unresponsive: return 2;
    case PeerState::handshaking: return 1;
    case PeerState::gone: return 0;
  }
  return 0;
}

}  // namespace

const char* to_string(PeerEvent::Kind kind) noexcept {
  switch (kind) {
    case PeerEvent::Kind::established: return "established";
    case PeerEvent::Kind::unresponsive: return "unresponsive";
    case PeerEvent::Kind::gone: return "gone";
    case PeerEvent::Kind::best_path_changed: return "best_path_changed";
    case PeerEvent::Kind::cost_changed: return "cost_changed";
  }
  return "unknown";
}

std::optional<AuthorizedPassword> make_authorized_password(std::string_view password, std::string_view login,
                                                           const PublicKey& local) {
  if (login.size() > kMaxLoginSize) return std::nullopt;
  AuthorizedPassword entry;
  entry.login = std::string(login);
  if (!noise::derive_psk(password, local, &entry.psk).ok()) return std::nullopt;
  return entry;
}

PeerTable::PeerTable(const noise::StaticKey& local, PeerTableConfig config)
    : local_(local),
      local_public_(local.public_key()),
      config_(std::move(config)),
      cookies_(local_public_, config_.timers.cookie_secret_ns),
      load_(config_.handshake_load_threshold),
      rate_limiter_(config_.handshake_rate_per_endpoint, config_.handshake_burst_per_endpoint,
                    config_.handshake_rate_buckets) {
  // Every path holds up to four indexes (current, previous, next, pending).
  const std::uint64_t wanted = std::uint64_t{config_.limits.max_neighbours} * config_.limits.max_paths_per_neighbour * 4;
  std::uint32_t size = 16;
  while (size < wanted && size < (1u << 24)) size <<= 1;
  slots_.resize(size);
  slot_mask_ = size - 1;
  free_slots_.reserve(size);
  for (std::uint32_t i = size; i-- > 0;) free_slots_.push_back(i);
  neighbours_.reserve(config_.limits.max_neighbours);
}

PeerTable::~PeerTable() = default;

// ---- indexes ----

std::optional<std::uint32_t> PeerTable::allocate_index(Neighbour* n, Path* p, SlotKind kind) noexcept {
  if (free_slots_.empty()) return std::nullopt;
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  // The low bits name the slot (no hashing per packet); the rest are random.
  const std::uint32_t index = (random_u32() & ~slot_mask_) | slot;
  slots_[slot] = Slot{index, n, p, kind};
  return index;
}

PeerTable::Slot* PeerTable::lookup(std::uint32_t index) noexcept {
  Slot& s = slots_[index & slot_mask_];
  if (s.path == nullptr || s.index != index) return nullptr;
  return &s;
}

void PeerTable::free_index(std::uint32_t index) noexcept {
  Slot* s = lookup(index);
  if (s == nullptr) return;
  *s = Slot{};
  free_slots_.push_back(index & slot_mask_);
}

void PeerTable::rebind(std::uint32_t index, SlotKind kind) noexcept {
  if (Slot* s = lookup(index)) s->kind = kind;
}

void PeerTable::clear_session(Session& s) noexcept {
  if (s.live()) free_index(s.local_index);
  s = Session{};
}

void PeerTable::drop_sessions(Path& p) noexcept {
  clear_session(p.current);
  clear_session(p.previous);
  clear_session(p.next);
  if (p.pending.active()) free_index(p.pending.local_index);
  p.pending = PendingInitiation{};
  p.probe_id = 0;
}

void PeerTable::wake_at(std::uint64_t at_ns) noexcept { next_wake_ns_ = std::min(next_wake_ns_, at_ns); }

// ---- handshake retry backoff ----

std::uint64_t PeerTable::retry_interval(const Path& p) const noexcept {
  const Timers& t = config_.timers;
  // A path that had a session keeps the plain retry: a peer back from a restart or a
  // link back up is found within the documented bounds.
  if (p.state == PeerState::established || p.state == PeerState::unresponsive) return t.handshake_retry_ns;
  std::uint64_t interval = t.handshake_retry_ns;
  for (std::uint32_t i = 1; i < p.unanswered_initiations && interval < t.handshake_retry_max_ns; ++i) interval *= 2;
  return std::min(interval, t.handshake_retry_max_ns);
}

void PeerTable::reset_backoff(Neighbour& n) noexcept {
  for (auto& p : n.paths) {
    p->unanswered_initiations = 0;
    if (p->last_initiation_ns == 0) continue;
    p->next_initiation_ns =
        std::min(p->next_initiation_ns, p->last_initiation_ns + config_.timers.handshake_retry_ns);
    if (p->hinted) wake_at(p->next_initiation_ns);
  }
}

// ---- neighbours and paths ----

Neighbour* PeerTable::find(const PublicKey& key) noexcept {
  for (auto& n : neighbours_)
    if (same_key(n->key, key)) return n.get();
  return nullptr;
}

const Neighbour* PeerTable::find(const PublicKey& key) const noexcept {
  for (const auto& n : neighbours_)
    if (same_key(n->key, key)) return n.get();
  return nullptr;
}

Neighbour* PeerTable::add_neighbour(const PublicKey& key) noexcept {
  if (neighbours_.size() >= config_.limits.max_neighbours) {
    ++stats_.table_full;
    return nullptr;
  }
  try {
    auto n = std::make_unique<Neighbour>();
    n->key = key;
    n->mac1_key = mac1_key_for(key);
    n->cookie_key = cookie_key_for(key);
    n->paths.reserve(config_.limits.max_paths_per_neighbour);
    neighbours_.push_back(std::move(n));
    return neighbours_.back().get();
  } catch (...) {
    ++stats_.table_full;
    return nullptr;
  }
}

Path* PeerTable::find_path(Neighbour& n, Link* link, const Endpoint& endpoint) noexcept {
  for (auto& p : n.paths)
    if (p->link == link && (same_endpoint(p->endpoint, endpoint) || (p->hinted && same_endpoint(p->hint_endpoint, endpoint))))
      return p.get();
  return nullptr;
}

Path* PeerTable::add_path(Neighbour& n, Link* link, const Endpoint& endpoint, std::uint64_t now_ns) noexcept {
  if (n.paths.size() >= config_.limits.max_paths_per_neighbour) {
    ++stats_.table_full;
    return nullptr;
  }
  try {
    auto p = std::make_unique<Path>();
    p->link = link;
    p->endpoint = endpoint;
    p->created_ns = now_ns;
    n.paths.push_back(std::move(p));
    if (!metrics_.empty()) apply_metric(*n.paths.back(), false);  // reported before the path appeared
    return n.paths.back().get();
  } catch (...) {
    ++stats_.table_full;
    return nullptr;
  }
}

void PeerTable::remove_path(Neighbour& n, std::size_t i) noexcept {
  Path* p = n.paths[i].get();
  drop_sessions(*p);
  if (n.best == p) n.best = nullptr;
  n.paths.erase(n.paths.begin() + static_cast<std::ptrdiff_t>(i));
}

// The neighbour's state and best path follow its paths; tell `out` what changed.
void PeerTable::update_neighbour(Neighbour& n, Output& out) noexcept {
  PeerState state = PeerState::gone;
  Path* best = nullptr;
  for (auto& p : n.paths) {
    if (rank(p->state) > rank(state)) state = p->state;
    if (p->state != PeerState::established) continue;
    // Keep the current best unless another path is strictly cheaper.
    if (best == nullptr || p->quality.cost() < best->quality.cost() ||
        (p.get() == n.best && p->quality.cost() == best->quality.cost()))
      best = p.get();
  }
  if (n.paths.empty() && n.configured) state = PeerState::gone;
  const PeerState before = n.state;
  Path* const best_before = n.best;
  n.state = state;
  n.best = best;
  // A neighbour silent for the gone timeout may have restarted with its clock set back (a
  // board without a real-time clock): forget its last timestamp, or it could never peer
  // again. A replay accepted now only makes an unconfirmed session that expires.
  if (state == PeerState::gone) n.has_timestamp = false;
  auto event = [&](PeerEvent::Kind kind) {
    PeerEvent e;
    e.kind = kind;
    e.key = n.key;
    if (n.best != nullptr) {
      e.link = n.best->link;
      e.endpoint = n.best->endpoint;
      e.cost = n.best->quality.cost();
    }
    out.on_event(e);
  };
  if (state != before) {
    if (state == PeerState::established) event(PeerEvent::Kind::established);
    else if (state == PeerState::unresponsive && before == PeerState::established) event(PeerEvent::Kind::unresponsive);
    else if (state == PeerState::gone && rank(before) >= rank(PeerState::unresponsive)) event(PeerEvent::Kind::gone);
  } else if (state == PeerState::established && best != best_before) {
    event(PeerEvent::Kind::best_path_changed);
  }
  const std::uint32_t cost = best != nullptr ? best->quality.cost() : kInfiniteCost;
  if (cost != n.published_cost) {
    n.published_cost = cost;
    if (state == PeerState::established && before == PeerState::established && best == best_before)
      event(PeerEvent::Kind::cost_changed);
  }
}

// ---- link metrics ----

void PeerTable::apply_metric(Path& p, bool exact) noexcept {
  const Str name = p.link->name();
  const std::string_view link_name(name.data, name.size);
  const LinkMetricStore::Entry* e = metrics_.find(link_name, p.endpoint);
  if (e == nullptr && p.hinted) e = metrics_.find(link_name, p.hint_endpoint);
  p.has_metric = e != nullptr;
  p.metric = e != nullptr ? e->metric : LinkMetric{};
  p.quality.set_metric_cost(p.metric.cost);
  // An unresponsive or new path keeps its infinite cost until it is heard again.
  if (p.established()) p.quality.update_cost(exact);
}

void PeerTable::apply_metrics(std::string_view link_name, const Endpoint& endpoint, bool exact, Output& out) noexcept {
  for (auto& n : neighbours_) {
    bool touched = false;
    for (auto& p : n->paths) {
      const Str name = p->link->name();
      if (std::string_view(name.data, name.size) != link_name) continue;
      if (!same_endpoint(p->endpoint, endpoint) && !(p->hinted && same_endpoint(p->hint_endpoint, endpoint))) continue;
      apply_metric(*p, exact);
      touched = true;
    }
    if (touched) update_neighbour(*n, out);
  }
}

void PeerTable::set_link_metric(std::uint32_t source, std::string_view link_name, const Endpoint& endpoint,
                                const LinkMetric& metric, Output& out) noexcept {
  try {
    const auto dropped = metrics_.set(source, link_name, endpoint, metric);
    if (dropped) apply_metrics(dropped->link, dropped->endpoint, true, out);
  } catch (const std::bad_alloc&) {
    ++stats_.table_full;
    return;
  }
  apply_metrics(link_name, endpoint, false, out);
}

void PeerTable::forget_link_metric(std::uint32_t source, std::string_view link_name, const Endpoint& endpoint,
                                   Output& out) noexcept {
  if (metrics_.forget(source, link_name, endpoint)) apply_metrics(link_name, endpoint, true, out);
}

void PeerTable::forget_metric_source(std::uint32_t source, Output& out) noexcept {
  while (auto key = metrics_.forget_one(source)) apply_metrics(key->link, key->endpoint, true, out);
}

// ---- hints ----

bool PeerTable::needs_psk(const PeerHint& hint) const noexcept {
  if (!hint.from_beacon || hint.password.size == 0) return false;
  if (same_key(hint.key, local_public_) || !is_valid_node_key(hint.key)) return false;  // refused anyway
  const Neighbour* n = find(hint.key);
  return n == nullptr || (!n->configured && std::string_view(hint.password.data, hint.password.size) != n->password);
}

void PeerTable::add_hint(Link* link, const PeerHint& hint, std::uint64_t now_ns, Output& out) noexcept {
  this->hint(link, hint, nullptr, now_ns, out);
}

void PeerTable::add_hint(Link* link, const PeerHint& hint, const noise::Psk& psk, std::uint64_t now_ns,
                         Output& out) noexcept {
  this->hint(link, hint, &psk, now_ns, out);
}

// `psk`, when given, is the hint's password's psk towards hint.key, derived by the caller.
void PeerTable::hint(Link* link, const PeerHint& hint, const noise::Psk* psk, std::uint64_t now_ns,
                     Output& out) noexcept {
  if (same_key(hint.key, local_public_) || !is_valid_node_key(hint.key)) {
    ++stats_.invalid_key;
    return;
  }
  Neighbour* n = find(hint.key);
  if (n == nullptr && (n = add_neighbour(hint.key)) == nullptr) return;
  // How we initiate: a configured hint sets it for good; a beacon's hint carries the
  // driver's beacon password and login (what this node offers nodes it hears), which
  // never override a configured neighbour's.
  if (!hint.from_beacon || !n->configured) {
    try {
      const std::string_view password(hint.password.data, hint.password.size);
      if (password != n->password || (!hint.from_beacon && !n->configured)) {
        n->password = std::string(password);
        if (psk != nullptr) {
          n->initiator_psk = *psk;
        } else {
          if (!password.empty()) ++stats_.psks_derived;
          if (!noise::derive_psk(password, hint.key, &n->initiator_psk).ok()) n->initiator_psk = noise::Psk{};
        }
      }
      n->login = std::string(hint.login.data, std::min(hint.login.size, kMaxLoginSize));
      if (!hint.from_beacon) {
        n->peer_name = std::string(hint.peer_name.data, hint.peer_name.size);
        n->configured = true;
      }
    } catch (...) {
      ++stats_.table_full;
      return;
    }
  }
  Path* p = find_path(*n, link, hint.endpoint);
  if (p == nullptr && (p = add_path(*n, link, hint.endpoint, now_ns)) == nullptr) return;
  p->hinted = true;
  p->configured = p->configured || !hint.from_beacon;
  p->last_hint_ns = now_ns;
  p->hint_endpoint = hint.endpoint;
  if (p->state == PeerState::gone) p->state = PeerState::handshaking;
  reset_backoff(*n);  // configured at (re)start or link up, or heard in a beacon just now
  wake_at(service_path(*n, *p, now_ns, out));
  update_neighbour(*n, out);
}

void PeerTable::remove_link(Link* link, std::uint64_t now_ns, Output& out) noexcept {
  (void)now_ns;
  for (std::size_t i = 0; i < neighbours_.size();) {
    Neighbour& n = *neighbours_[i];
    for (std::size_t j = n.paths.size(); j-- > 0;)
      if (n.paths[j]->link == link) remove_path(n, j);
    update_neighbour(n, out);
    if (n.paths.empty() && !n.configured) {
      neighbours_.erase(neighbours_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

// ---- receiving ----

std::optional<Delivery> PeerTable::receive(Link* link, const Endpoint& from, MutableByteView frame,
                                           std::uint64_t now_ns, Output& out) noexcept {
  const auto header = parse_header(frame);
  if (!header) {
    ++stats_.short_frame;
    return std::nullopt;
  }
  if (header->version != kFrameVersion) {
    ++stats_.bad_version;
    return std::nullopt;
  }
  switch (static_cast<FrameType>(header->type)) {
    case FrameType::transport: return on_transport(link, from, frame, now_ns, out);
    case FrameType::handshake_initiation: on_initiation(link, from, frame, now_ns, out); break;
    case FrameType::handshake_response: on_response(link, from, frame, now_ns, out); break;
    case FrameType::cookie_reply: on_cookie_reply(frame); break;
    case FrameType::transport_headers: return on_transport_headers(link, from, frame, now_ns, out);
    default: ++stats_.unknown_type; break;
  }
  return std::nullopt;
}

void PeerTable::on_initiation(Link* link, const Endpoint& from, ByteView frame, std::uint64_t now_ns,
                              Output& out) noexcept {
  const auto msg = parse_initiation(frame);
  if (!msg) {
    ++stats_.malformed;
    return;
  }
  // Cheap checks first: mac1 before any DH, and under load mac2 before any DH either.
  if (!cookies_.check_mac1(msg->mac1_covered, msg->mac1)) {
    ++stats_.bad_mac1;
    return;
  }
  if (load_.record(now_ns)) {
    if (!cookies_.check_mac2(from, msg->mac2_covered, msg->mac2, now_ns)) {
      ++stats_.bad_mac2_under_load;
      std::uint8_t reply[kCookieReplySize];
      cookies_.write_reply(msg->sender_index, msg->mac1, from, now_ns, reply);
      out.send_frame(link, from, reply);
      ++stats_.cookie_replies_sent;
      return;
    }
    // A real endpoint still gets only so many DH a second.
    if (!rate_limiter_.allow(from, now_ns)) {
      ++stats_.rate_limited;
      return;
    }
  }

  auto hs = noise::Handshake::responder(local_, noise::kLinkPrologue);
  std::uint8_t payload_bytes[kInitiationPayloadMaxSize];
  std::size_t payload_size = 0;
  if (msg->noise_message.size() > noise::initiation_size(kInitiationPayloadMaxSize) ||
      !hs.consume_initiation(msg->noise_message, payload_bytes, &payload_size).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  const auto payload = parse_initiation_payload(ByteView(payload_bytes, payload_size));
  if (!payload) {
    ++stats_.malformed;
    return;
  }
  const PublicKey remote = hs.remote_static();
  if (same_key(remote, local_public_) || !is_valid_node_key(remote)) {
    ++stats_.invalid_key;
    return;
  }

  // The psk: the login selects a password; no login → the single login-less one, if any.
  noise::Psk psk;
  if (!payload->login.empty()) {
    const auto it = std::find_if(config_.authorized_passwords.begin(), config_.authorized_passwords.end(),
                                 [&](const AuthorizedPassword& a) { return a.login == payload->login; });
    if (it == config_.authorized_passwords.end()) {
      ++stats_.unknown_login;
      return;
    }
    psk = it->psk;
  } else {
    const AuthorizedPassword* only = nullptr;
    std::size_t count = 0;
    for (const auto& a : config_.authorized_passwords)
      if (a.login.empty()) ++count, only = &a;
    if (count == 1) psk = only->psk;
  }

  Neighbour* n = find(remote);
  // A configured neighbour is always welcome; anyone else is a discovered peer.
  if (n == nullptr || !n->configured) {
    switch (link->discovered_peer_policy()) {
      case DiscoveredPeerPolicy::accept_any: break;
      case DiscoveredPeerPolicy::require_password:
        if (psk_is_zero(psk)) {
          ++stats_.policy_rejected;
          return;
        }
        break;
      case DiscoveredPeerPolicy::allow_list:
        if (!link->allows(remote)) {
          ++stats_.policy_rejected;
          return;
        }
        break;
    }
  }
  if (n != nullptr && n->has_timestamp && !tai64n_is_newer(payload->timestamp, n->last_timestamp)) {
    ++stats_.stale_timestamp;
    return;
  }
  if (n == nullptr && (n = add_neighbour(remote)) == nullptr) return;
  Path* p = find_path(*n, link, from);
  if (p == nullptr && (p = add_path(*n, link, from, now_ns)) == nullptr) {
    update_neighbour(*n, out);
    return;
  }

  // Both sides initiating at once: the initiation from the lower public key wins. Only
  // while ours is young, though: one outstanding for half a retry has probably been lost
  // (or cannot reach the peer at all), and refusing theirs would leave no session.
  if (p->pending.active()) {
    const bool ours_is_young = age(now_ns, p->pending.sent_ns) < config_.timers.handshake_retry_ns / 2;
    if (ours_is_young && std::memcmp(local_public_.bytes, remote.bytes, kPublicKeySize) < 0) {
      ++stats_.collision_lost;
      return;
    }
    free_index(p->pending.local_index);
    p->pending = PendingInitiation{};
  }

  const auto index = allocate_index(n, p, SlotKind::next);
  if (!index) {
    ++stats_.table_full;
    return;
  }
  std::uint8_t response[kResponseSize];
  std::size_t written = 0;
  hs.set_psk(psk);
  noise::Transport transport;
  if (!hs.create_response({}, std::span(response + kResponseNoiseOffset, kResponseNoiseSize), &written).ok() ||
      written != kResponseNoiseSize || !hs.split(&transport).ok()) {
    free_index(*index);
    ++stats_.handshake_failed;
    return;
  }
  n->last_timestamp = payload->timestamp;
  reset_backoff(*n);  // the initiation authenticated its sender: it is there
  n->has_timestamp = true;

  // A newer unconfirmed session replaces an older one; `current` stays until confirmation.
  if (p->next.live()) ++stats_.unconfirmed_dropped;
  clear_session(p->next);
  p->next.transport = std::move(transport);
  p->next.local_index = *index;
  p->next.remote_index = msg->sender_index;
  p->next.created_ns = now_ns;
  p->next.initiator = false;
  p->endpoint = from;

  put_header(response, FrameType::handshake_response);
  put_u32(response + kFrameHeaderSize, *index);
  put_u32(response + kFrameHeaderSize + kIndexSize, msg->sender_index);
  constexpr std::size_t mac1_at = kResponseNoiseOffset + kResponseNoiseSize;
  const Mac mac1 = compute_mac1(n->mac1_key, ByteView(response, mac1_at));
  std::memcpy(response + mac1_at, mac1.bytes, kMacSize);
  Mac mac2;
  if (p->has_cookie && age(now_ns, p->cookie_ns) < config_.timers.cookie_secret_ns - config_.timers.handshake_retry_ns)
    mac2 = compute_mac2(p->cookie, ByteView(response, mac1_at + kMacSize));
  std::memcpy(response + mac1_at + kMacSize, mac2.bytes, kMacSize);
  out.send_frame(link, from, ByteView(response, sizeof response));
  ++stats_.responses_sent;
  wake_at(now_ns + config_.timers.unconfirmed_ns);
  update_neighbour(*n, out);
}

void PeerTable::on_response(Link* link, const Endpoint& from, ByteView frame, std::uint64_t now_ns,
                            Output& out) noexcept {
  (void)link;
  const auto msg = parse_response(frame);
  if (!msg) {
    ++stats_.malformed;
    return;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind != SlotKind::pending) {
    ++stats_.unexpected_message;
    return;
  }
  if (!cookies_.check_mac1(msg->mac1_covered, msg->mac1)) {
    ++stats_.bad_mac1;
    return;
  }
  Neighbour& n = *slot->neighbour;
  Path& p = *slot->path;
  std::size_t payload_size = 0;
  std::uint8_t payload[1];
  // A failed response leaves the handshake as it was (wrong psk, forgery).
  if (!p.pending.handshake->consume_response(msg->noise_message, std::span(payload, 0), &payload_size).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  Session fresh;
  if (!p.pending.handshake->split(&fresh.transport).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  fresh.local_index = p.pending.local_index;
  fresh.remote_index = msg->sender_index;
  fresh.created_ns = now_ns;
  fresh.initiator = true;
  p.pending = PendingInitiation{};

  // The response authenticated us both: the initiator switches at once and confirms with
  // its first transport packet (a probe, just below).
  clear_session(p.previous);
  if (p.current.live()) {
    p.previous = std::move(p.current);
    rebind(p.previous.local_index, SlotKind::previous);
  }
  p.current = std::move(fresh);
  rebind(p.current.local_index, SlotKind::current);
  clear_session(p.next);
  ++stats_.sessions_established;
  path_heard(n, p, from, now_ns, out);
  // Confirm at once: an echo request if none is outstanding (a first RTT sample), else a
  // bare keepalive, so a rekey does not count the outstanding probe as lost.
  if (p.probe_id == 0) {
    send_probe(n, p, now_ns, out);  // hands over the 0x05 key too, on a headers link
  } else {
    send_inner(n, p, InnerType::keepalive, {}, now_ns, out);
    if (p.link->hop_encryption() == HopEncryption::headers) send_headers_key(n, p, now_ns, out);
  }
  update_neighbour(n, out);
}

void PeerTable::on_cookie_reply(ByteView frame) noexcept {
  const auto msg = parse_cookie_reply(frame);
  if (!msg) {
    ++stats_.malformed;
    return;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind != SlotKind::pending) {
    ++stats_.unexpected_message;
    return;
  }
  Path& p = *slot->path;
  Cookie cookie;
  if (!open_cookie_reply(slot->neighbour->cookie_key, *msg, ByteView(p.pending.mac1.bytes, kMacSize), &cookie)) {
    ++stats_.bad_cookie_reply;
    return;
  }
  ++stats_.cookie_replies_received;
  p.cookie = cookie;
  p.cookie_ns = p.pending.sent_ns;
  p.has_cookie = true;
}

std::optional<Delivery> PeerTable::on_transport(Link* link, const Endpoint& from, MutableByteView frame,
                                                std::uint64_t now_ns, Output& out) noexcept {
  const auto msg = parse_transport(frame);
  if (!msg) {
    ++stats_.malformed;
    return std::nullopt;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind == SlotKind::pending || slot->path->link != link) {
    ++stats_.unknown_index;
    return std::nullopt;
  }
  Neighbour& n = *slot->neighbour;
  Path& p = *slot->path;
  const SlotKind kind = slot->kind;
  Session& s = p.slot(kind);
  if (age(now_ns, s.created_ns) >= config_.timers.reject_after_ns) {
    ++stats_.session_expired;
    return std::nullopt;
  }
  MutableByteView text = frame.subspan(kTransportHeaderSize);
  std::size_t plain_size = 0;
  switch (s.transport.decrypt(msg->counter, msg->ciphertext, text, &plain_size, msg->header)) {
    case noise::DecryptResult::ok: break;
    case noise::DecryptResult::replayed: ++stats_.replayed_counter; return std::nullopt;
    case noise::DecryptResult::forged: ++stats_.decrypt_failed; return std::nullopt;
    case noise::DecryptResult::malformed: ++stats_.malformed; return std::nullopt;
  }
  if (plain_size < kInnerTypeSize) {
    ++stats_.malformed;
    return std::nullopt;
  }
  if (kind == SlotKind::next) {
    // Key confirmation: the initiator used the new session, so it replaces the old one.
    clear_session(p.previous);
    if (p.current.live()) {
      p.previous = std::move(p.current);
      rebind(p.previous.local_index, SlotKind::previous);
    }
    p.current = std::move(p.next);
    p.next = Session{};
    rebind(p.current.local_index, SlotKind::current);
    ++stats_.sessions_established;
    // The new session sends 0x05 once the peer has its key.
    if (p.link->hop_encryption() == HopEncryption::headers) send_headers_key(n, p, now_ns, out);
  }
  ++p.packets_in;
  p.bytes_in += frame.size();
  const bool was_established = p.established();
  path_heard(n, p, from, now_ns, out);
  if (!was_established && p.established() && p.probe_id == 0) send_probe(n, p, now_ns, out);

  const auto type = static_cast<InnerType>(text[0]);
  const MutableByteView body = text.subspan(kInnerTypeSize, plain_size - kInnerTypeSize);
  switch (type) {
    case InnerType::keepalive:
      if (body.size() == kEchoIdSize) send_inner(n, p, InnerType::echo_reply, body, now_ns, out);
      break;
    case InnerType::echo_reply:
      if (body.size() == kEchoIdSize && p.probe_id != 0 && get_u64(body.data()) == p.probe_id) {
        p.quality.on_rtt_sample(age(now_ns, p.last_probe_ns));
        p.quality.on_probe(true);
        p.probe_id = 0;
        p.quality.update_cost();
      }
      break;
    case InnerType::data:
      update_neighbour(n, out);
      return Delivery{&n, &p, body};
    case InnerType::headers_key:
      if (body.size() == kHeadersKeyBodySize) {
        // The session the frame came on (after key confirmation: now the current one).
        Session& rs = kind == SlotKind::next ? p.current : p.slot(kind);
        const std::uint64_t id = get_u64(body.data());
        if (id != 0 && id != rs.headers.rx_id) {
          std::memcpy(rs.headers.rx.bytes, body.data() + kHeadersKeyIdSize, kHeadersKeySize);
          rs.headers.rx_id = id;
          rs.headers.rx_window.reset();
        }
        sodium_memzero(body.data(), body.size());
        std::uint8_t ack[kHeadersKeyIdSize];
        put_u64(ack, id);
        send_inner(n, p, InnerType::headers_key_ack, ack, now_ns, out);
      } else {
        ++stats_.malformed;
      }
      break;
    case InnerType::headers_key_ack:
      if (body.size() == kHeadersKeyIdSize && p.current.headers.tx_id != 0 &&
          get_u64(body.data()) == p.current.headers.tx_id)
        p.current.headers.tx_acked = true;
      break;
    default: ++stats_.unknown_inner_type; break;
  }
  update_neighbour(n, out);
  return std::nullopt;
}

std::optional<Delivery> PeerTable::on_transport_headers(Link* link, const Endpoint& from, MutableByteView frame,
                                                        std::uint64_t now_ns, Output& out) noexcept {
  const auto msg = parse_headers_frame(frame);
  if (!msg) {
    ++stats_.malformed;
    return std::nullopt;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind == SlotKind::pending || slot->path->link != link) {
    ++stats_.unknown_index;
    return std::nullopt;
  }
  // Only a link the operator trusts with cleartext e2e payloads may carry 0x05.
  if (link->hop_encryption() != HopEncryption::headers) {
    ++stats_.headers_not_allowed;
    return std::nullopt;
  }
  Neighbour& n = *slot->neighbour;
  Path& p = *slot->path;
  Session& s = p.slot(slot->kind);
  if (s.headers.rx_id == 0) {
    ++stats_.no_headers_key;
    return std::nullopt;
  }
  if (age(now_ns, s.created_ns) >= config_.timers.reject_after_ns) {
    ++stats_.session_expired;
    return std::nullopt;
  }
  if (!s.headers.rx_window.check(msg->counter)) {
    ++stats_.replayed_counter;
    return std::nullopt;
  }
  if (!headers_open(s.headers.rx, msg->counter, frame, msg->encrypted_size)) {
    ++stats_.decrypt_failed;
    return std::nullopt;
  }
  if (!s.headers.rx_window.update(msg->counter)) {
    ++stats_.replayed_counter;
    return std::nullopt;
  }
  if (frame[kHeadersOuterSize] != static_cast<std::uint8_t>(InnerType::data)) {
    ++stats_.unknown_inner_type;  // 0x05 carries data only
    return std::nullopt;
  }
  ++stats_.headers_frames_received;
  ++p.packets_in;
  p.bytes_in += frame.size();
  path_heard(n, p, from, now_ns, out);
  update_neighbour(n, out);
  const std::size_t body_at = kHeadersOuterSize + kInnerTypeSize;
  return Delivery{&n, &p, frame.subspan(body_at, frame.size() - body_at - noise::kTagSize)};
}

// An authenticated packet on `p`: roaming, liveness, state.
void PeerTable::path_heard(Neighbour& n, Path& p, const Endpoint& from, std::uint64_t now_ns, Output& out) noexcept {
  (void)out;
  if (!same_endpoint(p.endpoint, from)) {
    p.endpoint = from;
    if (!metrics_.empty()) apply_metric(p, false);  // a metric names the endpoint, which roamed
  }
  p.last_received_ns = now_ns;
  reset_backoff(n);
  if (p.current.live() && p.state != PeerState::established) {
    p.state = PeerState::established;
    p.quality.update_cost();
  }
  wake_at(now_ns + config_.timers.unresponsive_ns);
}

// ---- sending ----

Tai64n PeerTable::next_timestamp(std::uint64_t now_ns) noexcept {
  // Rounded down to 2^24 ns, then strictly increasing within a run (+1 ns where the rounding
  // would repeat a stamp), so two paths' initiations never carry the same one.
  const std::int64_t signed_unix = static_cast<std::int64_t>(now_ns) + config_.unix_time_offset_ns;
  std::uint64_t unix_ns = signed_unix > 0 ? static_cast<std::uint64_t>(signed_unix) : 0;
  unix_ns &= ~((std::uint64_t{1} << 24) - 1);  // as tai64n_now(): no precise clock reading leaks
  if (unix_ns <= last_stamp_unix_ns_) unix_ns = last_stamp_unix_ns_ + 1;
  last_stamp_unix_ns_ = unix_ns;
  return tai64n_from_unix(static_cast<std::int64_t>(unix_ns / kNsPerSecond),
                          static_cast<std::uint32_t>(unix_ns % kNsPerSecond));
}

void PeerTable::send_initiation(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept {
  if (p.pending.active()) free_index(p.pending.local_index);
  p.pending = PendingInitiation{};
  const auto index = allocate_index(&n, &p, SlotKind::pending);
  if (!index) {
    ++stats_.table_full;
    return;
  }
  std::uint8_t payload[kInitiationPayloadMaxSize];
  const std::size_t payload_size = write_initiation_payload(next_timestamp(now_ns), n.login, payload);
  std::uint8_t frame[kInitiationMaxSize];
  const std::size_t noise_size = noise::initiation_size(payload_size);
  const std::size_t mac1_at = kInitiationNoiseOffset + noise_size;
  const std::size_t frame_size = mac1_at + 2 * kMacSize;
  p.pending.handshake.emplace(noise::Handshake::initiator(local_, n.key, noise::kLinkPrologue, n.initiator_psk));
  std::size_t written = 0;
  if (payload_size == 0 ||
      !p.pending.handshake->create_initiation(ByteView(payload, payload_size),
                                              std::span(frame + kInitiationNoiseOffset, noise_size), &written).ok()) {
    free_index(*index);
    p.pending = PendingInitiation{};
    ++stats_.handshake_failed;
    return;
  }
  put_header(frame, FrameType::handshake_initiation);
  put_u32(frame + kFrameHeaderSize, *index);
  p.pending.mac1 = compute_mac1(n.mac1_key, ByteView(frame, mac1_at));
  std::memcpy(frame + mac1_at, p.pending.mac1.bytes, kMacSize);
  Mac mac2;
  if (p.has_cookie && age(now_ns, p.cookie_ns) < config_.timers.cookie_secret_ns - config_.timers.handshake_retry_ns)
    mac2 = compute_mac2(p.cookie, ByteView(frame, mac1_at + kMacSize));
  std::memcpy(frame + mac1_at + kMacSize, mac2.bytes, kMacSize);
  p.pending.local_index = *index;
  p.pending.sent_ns = now_ns;
  ++p.unanswered_initiations;
  p.last_initiation_ns = now_ns;
  p.next_initiation_ns = now_ns + retry_interval(p);
  // Where the peer last spoke from while it answers; where the hint said otherwise.
  out.send_frame(p.link, p.hinted && p.state != PeerState::established ? p.hint_endpoint : p.endpoint,
                 ByteView(frame, frame_size));
  ++stats_.initiations_sent;
}

bool PeerTable::send_inner(Neighbour& n, Path& p, InnerType type, ByteView body, std::uint64_t now_ns,
                           Output& out) noexcept {
  (void)n;
  constexpr std::size_t kMaxControlBody = 64;
  Session& s = p.current;
  if (!s.live() || body.size() > kMaxControlBody || age(now_ns, s.created_ns) >= config_.timers.reject_after_ns)
    return false;
  std::uint8_t frame[kTransportOverhead + kMaxControlBody];
  const std::size_t plain_size = kInnerTypeSize + body.size();
  put_header(frame, FrameType::transport);
  put_u32(frame + kFrameHeaderSize, s.remote_index);
  put_u64(frame + kFrameHeaderSize + kIndexSize, s.transport.send_counter());
  frame[kTransportHeaderSize] = static_cast<std::uint8_t>(type);
  if (!body.empty()) std::memcpy(frame + kTransportHeaderSize + kInnerTypeSize, body.data(), body.size());
  std::uint64_t counter = 0;
  const std::span<std::uint8_t> text(frame + kTransportHeaderSize, plain_size + noise::kTagSize);
  if (!s.transport.encrypt(text.first(plain_size), text, &counter, ByteView(frame, kTransportHeaderSize)).ok())
    return false;
  const std::size_t size = kTransportHeaderSize + plain_size + noise::kTagSize;
  ++p.packets_out;
  p.bytes_out += size;
  out.send_frame(p.link, p.endpoint, ByteView(frame, size));
  return true;
}

// Hands the peer our key for 0x05 frames on the current session, until it acknowledges.
void PeerTable::send_headers_key(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept {
  HeadersKeys& h = p.current.headers;
  if (!p.current.live() || h.tx_acked) return;
  if (h.tx_id == 0) {
    randombytes_buf(h.tx.bytes, sizeof h.tx.bytes);
    do randombytes_buf(&h.tx_id, sizeof h.tx_id);
    while (h.tx_id == 0);
    h.tx_counter = 0;
  }
  std::uint8_t body[kHeadersKeyBodySize];
  put_u64(body, h.tx_id);
  std::memcpy(body + kHeadersKeyIdSize, h.tx.bytes, kHeadersKeySize);
  send_inner(n, p, InnerType::headers_key, body, now_ns, out);
  sodium_memzero(body, sizeof body);
}

void PeerTable::send_probe(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept {
  if (p.link->hop_encryption() == HopEncryption::headers) send_headers_key(n, p, now_ns, out);
  if (p.probe_id != 0) {  // the last one went unanswered
    p.quality.on_probe(false);
    if (p.established()) p.quality.update_cost();
  }
  std::uint8_t id[kEchoIdSize];
  const std::uint64_t probe = next_probe_id_++;
  put_u64(id, probe);
  if (send_inner(n, p, InnerType::keepalive, id, now_ns, out)) {
    p.probe_id = probe;
    p.last_probe_ns = now_ns;
    wake_at(now_ns + config_.timers.keepalive_ns);
  }
}

Link* PeerTable::seal(Neighbour& to, Packet& packet, std::uint64_t now_ns, std::size_t authenticate_from) noexcept {
  Path* p = to.best;
  if (p == nullptr || !p->current.live() || age(now_ns, p->current.created_ns) >= config_.timers.reject_after_ns ||
      packet.headroom() < kHeadersOuterSize + kInnerTypeSize || packet.tailroom() < noise::kTagSize) {
    ++stats_.no_session;
    return nullptr;
  }
  Session& s = p->current;
  if (authenticate_from < packet.length && s.headers.tx_acked &&
      s.headers.tx_counter < noise::Transport::kRejectAfterMessages &&
      p->link->hop_encryption() == HopEncryption::headers) {
    // 0x05: outer header in clear, inner type + the first `authenticate_from` bytes
    // encrypted, the rest authenticated, the tag at the end.
    const std::size_t encrypted_size = kInnerTypeSize + authenticate_from;
    std::uint8_t* inner = packet.prepend(kInnerTypeSize);
    inner[0] = static_cast<std::uint8_t>(InnerType::data);
    std::uint8_t* header = packet.prepend(kHeadersOuterSize);
    put_header(header, FrameType::transport_headers);
    put_u32(header + kFrameHeaderSize, s.remote_index);
    const std::uint64_t counter = s.headers.tx_counter++;
    put_u64(header + kFrameHeaderSize + kIndexSize, counter);
    header[kTransportHeaderSize] = static_cast<std::uint8_t>(encrypted_size >> 8);
    header[kTransportHeaderSize + 1] = static_cast<std::uint8_t>(encrypted_size);
    packet.append(noise::kTagSize);
    headers_seal(s.headers.tx, counter, MutableByteView(packet.data(), packet.length), encrypted_size);
    ++p->packets_out;
    p->bytes_out += packet.length;
    packet.endpoint = p->endpoint;
    return p->link;
  }
  const std::uint32_t plain_size = packet.length + kInnerTypeSize;
  std::uint8_t* inner = packet.prepend(kInnerTypeSize);
  inner[0] = static_cast<std::uint8_t>(InnerType::data);
  std::uint8_t* header = packet.prepend(kTransportHeaderSize);
  put_header(header, FrameType::transport);
  put_u32(header + kFrameHeaderSize, s.remote_index);
  put_u64(header + kFrameHeaderSize + kIndexSize, s.transport.send_counter());
  packet.append(noise::kTagSize);
  std::uint64_t counter = 0;
  const std::span<std::uint8_t> text(inner, plain_size + noise::kTagSize);
  if (!s.transport.encrypt(text.first(plain_size), text, &counter, ByteView(header, kTransportHeaderSize)).ok()) {
    packet.consume(kTransportHeaderSize + kInnerTypeSize);
    packet.trim(noise::kTagSize);
    ++stats_.no_session;
    return nullptr;
  }
  ++p->packets_out;
  p->bytes_out += packet.length;
  packet.endpoint = p->endpoint;
  return p->link;
}

bool PeerTable::send_data(Neighbour& to, ByteView payload, std::uint64_t now_ns, Output& out) noexcept {
  constexpr std::uint32_t kHeadroom = kHeadersOuterSize + kInnerTypeSize;
  constexpr std::uint32_t kCapacity = 2048;
  if (payload.size() > kCapacity - kHeadroom - noise::kTagSize) return false;
  std::uint8_t buffer[kCapacity];
  Packet packet{buffer, kCapacity, kHeadroom, static_cast<std::uint32_t>(payload.size()), nullptr, {}, {}};
  if (!payload.empty()) std::memcpy(buffer + kHeadroom, payload.data(), payload.size());
  Link* link = seal(to, packet, now_ns);
  if (link == nullptr) return false;
  out.send_frame(link, packet.endpoint, ByteView(packet.data(), packet.length));
  return true;
}

// ---- timers ----

// Runs the path's due timers; returns its next deadline.
std::uint64_t PeerTable::service_path(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept {
  const Timers& t = config_.timers;
  std::uint64_t wake = kNever;
  auto at = [&](std::uint64_t when) { wake = std::min(wake, when); };

  if (p.previous.live()) {
    if (age(now_ns, p.previous.created_ns) >= t.reject_after_ns) clear_session(p.previous);
    else at(p.previous.created_ns + t.reject_after_ns);
  }
  if (p.next.live()) {
    if (age(now_ns, p.next.created_ns) >= t.unconfirmed_ns) {
      clear_session(p.next);
      ++stats_.unconfirmed_dropped;
    } else {
      at(p.next.created_ns + t.unconfirmed_ns);
    }
  }
  if (p.current.live()) {
    if (age(now_ns, p.current.created_ns) >= t.reject_after_ns) clear_session(p.current);
    else at(p.current.created_ns + t.reject_after_ns);
  }
  if (p.pending.active() && age(now_ns, p.pending.sent_ns) >= t.handshake_retry_ns) {
    free_index(p.pending.local_index);
    p.pending = PendingInitiation{};
  }

  // Liveness.
  const std::uint64_t silent = p.last_received_ns != 0 ? age(now_ns, p.last_received_ns) : age(now_ns, p.created_ns);
  if (p.state == PeerState::established) {
    if (!p.current.live() || silent >= t.unresponsive_ns) {
      p.state = PeerState::unresponsive;
      p.quality.mark_unreachable();
    } else {
      at(p.last_received_ns + t.unresponsive_ns);
    }
  }
  if (p.state == PeerState::unresponsive) {
    if (silent >= t.gone_ns) {
      p.state = PeerState::gone;
      p.unanswered_initiations = 0;  // a configured path backs off afresh from here
      drop_sessions(p);
      p.quality.reset();
      if (p.hinted) p.endpoint = p.hint_endpoint;
    } else {
      at(p.last_received_ns + t.gone_ns);
    }
  }
  // A path that is not configured and has nothing left is finished: at once if we cannot
  // initiate on it, or once its beacons have not been heard for Timers::gone_ns.
  if (!p.configured && !p.current.live() && !p.next.live() && p.state != PeerState::unresponsive) {
    if (!p.hinted || age(now_ns, p.last_hint_ns) >= t.gone_ns) {
      p.state = PeerState::gone;
      return kNever;
    }
    at(p.last_hint_ns + t.gone_ns);
  }

  // Handshakes: only where a hint told us how (a responder-only path waits for the peer).
  // A session we answered that is still unconfirmed after a retry does not hold ours back:
  // when both sides answer each other's initiation at once and drop their own, neither
  // response finds its handshake, and only a fresh initiation ends the wait.
  const bool next_stalled =
      p.next.live() && !p.next.initiator && age(now_ns, p.next.created_ns) >= t.handshake_retry_ns;
  if (p.hinted && p.next.live() && !next_stalled) at(p.next.created_ns + t.handshake_retry_ns);
  if (p.hinted && (!p.next.live() || next_stalled)) {
    const std::uint64_t rekey_age = p.current.initiator ? t.rekey_after_ns : t.responder_rekey_after_ns;
    bool need = !p.current.live();
    std::uint64_t due = now_ns;
    if (!need) {
      const bool too_old = age(now_ns, p.current.created_ns) >= rekey_age ||
                           p.current.transport.send_counter() >= noise::Transport::kRekeyAfterMessages;
      const bool silent_too_long = age(now_ns, p.last_received_ns) >= t.silence_rehandshake_ns;
      need = too_old || silent_too_long;
      due = std::min(p.current.created_ns + rekey_age, p.last_received_ns + t.silence_rehandshake_ns);
    }
    if (p.pending.active()) {
      at(p.pending.sent_ns + t.handshake_retry_ns);
    } else if (need && now_ns >= p.next_initiation_ns) {
      send_initiation(n, p, now_ns, out);
      at(now_ns + t.handshake_retry_ns);
    } else {
      at(std::max(due, p.next_initiation_ns));
    }
  }

  // Keepalive probes on a path with a session.
  if (p.current.live() && (p.state == PeerState::established || p.state == PeerState::unresponsive)) {
    if (age(now_ns, p.last_probe_ns) >= t.keepalive_ns) send_probe(n, p, now_ns, out);
    at(p.last_probe_ns + t.keepalive_ns);
  }
  return wake;
}

std::uint64_t PeerTable::tick(std::uint64_t now_ns, Output& out) noexcept {
  next_wake_ns_ = kNever;
  for (std::size_t i = 0; i < neighbours_.size();) {
    Neighbour& n = *neighbours_[i];
    for (std::size_t j = 0; j < n.paths.size();) {
      Path& p = *n.paths[j];
      wake_at(service_path(n, p, now_ns, out));
      if (p.state == PeerState::gone && !p.configured) {
        remove_path(n, j);
      } else {
        ++j;
      }
    }
    update_neighbour(n, out);
    if (n.paths.empty() && !n.configured) {
      neighbours_.erase(neighbours_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return next_wake_ns_;
}

}  // namespace mh::sw
