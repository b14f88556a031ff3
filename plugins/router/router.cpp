// The router plugin's lifecycle and glue: switch neighbours and routing packets in, the
// route table's decisions out as batched packets and FIB entries.
#include "router.hpp"

#include <link_driver_config.hpp>

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>

namespace mh::router {

namespace {

const Str kProvided[] = {Str("router")};
const Str kRequired[] = {Str("switch")};

const char kSchema[] = R"({
  "type": "object",
  "properties": {
    "timers": {"type": "object", "properties": {
      "updateIntervalMs": {"type": "integer"}, "routeExpiryMs": {"type": "integer"},
      "holdDownMs": {"type": "integer"}, "sourceGcMs": {"type": "integer"},
      "requestTimeoutMs": {"type": "integer"}}},
    "maxRoutes": {"type": "integer"},
    "maxRoutesPerNeighbour": {"type": "integer"}
  }
})";

// meshhost_router_dropped_total{reason=…}
struct DropReason {
  const char* name;
  std::uint64_t Stats::*field;
};
constexpr DropReason kDropReasons[] = {
    {"bad_message", &Stats::bad_message}, {"bad_key", &Stats::bad_key},
    {"table_full", &Stats::table_full},   {"unfeasible", &Stats::unfeasible},
    {"unknown_tlv", &Stats::unknown_tlv}, {"not_neighbour", &Stats::not_neighbour},
};

// meshhost_router_requests_total{kind=…}
constexpr DropReason kRequestKinds[] = {
    {"route_sent", &Stats::route_requests_sent},
    {"route_received", &Stats::route_requests_received},
    {"seqno_sent", &Stats::seqno_requests_sent},
    {"seqno_forwarded", &Stats::seqno_requests_forwarded},
    {"seqno_received", &Stats::seqno_requests_received},
    {"own_seqno_raised", &Stats::own_seqno_raised},
};

constexpr std::uint64_t kMinTimerDelayNs = 1'000'000;  // 1 ms: never spin on a due deadline

}  // namespace

RouterPlugin::RouterPlugin(Host* host, RouterConfig config)
    : host_(host),
      config_(config),
      seqno_store_(std::string(host->state_dir().data, host->state_dir().size)) {}

RouterPlugin::~RouterPlugin() {
  // Normally stop() ran; if not (a test standing in for kill -9), still leave the mesh
  // holding no pointer to us.
  if (started_) {
    mesh_->set_neighbour_observer(nullptr);
    mesh_->unregister_protocol(kProtocolRouting);
  }
  release_open_packets();
  if (timer_ != nullptr) timer_->release();
}

void RouterPlugin::log(LogLevel level, const std::string& message) noexcept {
  host_->log(level, Str::of(message));
}

Status RouterPlugin::init() noexcept {
  try {
    if (Status s = host_->provide("router", &service_); !s.ok()) return s;
    if (Status s = host_->register_admin_method("router.routes", this); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) return s;
    updates_sent_ = host_->counter("meshhost_router_updates_sent_total",
                                   "Route updates sent to neighbours (retractions included)", nullptr, 0);
    updates_received_ = host_->counter("meshhost_router_updates_received_total",
                                       "Route updates received from neighbours", nullptr, 0);
    packets_sent_ = host_->counter("meshhost_router_packets_sent_total", "Routing packets sent to neighbours", nullptr, 0);
    send_failed_ = host_->counter("meshhost_router_send_failed_total",
                                  "Routing packets not sent: no packet in the pool, or the neighbour had no path",
                                  nullptr, 0);
    fib_errors_ = host_->counter("meshhost_router_fib_errors_total",
                                 "Selected routes the switch's FIB refused (full, or a stale neighbour)", nullptr, 0);
    routes_ = host_->gauge("meshhost_router_routes", "Destinations with a selected route", nullptr, 0);
    route_entries_ = host_->gauge("meshhost_router_route_entries", "Route entries, one per destination and neighbour",
                                  nullptr, 0);
    for (const auto& reason : kDropReasons) {
      Label label{"reason", reason.name};
      drop_counters_.push_back(
          host_->counter("meshhost_router_dropped_total", "Routing input the router dropped, by reason", &label, 1));
    }
    for (const auto& kind : kRequestKinds) {
      Label label{"kind", kind.name};
      request_counters_.push_back(host_->counter(
          "meshhost_router_requests_total", "Route and seqno requests, and own seqno raises they caused", &label, 1));
    }
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "router: out of memory");
  }
}

