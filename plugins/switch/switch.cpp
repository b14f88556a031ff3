// The switch plugin's lifecycle and data path glue: links in, peer table, frames out.
#include "switch.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace mh::sw {

namespace {

// Packets in the pool Mesh::pool() hands senders (and errors and echoes come from).
constexpr std::uint32_t kMeshPoolPackets = 1024;
constexpr std::uint32_t kMeshPoolBufferSize = 2048;

constexpr const char* kProvided[] = {"switch"};
// "linkmetric.*?": optional (the trailing '?'): link metric sources start before the
// switch when enabled, and a node without one needs none.
constexpr const char* kRequired[] = {"link.*", "linkmetric.*?"};
const Str kProvidedStr[] = {Str(kProvided[0])};
const Str kRequiredStr[] = {Str(kRequired[0]), Str(kRequired[1])};

const char kSchema[] = R"({
  "type": "object",
  "properties": {
    "authorizedPasswords": {"type": "array", "items": {"type": "object",
      "properties": {"password": {"type": "string"}, "login": {"type": "string", "maxLength": 32}},
      "required": ["password"]}},
    "timers": {"type": "object", "properties": {
      "keepaliveMs": {"type": "integer"}, "handshakeRetryMs": {"type": "integer"},
      "handshakeRetryMaxMs": {"type": "integer"},
      "unresponsiveMs": {"type": "integer"}, "goneMs": {"type": "integer"}}},
    "maxNeighbours": {"type": "integer"},
    "handshakeLoadThreshold": {"type": "integer"},
    "maxRoutes": {"type": "integer", "minimum": 1, "maximum": 1048576},
    "errorRatePerSecond": {"type": "integer", "minimum": 0, "maximum": 100000}
  }
})";

// Drop reasons published as metrics: meshhost_switch_dropped_total{reason=…}.
struct DropReason {
  const char* name;
  std::uint64_t Stats::*field;
};
constexpr DropReason kDropReasons[] = {
    {"short_frame", &Stats::short_frame},
    {"bad_version", &Stats::bad_version},
    {"unknown_type", &Stats::unknown_type},
    {"malformed", &Stats::malformed},
    {"bad_mac1", &Stats::bad_mac1},
    {"bad_mac2_under_load", &Stats::bad_mac2_under_load},
    {"handshake_failed", &Stats::handshake_failed},
    {"rate_limited", &Stats::rate_limited},
    {"stale_timestamp", &Stats::stale_timestamp},
    {"unknown_login", &Stats::unknown_login},
    {"policy_rejected", &Stats::policy_rejected},
    {"invalid_key", &Stats::invalid_key},
    {"table_full", &Stats::table_full},
    {"unknown_index", &Stats::unknown_index},
    {"unexpected_message", &Stats::unexpected_message},
    {"bad_cookie_reply", &Stats::bad_cookie_reply},
    {"decrypt_failed", &Stats::decrypt_failed},
    {"replayed_counter", &Stats::replayed_counter},
    {"session_expired", &Stats::session_expired},
    {"unknown_inner_type", &Stats::unknown_inner_type},
    {"unconfirmed_dropped", &Stats::unconfirmed_dropped},
    {"collision_lost", &Stats::collision_lost},
    {"no_session", &Stats::no_session},
    {"headers_not_allowed", &Stats::headers_not_allowed},
    {"no_headers_key", &Stats::no_headers_key},
};

// The mesh layer's drop reasons, in the same metric.
struct MeshDropReason {
  const char* name;
  std::uint64_t MeshStats::*field;
};
constexpr MeshDropReason kMeshDropReasons[] = {
    {"no_route", &MeshStats::no_route},
    {"hop_limit_exceeded", &MeshStats::hop_limit_exceeded},
    {"too_big", &MeshStats::too_big},
    {"no_receiver", &MeshStats::no_receiver},
    {"bad_mesh_header", &MeshStats::bad_mesh_header},
    {"bad_control", &MeshStats::bad_control},
    {"local_queue_full", &MeshStats::local_queue_full},
    {"bad_send", &MeshStats::bad_send},
    {"psk_busy", &MeshStats::psk_busy},
};

