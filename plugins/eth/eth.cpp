// eth: meshhost over raw Ethernet (DESIGN §1). One link per usable interface named in the
// config (or every Ethernet interface with "all"), followed through rtnetlink as
// interfaces appear, go up or down, change MTU or vanish; L2 beacons for auto-peering.
// The per-interface work is EtherTransport, which meshpoint shares.
#include "eth_config.hpp"
#include "ether_transport.hpp"
#include "interface_monitor.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>

#include <exception>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace mh::eth {
namespace {

using nlohmann::json;

constexpr std::uint64_t kReapIntervalNs = 1'000'000'000;  // how often a retired link checks its packets are back
constexpr std::uint32_t kPoolPacketsPerLink = 512;

// The link driver: owns the interface table, the links and the netlink monitor.
class EthDriver final : public LinkDriver,
                        public Service,
                        public AdminHandler,
                        ether::InterfaceMonitor::Listener,
                        TimerHandler {
 public:
  EthDriver(Host* host, EthConfig config) : host_(host), config_(std::move(config)), monitor_(host->loop(), this) {}

  ~EthDriver() {
    stop();
    if (reap_timer_ != nullptr) reap_timer_->release();
    // Frees retired links even with packets still out: the plugins that held them (the
    // switch) stopped before this one, and a pool cannot outlive its plugin.
    retired_.clear();
  }

  Status init() {
    links_gauge_ = host_->gauge("eth_links", "Interfaces eth has a link on", nullptr, 0);
    refused_gauge_ = host_->gauge("eth_interfaces_refused", "Interfaces eth refuses (MTU too small, not Ethernet)", nullptr, 0);
    if (Status s = host_->register_admin_method("eth.links", this); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(this, &reap_timer_); !s.ok()) return s;
    return host_->provide("link.eth", this);
  }

  Status start() {
    started_ = true;
    const std::string error = monitor_.start();  // replays every interface through on_interface
    if (!error.empty()) {
      started_ = false;
      return host_->fail(StatusCode::io_error, Str::of(error));
    }
    for (const std::string& name : config_.interfaces) {
      if (find_by_name(name) == nullptr) log(LogLevel::warn, name + ": no such interface yet; eth will use it when it appears");
    }
    return Status::success();
  }

  void stop() noexcept {
    if (!started_) return;
    started_ = false;
    monitor_.stop();
    for (auto& [ifindex, entry] : interfaces_) take_down(entry);
    interfaces_.clear();
    update_gauges();
    reap();
  }

  // Applies a new config in place: links on interfaces it no longer names go down, newly
  // named ones come up, and beacon, policy and hopEncryption changes reach every link
  // (they read the config through a pointer) without dropping it.
  void reconfigure(EthConfig config) {
    config_ = std::move(config);
    for (auto& [ifindex, entry] : interfaces_) {
      reconcile(entry);
      if (entry.link) entry.link->start_beacons();
    }
    update_gauges();
  }

  // ---- LinkDriver ----
  Str driver_name() const noexcept override { return "eth"; }

  void set_observer(LinkObserver* observer) noexcept override {
    observer_ = observer;
    for (auto& [ifindex, entry] : interfaces_) {
      if (!entry.link) continue;
      entry.link->set_observer(observer);
      if (observer != nullptr) observer->on_link_up(entry.link.get());
    }
  }

  // ---- Service ----
  void* query(InterfaceId id) noexcept override {
    return id == kLinkDriverInterface ? static_cast<LinkDriver*>(this) : nullptr;
  }

  // ---- eth.links ----
  Status call(Str, StringSink* result) noexcept override {
    try {
      reap();
      json links = json::array();
      for (const auto& [ifindex, entry] : interfaces_) {
        if (entry.decision.use == InterfaceUse::ignore) continue;
        links.push_back(describe(entry));
      }
      for (const std::string& name : config_.interfaces) {
        if (find_by_name(name) == nullptr) links.push_back({{"interface", name}, {"state", "missing"}});
      }
      const std::string text = json{{"links", std::move(links)}, {"retired", retired_.size()}}.dump();
      result->append(Str::of(text));
      return Status::success();
    } catch (const std::exception& e) {
      return host_->fail(StatusCode::internal, Str(e.what()));
    }
  }

 private:
  struct Entry {
    ether::InterfaceInfo info;
    InterfaceDecision decision;
    std::unique_ptr<ether::EtherTransport> link;
    std::string error;  // the last failure to open a link here
  };

  // ---- InterfaceMonitor::Listener ----
  void on_interface(const ether::InterfaceInfo& info) noexcept override {
    if (!started_) return;
    try {
      Entry& entry = interfaces_[info.ifindex];
      entry.info = info;
      reconcile(entry);
    } catch (const std::exception& e) {
      log(LogLevel::error, info.name + ": " + e.what());
    }
    update_gauges();
    reap();
  }

  void on_interface_gone(std::uint32_t ifindex) noexcept override {
    const auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end()) return;
    if (it->second.link) log(LogLevel::info, it->second.info.name + ": interface gone");
    take_down(it->second);
    interfaces_.erase(it);
    update_gauges();
    reap();
  }

