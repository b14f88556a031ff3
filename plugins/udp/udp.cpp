// The udp plugin: lifecycle, the LinkDriver service, beacons, and the descriptor the host
// loads (see udp.hpp).
#include "udp.hpp"

#include <plugin_entry.hpp>

#include <meshhost/keys.hpp>

#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <string>

namespace mh::udp {

namespace {
constexpr std::uint64_t kNsPerMs = 1'000'000;
}  // namespace

UdpPlugin::UdpPlugin(Host* host, UdpConfig config) noexcept : host_(host), config_(std::move(config)) {}

UdpPlugin::~UdpPlugin() {
  if (started_) stop();
}

Status UdpPlugin::init() noexcept {
  try {
    const Str name = host_->plugin_name();
    const std::string plugin(name.data, name.size);
    if (const Status s = host_->provide("link.udp", &driver_); !s.ok()) return s;
    const std::string method = plugin + ".links";
    return host_->register_admin_method(Str::of(method), this);
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::internal, "out of memory");
  }
}

Status UdpPlugin::start() noexcept {
  try {
    for (const Endpoint& bind : config_.bind) {
      auto link = std::make_unique<UdpLink>(host_, bind, &config_.common, config_.fwmark, this);
      int error = 0;
      const Status s = link->open(&error);
      if (s.ok()) {
        links_.push_back(std::move(link));
        continue;
      }
      // The default binds cover both families; a host without IPv6 runs on IPv4 alone.
      const bool family_missing = error == EAFNOSUPPORT || error == EADDRNOTAVAIL || error == EPROTONOSUPPORT;
      if (config_.bind_is_default && family_missing && endpoint_family(bind) == Family::ipv6) {
        log(LogLevel::warn, "not listening on " + format_endpoint(bind) + ": " + std::strerror(error));
        continue;
      }
      const std::string message = format_endpoint(bind) + ": " + std::string(s.message.data, s.message.size);
      for (auto& opened : links_) opened->close();
      links_.clear();
      return host_->fail(s.code, Str::of(message));
    }
    if (links_.empty()) return Status::error(StatusCode::unavailable, "no address could be bound");
    if (const Status s = host_->loop()->create_timer(this, &beacon_timer_); !s.ok()) {
      for (auto& link : links_) link->close();
      links_.clear();
      return s;
    }
    started_ = true;
    if (config_.common.beacon.sends()) beacon_timer_->arm(0);  // the first beacon right away
    std::string names;
    for (const auto& link : links_) names += (names.empty() ? "" : ", ") + link->name_text();
    log(LogLevel::info, "listening on " + names);
    announce();
    return Status::success();
  } catch (const std::bad_alloc&) {
    for (auto& link : links_) link->close();
    links_.clear();
    return Status::error(StatusCode::internal, "out of memory");
  }
}

void UdpPlugin::stop() noexcept {
  if (!started_) return;
  started_ = false;
  if (beacon_timer_ != nullptr) {
    beacon_timer_->release();
    beacon_timer_ = nullptr;
  }
  for (auto& link : links_) {
    if (observer_ != nullptr) observer_->on_link_down(link.get());
    link->close();
  }
  links_.clear();
}

ReconfigureResult UdpPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    std::optional<UdpConfig> config = parse_udp_config(config_json, errors);
    if (!config) return ReconfigureResult::error;
    // Sockets, peers and policies are all bound into live links and the switch's peer
    // table; a changed config takes a restart.
    return config->source == config_.source ? ReconfigureResult::applied : ReconfigureResult::restart_required;
  } catch (const std::exception&) {
    errors->error("", "a config udp can hold", "too little memory to hold it");
    return ReconfigureResult::error;
  }
}

void UdpPlugin::set_observer(LinkObserver* observer) noexcept {
  observer_ = observer;
  if (started_) announce();
}

void UdpPlugin::announce() noexcept {
  if (observer_ == nullptr) return;
  for (const auto& link : links_) observer_->on_link_up(link.get());
  for (const auto& link : links_) {
    for (const ConnectTo& peer : config_.connect_to) {
      if (endpoint_family(peer.endpoint) != link->family()) continue;
      PeerHint hint;
      hint.endpoint = peer.endpoint;
      hint.key = peer.key;
      hint.password = Str::of(peer.password);
      hint.login = Str::of(peer.login);
      hint.peer_name = Str::of(peer.peer_name);
      hint.from_beacon = false;
      observer_->on_peer_hint(link.get(), hint);
    }
  }
}

void UdpPlugin::on_timer() noexcept {
  if (!started_) return;
  const PublicKey self = host_->public_key();
  const std::uint8_t flags = config_.common.beacon_flags();
  for (const auto& link : links_) link->send_beacons(self, flags);
  beacon_timer_->arm(std::uint64_t{config_.common.beacon.interval_ms} * kNsPerMs);
}

void UdpPlugin::on_beacon(UdpLink* link, const Endpoint& from, const link_common::Beacon& beacon) noexcept {
  const PublicKey self = host_->public_key();
  if (std::memcmp(self.bytes, beacon.key.bytes, kPublicKeySize) == 0) return;  // our own, looped back
  if (!config_.common.beacon.accepts()) {
    link->count_drop(DropReason::beacon_ignored);
    return;
  }
  link->count_beacon_received();
  if (observer_ == nullptr) return;
  if (!link->beacon_rate_limit().take(host_->loop()->now_ns())) {
    link->count_drop(DropReason::beacon_flood);
    return;
  }
  PeerHint hint;
  hint.endpoint = from;
  hint.key = beacon.key;
  hint.password = Str::of(config_.common.beacon.password);
  hint.login = Str::of(config_.common.beacon.login);
  hint.peer_name = "";
  hint.from_beacon = true;
  observer_->on_peer_hint(link, hint);
}

void UdpPlugin::log(LogLevel level, const std::string& message) noexcept { host_->log(level, Str::of(message)); }

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

namespace {

constexpr char kName[] = "udp";
using Entry = link_common::PluginEntry<UdpPlugin, parse_udp_config, kName>;

const Str kProvided[] = {"link.udp"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = kName,
    .version = "0.1.0",
    .description = "UDP link driver: IPv4/IPv6 sockets, static peers (connectTo), LAN beacons",
    .kind = "link",
    .provided = kProvided,
    .provided_count = 1,
    .required = nullptr,
    .required_count = 0,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = Entry::validate,
    .create = Entry::create,
    .destroy = Entry::destroy,
};

}  // namespace

}  // namespace mh::udp

MESHHOST_PLUGIN(mh::udp::kDescriptor)