// Handshake events published as metrics: meshhost_switch_events_total{event=…}.
constexpr DropReason kEvents[] = {
    {"initiations_sent", &Stats::initiations_sent},
    {"responses_sent", &Stats::responses_sent},
    {"cookie_replies_sent", &Stats::cookie_replies_sent},
    {"cookie_replies_received", &Stats::cookie_replies_received},
    {"sessions_established", &Stats::sessions_established},
    {"headers_frames_received", &Stats::headers_frames_received},
    {"psks_derived", &Stats::psks_derived},
};
// The plugin's own events in the same metric.
struct MeshEvent {
  const char* name;
  std::uint64_t MeshStats::*field;
};
constexpr MeshEvent kMeshEvents[] = {
    {"psks_derived_in_background", &MeshStats::psks_derived_in_background},
    {"psk_cache_hits", &MeshStats::psk_cache_hits},
};

}  // namespace

SwitchPlugin::SwitchPlugin(Host* host, SwitchConfig config) noexcept
    : host_(host), config_(std::move(config)), local_key_(host), own_address_(host->address()) {
  service_.self = this;
  probe_timer_handler_.self = this;
}

SwitchPlugin::~SwitchPlugin() {
  for (std::size_t i = 0; i < queued_count_; ++i) queued_packets_[i]->release();
  queued_count_ = 0;
  if (timer_ != nullptr) timer_->release();
  if (probe_timer_ != nullptr) probe_timer_->release();
}

void SwitchPlugin::log(LogLevel level, const std::string& message) noexcept { host_->log(level, Str::of(message)); }

std::vector<AuthorizedPassword> SwitchPlugin::derive_passwords(const SwitchConfig& config) const {
  std::vector<AuthorizedPassword> passwords;
  for (const auto& entry : config.authorized_passwords) {
    auto derived = make_authorized_password(entry.password, entry.login, host_->public_key());
    if (derived) passwords.push_back(std::move(*derived));
  }
  return passwords;
}