  void on_timer() noexcept override {
    reap();
    if (!retired_.empty()) reap_timer_->arm(kReapIntervalNs);
  }

  // Brings the entry's link in line with what the config and the kernel say now.
  void reconcile(Entry& entry) {
    InterfaceDecision decision = decide(config_, entry.info);
    const bool same_link = entry.link && entry.link->interface().name == entry.info.name &&
                           entry.link->interface().mtu == entry.info.mtu;
    if (entry.link && (decision.use != InterfaceUse::use || !same_link)) {
      log(LogLevel::info, entry.link->interface().name + ": link down (" +
                              (decision.use == InterfaceUse::use ? std::string("interface changed") : state_name(decision)) + ")");
      take_down(entry);
    }
    if (decision.use == InterfaceUse::refuse && decision.reason != entry.decision.reason) {
      log(LogLevel::error, decision.reason);
    }
    entry.decision = std::move(decision);
    if (entry.decision.use == InterfaceUse::use && !entry.link) bring_up(entry);
  }

  void bring_up(Entry& entry) {
    ether::EtherLinkOptions options;
    options.driver = "eth";
    options.interface = entry.info;
    options.config = &config_.shared;
    options.pool_packets = kPoolPacketsPerLink;
    std::string error;
    entry.link = ether::EtherTransport::open(host_, std::move(options), &error);
    if (!entry.link) {
      if (error != entry.error) log(LogLevel::error, error);
      entry.error = error;
      return;
    }
    entry.error.clear();
    log(LogLevel::info, entry.info.name + ": link " + std::string(entry.link->name().data, entry.link->name().size) +
                            " up, MTU " + std::to_string(entry.link->mtu()) + ", MAC " + ether::format_mac(entry.info.mac));
    entry.link->set_observer(observer_);
    if (observer_ != nullptr) observer_->on_link_up(entry.link.get());
    entry.link->start_beacons();
  }

  // Tells the observer the link is going and retires it until its packets are back.
  void take_down(Entry& entry) noexcept {
    if (!entry.link) return;
    if (observer_ != nullptr) observer_->on_link_down(entry.link.get());
    entry.link->close();
    try {
      retired_.push_back(std::move(entry.link));
    } catch (const std::bad_alloc&) {
      entry.link.reset();  // cannot keep it: free it now, as the contract allows after on_link_down
    }
    entry.link.reset();
    reap_timer_->arm(kReapIntervalNs);
  }

  // Frees retired links whose every packet has come back.
  void reap() noexcept {
    std::erase_if(retired_, [](const auto& link) { return link->packets_in_use() == 0; });
  }

  const Entry* find_by_name(const std::string& name) const {
    for (const auto& [ifindex, entry] : interfaces_) {
      if (entry.info.name == name) return &entry;
    }
    return nullptr;
  }

  static std::string state_name(const InterfaceDecision& decision) {
    switch (decision.use) {
      case InterfaceUse::ignore: return "not used";
      case InterfaceUse::down: return "down";
      case InterfaceUse::refuse: return "refused";
      case InterfaceUse::use: return "up";
    }
    return "unknown";
  }

  json describe(const Entry& entry) const {
    json out = {{"interface", entry.info.name},
                {"ifindex", entry.info.ifindex},
                {"mtu", entry.info.mtu},
                {"mac", ether::format_mac(entry.info.mac)},
                {"state", entry.link ? "up" : (!entry.error.empty() && entry.decision.use == InterfaceUse::use)
                                                  ? "error"
                                                  : state_name(entry.decision)}};
    if (!entry.decision.reason.empty()) out["reason"] = entry.decision.reason;
    if (!entry.link && !entry.error.empty()) out["reason"] = entry.error;
    if (!entry.link) return out;
    const ether::EtherLinkStats& stats = entry.link->stats();
    json dropped = json::object();
    for (std::size_t i = 0; i < ether::kDropReasonCount; ++i) {
      if (stats.dropped[i] != 0) dropped[ether::drop_reason_name(static_cast<ether::DropReason>(i))] = stats.dropped[i];
    }
    const Str name = entry.link->name();
    out["link"] = std::string(name.data, name.size);
    out["linkMtu"] = entry.link->mtu();
    out["framesIn"] = stats.frames_received;
    out["bytesIn"] = stats.bytes_received;
    out["framesOut"] = stats.frames_sent;
    out["bytesOut"] = stats.bytes_sent;
    out["beaconsIn"] = stats.beacons_received;
    out["beaconsOut"] = stats.beacons_sent;
    out["dropped"] = std::move(dropped);
    json heard = json::array();
    const std::uint64_t now = host_->loop()->now_ns();
    for (std::size_t i = 0; i < entry.link->heard_count(); ++i) {
      const ether::HeardNode& node = entry.link->heard()[i];
      heard.push_back({{"publicKey", format_public_key(node.key)},
                       {"mac", ether::format_mac(node.mac)},
                       {"beacons", node.beacons},
                       {"lastHeardMsAgo", (now - node.last_heard_ns) / 1'000'000}});
    }
    out["heard"] = std::move(heard);
    return out;
  }

