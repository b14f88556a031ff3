// The session plugin's lifecycle and data path glue: the mesh below, receivers above, the
// session table in between, the loop's timers around it.
#include "session.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <ctime>

namespace mh::session {

namespace {

// Drop reasons published as meshhost_session_dropped_total{reason=…}.
struct Field {
  const char* name;
  std::uint64_t Stats::*field;
};
constexpr Field kDropReasons[] = {
    {"bad_message", &Stats::bad_message},
    {"bad_mac1", &Stats::bad_mac1},
    {"rate_limited", &Stats::rate_limited},
    {"handshake_failed", &Stats::handshake_failed},
    {"stale_timestamp", &Stats::stale_timestamp},
    {"invalid_key", &Stats::invalid_key},
    {"table_full", &Stats::table_full},
    {"collision_lost", &Stats::collision_lost},
    {"unexpected_response", &Stats::unexpected_response},
    {"unknown_index", &Stats::unknown_index},
    {"expired", &Stats::expired},
    {"decrypt_failed", &Stats::decrypt_failed},
    {"replayed", &Stats::replayed},
    {"queue_full", &Stats::queue_full},
    {"unreachable", &Stats::unreachable},
    {"bad_packet", &Stats::bad_packet},
    {"unconfirmed_dropped", &Stats::unconfirmed_dropped},
    {"no_route", &Stats::no_route},
    {"no_receiver", &Stats::no_receiver},
    {"send_failed", &Stats::send_failed},
};
// Handshake results as meshhost_session_handshakes_total{result=…}.
constexpr Field kHandshakeResults[] = {
    {"initiation_sent", &Stats::initiations_sent},
    {"response_sent", &Stats::responses_sent},
    {"established", &Stats::established},
    {"failed", &Stats::handshake_failed},
    {"timed_out", &Stats::timed_out},
};
constexpr Field kTraffic[] = {
    {"out", &Stats::packets_sealed},
    {"in", &Stats::packets_opened},
};

// The largest batch handed to the mesh or a receiver at once.
constexpr std::size_t kBatch = 64;

}  // namespace

std::int64_t SessionPlugin::RealtimeClock::unix_ns() const noexcept {
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME, &wall);
  return static_cast<std::int64_t>(wall.tv_sec) * 1'000'000'000 + wall.tv_nsec;
}

SessionPlugin::SessionPlugin(Host* host, SessionConfig config)
    : host_(host), config_(config), local_key_(host), pool_(kPoolPackets, kPoolBufferSize, kSessionHeadroom) {}

SessionPlugin::~SessionPlugin() {
  if (registered_ && mesh_ != nullptr) mesh_->unregister_protocol(kProtocolSession);
  if (table_) table_->drop_queues();
  if (timer_ != nullptr) timer_->release();
  if (error_timer_ != nullptr) error_timer_->release();
}

Status SessionPlugin::init() noexcept {
  try {
    SessionTableConfig table_config;
    table_config.timers = config_.timers;
    table_config.limits = config_.limits;
    table_config.wall_clock = &clock_;
    table_ = std::make_unique<SessionTable>(local_key_, table_config);
    receivers_.reserve(kMaxReceivers);
    if (Status s = host_->provide("sessions", &service_); !s.ok()) return s;
    if (Status s = host_->register_admin_method("session.list", this); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(&error_flush_, &error_timer_); !s.ok()) return s;
    sessions_gauge_ = host_->gauge("meshhost_session_sessions", "End-to-end sessions established", nullptr, 0);
    const Stats& stats = table_->stats();
    for (const auto& reason : kDropReasons) {
      const Label label{"reason", reason.name};
      if (Counter* c = host_->counter("meshhost_session_dropped_total", "Session frames and packets dropped, by reason",
                                      &label, 1))
        counters_.push_back({&(stats.*reason.field), 0, c});
    }
    for (const auto& result : kHandshakeResults) {
      const Label label{"result", result.name};
      if (Counter* c = host_->counter("meshhost_session_handshakes_total", "Session handshakes, by result", &label, 1))
        counters_.push_back({&(stats.*result.field), 0, c});
    }
    for (const auto& direction : kTraffic) {
      const Label label{"direction", direction.name};
      if (Counter* c = host_->counter("meshhost_session_packets_total", "Payloads sealed (out) and opened (in)",
                                      &label, 1))
        counters_.push_back({&(stats.*direction.field), 0, c});
    }
    if (sessions_gauge_ != nullptr) sessions_gauge_->set(0);
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "session: out of memory");
  }
}