Status SwitchPlugin::init() noexcept {
  try {
    PeerTableConfig table_config;
    table_config.authorized_passwords = derive_passwords(config_);
    if (table_config.authorized_passwords.size() != config_.authorized_passwords.size())
      return host_->fail(StatusCode::internal, "switch: deriving a psk from authorizedPasswords failed (out of memory?)");
    table_config.timers = config_.timers;
    table_config.limits = config_.limits;
    table_config.handshake_load_threshold = config_.handshake_load_threshold;
    // The table stamps initiations with wall time; it reads the loop's monotonic clock.
    timespec wall{};
    ::clock_gettime(CLOCK_REALTIME, &wall);
    const std::int64_t wall_ns = static_cast<std::int64_t>(wall.tv_sec) * 1'000'000'000 + wall.tv_nsec;
    table_config.unix_time_offset_ns = wall_ns - static_cast<std::int64_t>(host_->loop()->now_ns());
    table_ = std::make_unique<PeerTable>(local_key_, std::move(table_config));
    fib_ = std::make_unique<Fib>(config_.max_routes);
    ids_ = std::make_unique<NeighbourIds>(config_.limits.max_neighbours);
    pool_ = std::make_unique<FixedPacketPool>(kMeshPoolPackets, kMeshPoolBufferSize, kMeshHeadroom);
    error_tokens_ = 2.0 * config_.error_rate_per_second;
    error_tokens_ns_ = host_->loop()->now_ns();

    if (Status s = host_->provide("switch", &service_); !s.ok()) return s;
    const std::pair<const char*, Status (SwitchPlugin::*)(Str, StringSink*)> methods[] = {
        {"switch.peers", &SwitchPlugin::admin_peers},         {"switch.routes", &SwitchPlugin::admin_routes},
        {"switch.ping", &SwitchPlugin::admin_ping},           {"switch.traceroute", &SwitchPlugin::admin_traceroute},
        {"switch.probe", &SwitchPlugin::admin_probe},
    };
    static_assert(std::size(methods) == std::tuple_size_v<decltype(admin_methods_)>);
    for (std::size_t i = 0; i < std::size(methods); ++i) {
      admin_methods_[i].self = this;
      admin_methods_[i].fn = methods[i].second;
      if (Status s = host_->register_admin_method(methods[i].first, &admin_methods_[i]); !s.ok()) return s;
    }
    if (Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(&probe_timer_handler_, &probe_timer_); !s.ok()) return s;
    frames_in_ = host_->counter("meshhost_switch_frames_in_total", "Frames the switch received from links", nullptr, 0);
    frames_out_ = host_->counter("meshhost_switch_frames_out_total", "Frames the switch handed to links", nullptr, 0);
    send_failed_ = host_->counter("meshhost_switch_send_failed_total",
                                  "Frames the switch could not send (no packet in the link's pool, or the link refused)",
                                  nullptr, 0);
    neighbours_established_ =
        host_->gauge("meshhost_switch_neighbours_established", "Neighbours with an established session", nullptr, 0);
    routes_ = host_->gauge("meshhost_switch_routes", "Routes in the switch's FIB", nullptr, 0);
    psk_pending_ = host_->gauge("meshhost_switch_psk_pending",
                                "Beacon hints waiting for their psk (Argon2id off the loop thread)", nullptr, 0);
    psk_done_.reserve(PskWorker::kMaxPending);
    for (const auto& reason : kDropReasons) {
      Label label{"reason", reason.name};
      Counter* counter = host_->counter("meshhost_switch_dropped_total", "Frames the switch dropped, by reason",
                                        &label, 1);
      if (counter != nullptr) drop_counters_.push_back({&(table_->stats().*reason.field), 0, counter});
    }
    for (const auto& reason : kMeshDropReasons) {
      Label label{"reason", reason.name};
      Counter* counter = host_->counter("meshhost_switch_dropped_total", "Frames the switch dropped, by reason",
                                        &label, 1);
      if (counter != nullptr) drop_counters_.push_back({&(mesh_stats_.*reason.field), 0, counter});
    }
    for (const auto& event : kEvents) {
      Label label{"event", event.name};
      Counter* counter = host_->counter("meshhost_switch_events_total", "Handshake events of the switch, by kind",
                                        &label, 1);
      if (counter != nullptr) drop_counters_.push_back({&(table_->stats().*event.field), 0, counter});
    }
    for (const auto& event : kMeshEvents) {
      Label label{"event", event.name};
      Counter* counter = host_->counter("meshhost_switch_events_total", "Handshake events of the switch, by kind",
                                        &label, 1);
      if (counter != nullptr) drop_counters_.push_back({&(mesh_stats_.*event.field), 0, counter});
    }
    const std::pair<const char*, const std::uint64_t*> totals[] = {
        {"meshhost_switch_forwarded_total", &mesh_stats_.forwarded},
        {"meshhost_switch_delivered_total", &mesh_stats_.delivered},
        {"meshhost_switch_errors_sent_total", &mesh_stats_.errors_sent},
    };
    const char* const help[] = {"Packets the switch forwarded to a next hop",
                                "Packets the switch delivered to a local protocol",
                                "Error reports (control protocol) the switch sent"};
    for (std::size_t i = 0; i < std::size(totals); ++i) {
      Counter* counter = host_->counter(totals[i].first, help[i], nullptr, 0);
      if (counter != nullptr) drop_counters_.push_back({totals[i].second, 0, counter});
    }
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch: out of memory");
  }
}

Status SwitchPlugin::start() noexcept {
  constexpr std::size_t kMaxDrivers = 16;
  Service* services[kMaxDrivers];
  Str names[kMaxDrivers];
  const std::size_t found = host_->lookup_prefix("link.", services, names, kMaxDrivers);
  if (found > kMaxDrivers) return host_->fail(StatusCode::unsupported, "switch: more than 16 link drivers");
  try {
    for (std::size_t i = 0; i < found; ++i) {
      auto* driver = static_cast<LinkDriver*>(services[i]->query(kLinkDriverInterface));
      if (driver == nullptr) {
        log(LogLevel::warn, "service " + std::string(names[i].data, names[i].size) +
                                " offers no link driver interface; ignoring it");
        continue;
      }
      drivers_.push_back(driver);
    }
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch: out of memory");
  }
  if (drivers_.empty()) return host_->fail(StatusCode::unavailable, "switch: no link driver is running");
  if (Status s = psk_worker_.open(host_->loop(), this); !s.ok()) {
    drivers_.clear();
    return host_->fail(s.code, "switch: cannot set up the psk worker's eventfd");
  }
  stopped_ = false;
  for (LinkDriver* driver : drivers_) driver->set_observer(this);  // replays links and configured peers
  start_metric_sources();
  reschedule();
  return Status::success();
}