  void update_gauges() noexcept {
    double links = 0, refused = 0;
    for (const auto& [ifindex, entry] : interfaces_) {
      links += entry.link ? 1 : 0;
      refused += entry.decision.use == InterfaceUse::refuse ? 1 : 0;
    }
    if (links_gauge_ != nullptr) links_gauge_->set(links);
    if (refused_gauge_ != nullptr) refused_gauge_->set(refused);
  }

  void log(LogLevel level, const std::string& message) noexcept { host_->log(level, Str::of(message)); }

  Host* host_;
  EthConfig config_;
  ether::InterfaceMonitor monitor_;
  bool started_ = false;
  LinkObserver* observer_ = nullptr;
  std::map<std::uint32_t, Entry> interfaces_;  // by ifindex, every interface the kernel has
  std::vector<std::unique_ptr<ether::EtherTransport>> retired_;
  Timer* reap_timer_ = nullptr;
  Gauge* links_gauge_ = nullptr;
  Gauge* refused_gauge_ = nullptr;
};

class EthPlugin final : public Plugin {
 public:
  EthPlugin(Host* host, EthConfig config) : driver_(host, std::move(config)) {}

  Status init() { return driver_.init(); }
  Status start() noexcept override {
    try {
      return driver_.start();
    } catch (const std::bad_alloc&) {
      driver_.stop();
      return Status::error(StatusCode::internal, "out of memory");
    }
  }
  void stop() noexcept override { driver_.stop(); }

  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override {
    try {
      EthConfig config;
      if (!parse_eth_config(link_common::parse_config_json(config_json), errors, &config)) return ReconfigureResult::error;
      driver_.reconfigure(std::move(config));
      return ReconfigureResult::applied;
    } catch (const std::exception&) {
      errors->error("", "a config eth can hold", "too little memory to hold it");
      return ReconfigureResult::error;
    }
  }

  void* query(InterfaceId) noexcept override { return nullptr; }

 private:
  EthDriver driver_;
};

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

void validate(Str config_json, ErrorSink* errors) noexcept {
  try {
    EthConfig config;
    (void)parse_eth_config(link_common::parse_config_json(config_json), errors, &config);
  } catch (const std::exception&) {
    errors->error("", "a config eth can hold", "too little memory to check it");
  }
}

Status create(Host* host, Str config_json, Plugin** out) noexcept {
  try {
    link_common::FirstErrorLine error;
    EthConfig config;
    if (!parse_eth_config(link_common::parse_config_json(config_json), &error, &config)) {
      return host->fail(StatusCode::invalid_argument, Str::of(error.line()));
    }
    auto plugin = std::make_unique<EthPlugin>(host, std::move(config));
    if (Status s = plugin->init(); !s.ok()) return s;
    *out = plugin.release();
    return Status::success();
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::internal, "out of memory");
  } catch (const std::exception& e) {
    return host->fail(StatusCode::internal, Str(e.what()));
  }
}

void destroy(Plugin* plugin) noexcept { delete static_cast<EthPlugin*>(plugin); }

constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "properties": {
    "interfaces": {
      "description": "\"all\" (every Ethernet interface but loopback, including ones that appear later) or the interfaces to use",
      "oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string", "maxLength": 15}, "minItems": 1}]
    },
    "beacon": {
      "type": "object",
      "properties": {
        "mode": {"description": "0/\"off\", 1/\"accept\" (listen), 2/\"send\" (send and listen)", "default": "off"},
        "intervalMs": {"type": "integer", "minimum": 100, "maximum": 3600000, "default": 5000},
        "password": {"type": "string", "description": "used when initiating to a node heard in a beacon"},
        "login": {"type": "string"}
      },
      "additionalProperties": false
    },
    "discoveredPeers": {
      "type": "object",
      "properties": {
        "policy": {"enum": ["acceptAny", "requirePassword", "allowList"], "default": "requirePassword"},
        "allowList": {"type": "array", "items": {"type": "string"}}
      },
      "additionalProperties": false
    },
    "hopEncryption": {"enum": ["full", "headers"], "default": "full"}
  },
  "required": ["interfaces"],
  "additionalProperties": false
})json";

const Str kProvided[] = {"link.eth"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = "eth",
    .version = "0.1.0",
    .description = "Link driver: raw Ethernet (AF_PACKET, EtherType 0x88B5) with L2 beacons",
    .kind = "link",
    .provided = kProvided,
    .provided_count = 1,
    .required = nullptr,
    .required_count = 0,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = validate,
    .create = create,
    .destroy = destroy,
};

}  // namespace
}  // namespace mh::eth

MESHHOST_PLUGIN(mh::eth::kDescriptor)