Status SessionPlugin::start() noexcept {
  Service* sw = host_->lookup("switch");
  mesh_ = sw != nullptr ? static_cast<Mesh*>(sw->query(kMeshInterface)) : nullptr;
  if (mesh_ == nullptr) return host_->fail(StatusCode::unavailable, "session: the switch offers no mesh interface");
  if (Status s = mesh_->register_protocol(kProtocolSession, this); !s.ok()) {
    mesh_ = nullptr;
    return host_->fail(StatusCode::already_exists, "session: protocol 0x0002 already has a receiver on the mesh");
  }
  registered_ = true;
  // send_to_key works without it; send_to_address answers no_route then.
  Service* router = host_->lookup("router");
  directory_ = router != nullptr ? static_cast<Directory*>(router->query(kDirectoryInterface)) : nullptr;
  if (directory_ == nullptr)
    host_->log(LogLevel::warn, "session: no router directory; sending by address will find no keys");
  return Status::success();
}

void SessionPlugin::stop() noexcept {
  if (registered_ && mesh_ != nullptr) mesh_->unregister_protocol(kProtocolSession);
  registered_ = false;
  // Queued packets may come from other plugins' pools: give them back while those exist.
  table_->drop_queues();
  if (timer_ != nullptr) timer_->cancel();
  if (error_timer_ != nullptr) error_timer_->cancel();
  pending_error_count_ = 0;
  armed_for_ns_ = 0;
  directory_ = nullptr;
  mesh_ = nullptr;
}

ReconfigureResult SessionPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    auto config = parse_session_config(config_json, errors);
    if (!config) return ReconfigureResult::error;
    const Timers& a = config->timers;
    const Timers& b = config_.timers;
    const Limits& x = config->limits;
    const Limits& y = config_.limits;
    const bool same = a.handshake_retry_ns == b.handshake_retry_ns && a.handshake_retry_max_ns == b.handshake_retry_max_ns &&
                      a.handshake_timeout_ns == b.handshake_timeout_ns && a.keepalive_ns == b.keepalive_ns &&
                      a.idle_timeout_ns == b.idle_timeout_ns && x.max_sessions == y.max_sessions &&
                      x.queue_length == y.queue_length && x.handshakes_per_second == y.handshakes_per_second;
    // The table sizes its index slots and queues at start: a change needs a restart.
    return same ? ReconfigureResult::applied : ReconfigureResult::restart_required;
  } catch (const std::exception&) {
    errors->error("", "a config the session plugin can hold", "too little memory");
    return ReconfigureResult::error;
  }
}

// ---- Sessions ----

Status SessionPlugin::register_protocol(std::uint16_t protocol, SessionReceiver* receiver) noexcept {
  if (receiver == nullptr) return Status::error(StatusCode::invalid_argument, "session: null receiver");
  if (protocol == kControlProtocol)
    return Status::error(StatusCode::invalid_argument, "session: protocol 0 is the session layer's own");
  if (receiver_for(protocol) != nullptr)
    return Status::error(StatusCode::already_exists, "session: protocol already has a receiver");
  if (receivers_.size() >= kMaxReceivers)
    return Status::error(StatusCode::again, "session: no room for another protocol's receiver");
  try {
    receivers_.emplace_back(protocol, receiver);
  } catch (const std::exception&) {
    return Status::error(StatusCode::internal, "session: out of memory");
  }
  return Status::success();
}

void SessionPlugin::unregister_protocol(std::uint16_t protocol) noexcept {
  std::erase_if(receivers_, [&](const auto& entry) { return entry.first == protocol; });
}