void SwitchPlugin::start_metric_sources() noexcept {
  Service* services[kMaxMetricSources];
  Str names[kMaxMetricSources];
  const std::size_t found = host_->lookup_prefix("linkmetric.", services, names, kMaxMetricSources);
  if (found > kMaxMetricSources)
    log(LogLevel::warn, "switch: more than " + std::to_string(kMaxMetricSources) +
                            " link metric sources; using the first " + std::to_string(kMaxMetricSources));
  metric_sources_ = 0;
  for (std::size_t i = 0; i < std::min(found, kMaxMetricSources); ++i) {
    const std::string name(names[i].data, names[i].size);
    auto* source = static_cast<LinkMetricSource*>(services[i]->query(kLinkMetricSourceInterface));
    if (source == nullptr) {
      log(LogLevel::warn, "service " + name + " offers no link metric source interface; ignoring it");
      continue;
    }
    MetricObserver& o = metric_observers_[metric_sources_];
    o.self = this;
    o.source = source;
    o.number = static_cast<std::uint32_t>(++metric_sources_);  // 1-based: 0 is no source
    source->set_metric_observer(&o);  // replays what it knows
    log(LogLevel::info, "link metrics from " + name);
  }
}

void SwitchPlugin::stop_metric_sources() noexcept {
  for (std::size_t i = 0; i < metric_sources_; ++i) {
    MetricObserver& o = metric_observers_[i];
    o.source->set_metric_observer(nullptr);
    table_->forget_metric_source(o.number, *this);
    o.source = nullptr;
  }
  metric_sources_ = 0;
}

void SwitchPlugin::on_link_metric(std::uint32_t source, Str link_name, const Endpoint& endpoint,
                                  const LinkMetric& metric) noexcept {
  if (stopped_) return;
  table_->set_link_metric(source, std::string_view(link_name.data, link_name.size), endpoint, metric, *this);
  publish_counters();
}

void SwitchPlugin::on_link_metric_forget(std::uint32_t source, Str link_name, const Endpoint& endpoint) noexcept {
  if (stopped_) return;
  table_->forget_link_metric(source, std::string_view(link_name.data, link_name.size), endpoint, *this);
}

void SwitchPlugin::stop() noexcept {
  stop_metric_sources();
  stopped_ = true;
  for (LinkDriver* driver : drivers_) driver->set_observer(nullptr);
  for (Link* link : links_) link->set_receiver(nullptr);
  drivers_.clear();
  links_.clear();
  psk_worker_.close();  // waits for a derivation in progress (one at most)
  if (psk_pending_ != nullptr) psk_pending_->set(0);
  for (std::size_t i = 0; i < queued_count_; ++i) queued_packets_[i]->release();
  queued_count_ = 0;
  queued_error_count_ = 0;
  if (timer_ != nullptr) timer_->cancel();
  if (probe_timer_ != nullptr) probe_timer_->cancel();
}

ReconfigureResult SwitchPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    auto config = parse_switch_config(config_json, errors);
    if (!config) return ReconfigureResult::error;
    const bool same_tuning = config->timers.keepalive_ns == config_.timers.keepalive_ns &&
                             config->timers.handshake_retry_ns == config_.timers.handshake_retry_ns &&
                             config->timers.handshake_retry_max_ns == config_.timers.handshake_retry_max_ns &&
                             config->timers.unresponsive_ns == config_.timers.unresponsive_ns &&
                             config->timers.gone_ns == config_.timers.gone_ns &&
                             config->limits.max_neighbours == config_.limits.max_neighbours &&
                             config->handshake_load_threshold == config_.handshake_load_threshold &&
                             config->max_routes == config_.max_routes;
    // New passwords apply to later initiations; sessions stay up. The error rate applies at once.
    table_->set_authorized_passwords(derive_passwords(*config));
    config_.authorized_passwords = config->authorized_passwords;
    config_.error_rate_per_second = config->error_rate_per_second;
    return same_tuning ? ReconfigureResult::applied : ReconfigureResult::restart_required;
  } catch (const std::exception&) {
    errors->error("", "a config the switch can hold", "too little memory");
    return ReconfigureResult::error;
  }
}