Status RouterPlugin::start() noexcept {
  Service* service = host_->lookup("switch");
  mesh_ = service == nullptr ? nullptr : static_cast<Mesh*>(service->query(kMeshInterface));
  if (mesh_ == nullptr) {
    return host_->fail(StatusCode::unavailable, "router: the switch offers no mesh interface (meshhost.mesh.v1)");
  }
  try {
    std::string error;
    const std::uint16_t seqno = seqno_store_.start(&error);
    if (!error.empty()) log(LogLevel::warn, "router: cannot keep the route seqno (" + error + "); recovery after a restart then relies on seqno requests");
    log(LogLevel::info, "router: own route seqno " + std::to_string(seqno));
    table_ = std::make_unique<RouteTable>(host_->public_key(), host_->address(), seqno, config_.timers,
                                          config_.limits, static_cast<Output&>(*this), now());
    open_.reserve(64);
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "router: out of memory");
  }
  if (Status s = mesh_->register_protocol(kProtocolRouting, this); !s.ok()) {
    table_.reset();
    return s;
  }
  started_ = true;
  mesh_->set_neighbour_observer(this);  // replays the established neighbours
  finish_turn();
  return Status::success();
}

void RouterPlugin::stop() noexcept {
  if (!started_) return;
  // Tell the neighbours we are going, so they do not wait for our routes to expire.
  table_->retract_all(now());
  finish_turn();
  mesh_->set_neighbour_observer(nullptr);
  mesh_->unregister_protocol(kProtocolRouting);
  started_ = false;
  if (timer_ != nullptr) timer_->cancel();
}

ReconfigureResult RouterPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    const auto config = parse_router_config(config_json, errors);
    if (!config) return ReconfigureResult::error;
    const Timers &a = config->timers, &b = config_.timers;
    const bool same = a.update_interval_ns == b.update_interval_ns && a.route_expiry_ns == b.route_expiry_ns &&
                      a.hold_down_ns == b.hold_down_ns && a.source_gc_ns == b.source_gc_ns &&
                      a.request_timeout_ns == b.request_timeout_ns &&
                      config->limits.max_routes == config_.limits.max_routes &&
                      config->limits.max_routes_per_neighbour == config_.limits.max_routes_per_neighbour;
    return same ? ReconfigureResult::applied : ReconfigureResult::restart_required;
  } catch (const std::exception&) {
    errors->error("", "a config the router can hold", "too little memory");
    return ReconfigureResult::error;
  }
}

// ---- the switch ----

void RouterPlugin::on_mesh_receive(const MeshInfo* infos, Packet* const* packets, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (table_ != nullptr) {
      table_->receive(infos[i].from, infos[i].source, ByteView(packets[i]->data(), packets[i]->length), now());
    }
    packets[i]->release();  // parsed in place; nothing of it is kept
  }
  finish_turn();
}

void RouterPlugin::on_neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t cost) noexcept {
  try {
    table_->neighbour_up(id, key, cost, now());
  } catch (const std::exception&) {
    log(LogLevel::error, "router: out of memory adding a neighbour");
  }
  finish_turn();
}

void RouterPlugin::on_neighbour_cost(NeighbourId id, std::uint32_t cost) noexcept {
  try {
    table_->neighbour_cost(id, cost, now());
  } catch (const std::exception&) {
    log(LogLevel::error, "router: out of memory");
  }
  finish_turn();
}

void RouterPlugin::on_neighbour_down(NeighbourId id) noexcept {
  try {
    table_->neighbour_down(id, now());
  } catch (const std::exception&) {
    log(LogLevel::error, "router: out of memory");
  }
  // Packets still open for it would only fail.
  for (auto& open : open_) {
    if (open.to != id || open.packet == nullptr) continue;
    open.packet->release();
    open.packet = nullptr;
  }
  finish_turn();
}

void RouterPlugin::on_timer() noexcept {
  armed_for_ns_ = 0;
  if (table_ == nullptr) return;
  try {
    table_->tick(now());
  } catch (const std::exception&) {
    log(LogLevel::error, "router: out of memory");
  }
  finish_turn();
}

// ---- the table's output ----

void RouterPlugin::send(NeighbourId to, const Message& message) noexcept {
  const std::size_t size = encoded_size(message);
  auto it = std::find_if(open_.begin(), open_.end(), [to](const OpenPacket& o) { return o.to == to; });
  if (it != open_.end() && it->packet != nullptr && it->packet->length + size > it->limit) {
    send_packet(to, it->packet);
    it->packet = nullptr;
  }
  if (it == open_.end() || it->packet == nullptr) {
    Packet* packet = mesh_->pool()->acquire();
    const Neighbour* n = table_->neighbour(to);
    if (packet == nullptr || n == nullptr) {
      if (packet != nullptr) packet->release();
      send_failed_->add(1);
      return;
    }
    // Batch up to the payload every link carries. Not max_payload(n->address): that
    // follows the FIB, whose route to a neighbour's address may use another, larger link
    // than the direct one send_to_neighbour takes.
    const std::uint32_t limit = std::min(kMeshMinPayload, packet->tailroom());
    if (limit < kPacketHeaderSize + kMaxTlvSize || packet->append(kPacketHeaderSize) == nullptr) {
      packet->release();
      send_failed_->add(1);
      return;
    }
    if (it == open_.end()) {
      try {
        open_.push_back(OpenPacket{to, packet, limit});
      } catch (const std::exception&) {
        packet->release();
        send_failed_->add(1);
        return;
      }
      it = open_.end() - 1;
    } else {
      it->packet = packet;
      it->limit = limit;
    }
  }
  std::uint8_t* at = it->packet->append(static_cast<std::uint32_t>(size));
  write_tlv(message, MutableByteView(at, size));
}