SessionReceiver* SessionPlugin::receiver_for(std::uint16_t protocol) const noexcept {
  for (const auto& [p, receiver] : receivers_)
    if (p == protocol) return receiver;
  return nullptr;
}

std::size_t SessionPlugin::send_to_key(const PublicKey& key, std::uint16_t protocol, Packet* const* packets,
                                       std::size_t count) noexcept {
  if (mesh_ == nullptr) {  // not started (or stopped)
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
    return 0;
  }
  const std::size_t accepted =
      table_->send(key, protocol, packets, count, host_->loop()->now_ns(), *this, kMeshHeadroom);
  publish_counters();
  reschedule();
  return accepted;
}

std::size_t SessionPlugin::send_to_address(const Address& address, std::uint16_t protocol, Packet* const* packets,
                                           std::size_t count) noexcept {
  // A remote we know already carries the key its address was derived from.
  if (const Remote* r = table_->find(address)) return send_to_key(r->peer.key, protocol, packets, count);
  PublicKey key;
  const bool found = directory_ != nullptr && directory_->lookup_key(address, &key) &&
                     address_matches_key(address, key);  // once per new remote: the directory is trusted, not blindly
  if (!found || mesh_ == nullptr) {
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
    table_->mutable_stats().no_route += count;
    SessionError e;
    e.kind = SessionError::Kind::no_route;
    e.destination = address;
    e.protocol = protocol;
    on_error(e);
    publish_counters();
    return 0;
  }
  return send_to_key(key, protocol, packets, count);
}

std::uint32_t SessionPlugin::max_payload(const Address& address) noexcept {
  const std::uint32_t mesh = mesh_ != nullptr ? mesh_->max_payload(address) : kMeshMinPayload;
  return mesh > kTransportOverhead ? mesh - static_cast<std::uint32_t>(kTransportOverhead) : 0;
}

// ---- the mesh ----

void SessionPlugin::on_mesh_receive(const MeshInfo* infos, Packet* const* packets, std::size_t count) noexcept {
  // Nothing in the mesh header is trusted (the session says who sent it) except the
  // neighbour a packet came through, which the handshake rate limit shares out by.
  const std::uint64_t now = host_->loop()->now_ns();
  Packet* batch[kBatch];
  std::size_t n = 0;
  Remote* batch_from = nullptr;
  std::uint16_t batch_protocol = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* p = packets[i];
    const auto d = table_->receive(MutableByteView(p->data(), p->length), now, *this, infos[i].from);
    if (!d) {
      p->release();
      continue;
    }
    p->consume(static_cast<std::uint32_t>(d->data.data() - p->data()));
    p->length = static_cast<std::uint32_t>(d->data.size());
    if (n != 0 && (n == kBatch || d->from != batch_from || d->protocol != batch_protocol)) {
      deliver(batch_from, batch_protocol, batch, n);
      n = 0;
    }
    batch_from = d->from;
    batch_protocol = d->protocol;
    batch[n++] = p;
  }
  if (n != 0) deliver(batch_from, batch_protocol, batch, n);
  publish_counters();
  reschedule();
}

void SessionPlugin::deliver(Remote* from, std::uint16_t protocol, Packet* const* packets, std::size_t count) noexcept {
  SessionReceiver* receiver = receiver_for(protocol);
  if (receiver == nullptr) {
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
    table_->mutable_stats().no_receiver += count;
    table_->report_no_receiver(*from, protocol, host_->loop()->now_ns(), *this);
    return;
  }
  receiver->on_session_receive(from->peer, packets, count);
}

void SessionPlugin::on_mesh_error(const MeshError& error) noexcept {
  // The mesh does not know which inner protocol the packet carried: every receiver hears.
  SessionError e;
  e.destination = error.destination;
  switch (error.kind) {
    case MeshError::Kind::no_route: e.kind = SessionError::Kind::no_route; break;
    case MeshError::Kind::too_big:
      e.kind = SessionError::Kind::too_big;
      e.mtu = error.mtu > kTransportOverhead ? error.mtu - static_cast<std::uint32_t>(kTransportOverhead) : 0;
      break;
    case MeshError::Kind::hop_limit_exceeded:
    case MeshError::Kind::unreachable_protocol: e.kind = SessionError::Kind::unreachable; break;
  }
  // A receiver may unregister (or register) from inside its callback: walk a snapshot.
  std::uint16_t protocols[kMaxReceivers];
  std::size_t count = 0;
  for (const auto& entry : receivers_) protocols[count++] = entry.first;
  for (std::size_t i = 0; i < count; ++i) {
    SessionReceiver* receiver = receiver_for(protocols[i]);
    if (receiver == nullptr) continue;
    e.protocol = protocols[i];
    receiver->on_session_error(e);
  }
}