void SwitchPlugin::on_link_up(Link* link) noexcept {
  try {
    links_.push_back(link);
  } catch (const std::exception&) {
    log(LogLevel::error, "switch: out of memory adding a link");
    return;
  }
  link->set_receiver(this);
  const std::string name(link->name().data, link->name().size);
  log(LogLevel::info, "link up: " + name);
}

void SwitchPlugin::on_link_down(Link* link) noexcept {
  psk_worker_.cancel_link(link);
  psk_pending_->set(static_cast<double>(psk_worker_.pending()));
  table_->remove_link(link, host_->loop()->now_ns(), *this);
  link->set_receiver(nullptr);
  std::erase(links_, link);
  log(LogLevel::info, "link down: " + std::string(link->name().data, link->name().size));
  reschedule();
}

void SwitchPlugin::on_peer_hint(Link* link, const PeerHint& hint) noexcept {
  // A hint naming our own key (our own beacon echoed back, a config typo) is no neighbour.
  const PublicKey own = host_->public_key();
  if (std::memcmp(own.bytes, hint.key.bytes, sizeof own.bytes) == 0) return;
  const std::uint64_t now = host_->loop()->now_ns();
  if (!table_->needs_psk(hint)) {
    table_->add_hint(link, hint, now, *this);  // no Argon2id, or a configured peer's (config time)
  } else if (const auto psk = psk_cache_.find(hint.key, std::string_view(hint.password.data, hint.password.size))) {
    ++mesh_stats_.psk_cache_hits;
    table_->add_hint(link, hint, *psk, now, *this);
  } else {
    // A beacon's password towards a key we have no psk for: Argon2id on the worker. The
    // beacon comes again in a few seconds, so a full queue just drops it.
    if (psk_worker_.submit(link, hint) == PskWorker::Submit::busy) ++mesh_stats_.psk_busy;
    psk_pending_->set(static_cast<double>(psk_worker_.pending()));
  }
  publish_counters();
  reschedule();
}

void SwitchPlugin::on_fd_ready(int, std::uint32_t) noexcept {
  psk_worker_.take_done(psk_done_);
  const std::uint64_t now = host_->loop()->now_ns();
  for (const PskJob& job : psk_done_) {
    ++mesh_stats_.psks_derived_in_background;
    if (job.ok) psk_cache_.insert(job.key, job.password, job.psk);
    // The link may have gone meanwhile (and its address been reused): only live links.
    if (job.dead || std::find(links_.begin(), links_.end(), job.link) == links_.end()) continue;
    table_->add_hint(job.link, job.hint(), job.psk, now, *this);
  }
  psk_done_.clear();
  psk_pending_->set(static_cast<double>(psk_worker_.pending()));
  publish_counters();
  reschedule();
}

void SwitchPlugin::on_receive(Link* link, Packet* const* packets, std::size_t count) noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  frames_in_->add(count);
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = packets[i];
    auto delivery = table_->receive(link, packet->endpoint, MutableByteView(packet->data(), packet->length), now, *this);
    if (!delivery) {
      packet->release();
      continue;
    }
    // The decrypted switch frame, in place: mesh header + payload.
    packet->consume(static_cast<std::uint32_t>(delivery->payload.data() - packet->data()));
    packet->length = static_cast<std::uint32_t>(delivery->payload.size());
    on_mesh_packet(packet, delivery->from, now);
  }
  flush_local();
  flush_out();
  publish_counters();  // a node with no timer armed (no neighbours) still shows its drops
  reschedule();
}

void SwitchPlugin::on_timer() noexcept {
  armed_for_ns_ = 0;
  table_->tick(host_->loop()->now_ns(), *this);
  publish_stats();
  reschedule();
}

void SwitchPlugin::publish_counters() noexcept {
  // The table counts; the metrics follow by the difference since the last look.
  for (auto& drop : drop_counters_) {
    if (*drop.value == drop.published) continue;
    drop.counter->add(*drop.value - drop.published);
    drop.published = *drop.value;
  }
}