void RouterPlugin::send_packet(NeighbourId to, Packet* packet) noexcept {
  write_packet_header(packet->length - kPacketHeaderSize, MutableByteView(packet->data(), kPacketHeaderSize));
  if (mesh_->send_to_neighbour(to, kProtocolRouting, packet)) {
    packets_sent_->add(1);
  } else {
    send_failed_->add(1);
  }
}

void RouterPlugin::install_route(const Address& destination, NeighbourId next_hop) noexcept {
  if (!mesh_->set_route(destination, next_hop).ok()) fib_errors_->add(1);
}

void RouterPlugin::remove_route(const Address& destination) noexcept { mesh_->remove_route(destination); }

void RouterPlugin::own_seqno_changed(std::uint16_t seqno) noexcept {
  try {
    std::string error;
    if (!seqno_store_.note(seqno, &error)) log(LogLevel::warn, "router: cannot keep the route seqno: " + error);
  } catch (const std::exception&) {
    log(LogLevel::warn, "router: cannot keep the route seqno: out of memory");
  }
}

// ---- after each turn ----

void RouterPlugin::finish_turn() noexcept {
  for (auto& open : open_) {
    if (open.packet == nullptr) continue;
    send_packet(open.to, open.packet);
    open.packet = nullptr;
  }
  // Entries for neighbours that went away do not pile up.
  std::erase_if(open_, [this](const OpenPacket& o) { return table_ == nullptr || table_->neighbour(o.to) == nullptr; });
  publish();
  if (table_ == nullptr || timer_ == nullptr || !started_) return;
  const std::uint64_t wake = table_->next_wake_ns();
  if (wake == ~std::uint64_t{0}) {
    timer_->cancel();
    armed_for_ns_ = 0;
    return;
  }
  if (wake == armed_for_ns_) return;
  const std::uint64_t t = now();
  timer_->arm(wake > t ? wake - t : kMinTimerDelayNs);
  armed_for_ns_ = wake;
}

void RouterPlugin::release_open_packets() noexcept {
  for (auto& open : open_) {
    if (open.packet != nullptr) open.packet->release();
    open.packet = nullptr;
  }
}

void RouterPlugin::publish() noexcept {
  if (table_ == nullptr) return;
  const Stats& s = table_->stats();
  updates_sent_->add(s.updates_sent - published_.updates_sent);
  updates_received_->add(s.updates_received - published_.updates_received);
  for (std::size_t i = 0; i < std::size(kDropReasons); ++i) {
    const auto field = kDropReasons[i].field;
    if (drop_counters_[i] != nullptr && s.*field != published_.*field) drop_counters_[i]->add(s.*field - published_.*field);
  }
  for (std::size_t i = 0; i < std::size(kRequestKinds); ++i) {
    const auto field = kRequestKinds[i].field;
    if (request_counters_[i] != nullptr && s.*field != published_.*field)
      request_counters_[i]->add(s.*field - published_.*field);
  }
  published_ = s;
  routes_->set(static_cast<double>(table_->selected_count()));
  route_entries_->set(static_cast<double>(table_->route_count()));
}

}  // namespace mh::router

namespace {

void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  try {
    (void)mh::router::parse_router_config(config_json, errors);
  } catch (const std::exception&) {
    errors->error("", "a config the router can hold", "too little memory");
  }
}

mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  try {
    mh::link_common::FirstErrorLine first;
    auto config = mh::router::parse_router_config(config_json, &first);
    if (!config) return host->fail(mh::StatusCode::invalid_argument, mh::Str::of("router: " + first.line()));
    auto plugin = std::make_unique<mh::router::RouterPlugin>(host, *config);
    if (mh::Status s = plugin->init(); !s.ok()) return s;
    *out = plugin.release();
    return mh::Status::success();
  } catch (const std::exception&) {
    return mh::Status::error(mh::StatusCode::internal, "router: out of memory");
  }
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<mh::router::RouterPlugin*>(plugin); }

const mh::PluginDescriptor kDescriptor = {
    sizeof(mh::PluginDescriptor),
    MESHHOST_ABI_MAJOR,
    MESHHOST_ABI_MINOR,
    "router",
    "0.1.0",
    "Babel-style distance-vector routing over the switch's neighbours; installs its FIB, answers address → key",
    "router",
    mh::router::kProvided,
    1,
    mh::router::kRequired,
    1,
    mh::router::kSchema,
    mh::Stability::experimental,
    &validate,
    &create,
    &destroy,
};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