// ---- Output ----

void SessionPlugin::send_frame(const Address& to, ByteView frame, std::uint16_t e2e_offset) noexcept {
  Packet* packet = mesh_->pool()->acquire();
  if (packet == nullptr || packet->headroom() < kMeshHeadroom || frame.size() > packet->tailroom()) {
    if (packet != nullptr) packet->release();
    ++table_->mutable_stats().send_failed;
    return;
  }
  std::memcpy(packet->append(static_cast<std::uint32_t>(frame.size())), frame.data(), frame.size());
  MeshSend send;
  send.destination = to;
  send.protocol = kProtocolSession;
  send.e2e_offset = e2e_offset;
  if (mesh_->send(&send, &packet, 1) != 1) ++table_->mutable_stats().send_failed;
}

void SessionPlugin::send_packets(const Address& to, Packet* const* packets, std::size_t count) noexcept {
  MeshSend sends[kBatch];
  for (std::size_t done = 0; done < count;) {
    const std::size_t n = std::min(count - done, kBatch);
    for (std::size_t i = 0; i < n; ++i) {
      sends[i].destination = to;
      sends[i].protocol = kProtocolSession;
      sends[i].e2e_offset = static_cast<std::uint16_t>(kTransportHeaderSize);
    }
    const std::size_t accepted = mesh_->send(sends, packets + done, n);
    table_->mutable_stats().send_failed += n - accepted;
    done += n;
  }
}

// Errors reach receivers on a later turn of the loop, never inside the send that caused them.
void SessionPlugin::on_error(const SessionError& error) noexcept {
  if (pending_error_count_ == kMaxPendingErrors) return;
  pending_errors_[pending_error_count_++] = error;
  error_timer_->arm(0);
}

void SessionPlugin::flush_errors() noexcept {
  SessionError errors[kMaxPendingErrors];
  const std::size_t count = pending_error_count_;
  std::copy(pending_errors_, pending_errors_ + count, errors);
  pending_error_count_ = 0;
  for (std::size_t i = 0; i < count; ++i)
    if (SessionReceiver* receiver = receiver_for(errors[i].protocol)) receiver->on_session_error(errors[i]);
}

// ---- timers and metrics ----

void SessionPlugin::on_timer() noexcept {
  armed_for_ns_ = 0;
  if (mesh_ == nullptr) return;
  table_->tick(host_->loop()->now_ns(), *this);
  publish_counters();
  publish_sessions();
  reschedule();
}

void SessionPlugin::reschedule() noexcept {
  std::uint64_t wake = table_->next_wake_ns();
  if (wake == ~std::uint64_t{0}) return;
  wake += kTimerSlackNs - 1 - (wake + kTimerSlackNs - 1) % kTimerSlackNs;  // up to the slack grid
  if (wake == armed_for_ns_) return;
  const std::uint64_t now = host_->loop()->now_ns();
  timer_->arm(wake > now ? wake - now : 0);
  armed_for_ns_ = wake;
}

void SessionPlugin::publish_counters() noexcept {
  for (auto& c : counters_) {
    if (*c.value == c.published) continue;
    c.counter->add(*c.value - c.published);
    c.published = *c.value;
  }
  if (table_->stats().established != established_seen_) {
    established_seen_ = table_->stats().established;
    publish_sessions();
  }
}

void SessionPlugin::publish_sessions() noexcept {
  if (sessions_gauge_ != nullptr) sessions_gauge_->set(static_cast<double>(table_->established_count()));
}

}  // namespace mh::session