void SwitchPlugin::publish_stats() noexcept {
  publish_counters();
  std::size_t established = 0;
  for (const auto& n : table_->neighbours()) established += n->state == PeerState::established;
  neighbours_established_->set(static_cast<double>(established));
}

void SwitchPlugin::reschedule() noexcept {
  const std::uint64_t wake = table_->next_wake_ns();
  if (wake == ~std::uint64_t{0} || wake == armed_for_ns_) return;
  const std::uint64_t now = host_->loop()->now_ns();
  timer_->arm(wake > now ? wake - now : 0);
  armed_for_ns_ = wake;
}

void SwitchPlugin::send_frame(Link* link, const Endpoint& to, ByteView frame) noexcept {
  Packet* packet = link->pool()->acquire();
  if (packet == nullptr || frame.size() > packet->tailroom()) {
    if (packet) packet->release();
    send_failed_->add(1);
    return;
  }
  std::memcpy(packet->append(static_cast<std::uint32_t>(frame.size())), frame.data(), frame.size());
  packet->endpoint = to;
  if (link->send(&packet, 1) == 1)
    frames_out_->add(1);
  else
    send_failed_->add(1);
}

void SwitchPlugin::on_event(const PeerEvent& event) noexcept {
  // The mesh's neighbour observer follows the table's neighbour states.
  if (Neighbour* n = table_->find(event.key)) {
    switch (event.kind) {
      case PeerEvent::Kind::established:
        if (n->mesh_id == kNoNeighbour) neighbour_up(*n, event.cost);
        break;
      case PeerEvent::Kind::cost_changed:
      case PeerEvent::Kind::best_path_changed:
        if (NeighbourIds::Entry* e = ids_->find(n->mesh_id); e != nullptr && event.cost != e->cost) {
          e->cost = event.cost;
          if (observer_ != nullptr) observer_->on_neighbour_cost(n->mesh_id, event.cost);
        }
        break;
      case PeerEvent::Kind::unresponsive:
      case PeerEvent::Kind::gone:
        if (n->mesh_id != kNoNeighbour) neighbour_down(*n);
        break;
    }
  }
  if (event.kind == PeerEvent::Kind::cost_changed || event.kind == PeerEvent::Kind::best_path_changed) return;
  std::string where;
  if (event.link != nullptr) {
    char endpoint[64];
    const std::size_t n = event.link->format_endpoint(event.endpoint, endpoint, sizeof endpoint);
    where = " via " + std::string(event.link->name().data, event.link->name().size) + " " + std::string(endpoint, n);
  }
  log(event.kind == PeerEvent::Kind::established ? LogLevel::info : LogLevel::warn,
      "neighbour " + format_public_key(event.key) + " " + to_string(event.kind) + where);
  publish_stats();
}

}  // namespace mh::sw

namespace {

void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  try {
    (void)mh::sw::parse_switch_config(config_json, errors);
  } catch (const std::exception&) {
    errors->error("", "a config the switch can hold", "too little memory");
  }
}

mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  struct NullSink final : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override {}
  } ignore;
  try {
    auto config = mh::sw::parse_switch_config(config_json, &ignore);
    if (!config) return mh::Status::error(mh::StatusCode::invalid_argument, "switch: invalid config");
    auto plugin = std::make_unique<mh::sw::SwitchPlugin>(host, std::move(*config));
    if (mh::Status s = plugin->init(); !s.ok()) return s;
    *out = plugin.release();
    return mh::Status::success();
  } catch (const std::exception&) {
    return mh::Status::error(mh::StatusCode::internal, "switch: out of memory");
  }
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<mh::sw::SwitchPlugin*>(plugin); }

const mh::PluginDescriptor kDescriptor = {
    sizeof(mh::PluginDescriptor),
    MESHHOST_ABI_MAJOR,
    MESHHOST_ABI_MINOR,
    "switch",
    "0.1.0",
    "Authenticated neighbours over every link: hop-by-hop Noise, keepalives, RTT, loss and link cost",
    "switch",
    mh::sw::kProvidedStr,
    1,
    mh::sw::kRequiredStr,
    std::size(mh::sw::kRequiredStr),
    mh::sw::kSchema,
    mh::Stability::experimental,
    &validate,
    &create,
    &destroy,
};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
