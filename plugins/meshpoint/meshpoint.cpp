// meshpoint: meshhost over an 802.11s mesh point (DESIGN §1). Brings the mesh point up
// through nl80211 (creates it on a phy, or takes an existing one, and joins the mesh),
// carries frames over it with eth's EtherTransport (beacons and auto-peering included,
// under its own discovered-peer policy), and reads the kernel's per-station figures every
// stationIntervalMs, offering each station's radio cost to the switch as a link metric
// ("linkmetric.meshpoint"). With "manage": false it uses an interface as it is (a veth in
// the tests): the data path, and station figures only if the interface is 802.11.
#include "ether_transport.hpp"
#include "interface_control.hpp"
#include "interface_monitor.hpp"
#include "meshpoint_config.hpp"
#include "nl80211.hpp"
#include "plugin_entry.hpp"
#include "station_table.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/link_metrics.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>

#include <net/if.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace mh::meshpoint {
namespace {

using nlohmann::json;

constexpr std::uint32_t kPoolPackets = 512;
constexpr std::uint64_t kNsPerMs = 1'000'000;
// nl80211_iftype and nl80211_plink_state values meshpoint reads (<linux/nl80211.h>).
constexpr std::uint32_t kIftypeMeshPoint = 7;  // NL80211_IFTYPE_MESH_POINT

const char* iftype_name(std::uint32_t type) noexcept {
  switch (type) {
    case 1: return "ad-hoc";
    case 2: return "managed (station)";
    case 3: return "access point";
    case 4: return "AP VLAN";
    case 5: return "WDS";
    case 6: return "monitor";
    case 7: return "mesh point";
    case 8: return "P2P client";
    case 9: return "P2P GO";
    case 10: return "P2P device";
    case 11: return "OCB";
    case 12: return "NAN";
    default: return "unknown type";
  }
}

const char* plink_state_name(std::uint8_t state) noexcept {
  switch (state) {
    case 0: return "listen";
    case 1: return "opnSnt";
    case 2: return "opnRcvd";
    case 3: return "cnfRcvd";
    case 4: return "estab";
    case 5: return "holding";
    case 6: return "blocked";
    default: return "unknown";
  }
}

json figures_json(const RadioFigures& f) {
  json out = json::object();
  if ((f.present & kRadioSignal) != 0) out["signalDbm"] = f.signal_dbm;
  if ((f.present & kRadioTxBitrate) != 0) out["txBitrateKbps"] = f.tx_bitrate_kbps;
  if ((f.present & kRadioExpectedThroughput) != 0) out["expectedThroughputKbps"] = f.expected_throughput_kbps;
  if ((f.present & kRadioAirtimeMetric) != 0) out["airtimeMetric"] = f.airtime_metric;
  if ((f.present & kRadioInactiveTime) != 0) out["inactiveMs"] = f.inactive_ms;
  return out;
}

class MeshpointDriver final : public LinkDriver,
                              public LinkMetricSource,
                              public Service,
                              public AdminHandler,
                              ether::InterfaceMonitor::Listener,
                              TimerHandler {
 public:
  MeshpointDriver(Host* host, MeshpointConfig config)
      : host_(host), config_(std::move(config)), monitor_(host->loop(), this) {}

  ~MeshpointDriver() {
    stop();
    if (timer_ != nullptr) timer_->release();
    // Frees retired links even with packets still out: the plugins that held them (the
    // switch) stopped before this one, and a pool cannot outlive its plugin.
    retired_.clear();
  }

  Status init() {
    stations_gauge_ = host_->gauge("meshpoint_stations", "802.11 stations the mesh point interface reports", nullptr, 0);
    if (Status s = host_->register_admin_method("meshpoint.stations", this); !s.ok()) return s;
    if (Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) return s;
    if (Status s = host_->provide("link.meshpoint", this); !s.ok()) return s;
    return host_->provide("linkmetric.meshpoint", this);
  }

  Status start() {
    started_ = true;
    if (config_.manage) {
      if (std::string error = bring_up_mesh(); !error.empty()) {
        release_mesh();
        started_ = false;
        return host_->fail(StatusCode::io_error, Str::of(error));
      }
    } else {
      // Unmanaged: nl80211 only for station figures, which a veth does not have.
      std::string error;
      nl_ = Nl80211::open(&error);
      if (!nl_) radio_note_ = error;
    }
    const std::string error = monitor_.start();  // replays every interface through on_interface
    if (!error.empty()) {
      take_down();
      release_mesh();
      started_ = false;
      return host_->fail(StatusCode::io_error, Str::of(error));
    }
    if (!have_info_) log(LogLevel::warn, config_.interface + ": no such interface yet; meshpoint will use it when it appears");
    timer_->arm(std::uint64_t{config_.station_interval_ms} * kNsPerMs);
    return Status::success();
  }

  void stop() noexcept {
    if (!started_) return;
    started_ = false;
    monitor_.stop();
    if (timer_ != nullptr) timer_->cancel();
    take_down();
    have_info_ = false;
    release_mesh();
    reap();
  }

  // Beacons, the discovered-peer policy, hopEncryption and the station interval apply in
  // place (the link reads the config through a pointer); the interface and the mesh it
  // joins take a restart.
  ReconfigureResult reconfigure(MeshpointConfig config) {
    const MeshpointConfig& now = config_;
    const bool same_mesh = config.interface == now.interface && config.phy == now.phy && config.create == now.create &&
                           config.manage == now.manage && config.join.mesh_id == now.join.mesh_id &&
                           config.join.frequency_mhz == now.join.frequency_mhz && config.join.width == now.join.width &&
                           config.join.kernel_forwarding == now.join.kernel_forwarding;
    if (!same_mesh) return ReconfigureResult::restart_required;
    config_ = std::move(config);
    if (link_) link_->start_beacons();
    return ReconfigureResult::applied;
  }

  // ---- LinkDriver ----
  Str driver_name() const noexcept override { return "meshpoint"; }

  void set_observer(LinkObserver* observer) noexcept override {
    observer_ = observer;
    if (!link_) return;
    link_->set_observer(observer);
    if (observer != nullptr) observer->on_link_up(link_.get());
  }

  // ---- LinkMetricSource ----
  void set_metric_observer(LinkMetricObserver* observer) noexcept override {
    metric_observer_ = observer;
    if (!link_) return;
    for (const Station& station : table_.stations()) report(station);
  }

  // ---- Service ----
  void* query(InterfaceId id) noexcept override {
    if (id == kLinkDriverInterface) return static_cast<LinkDriver*>(this);
    if (id == kLinkMetricSourceInterface) return static_cast<LinkMetricSource*>(this);
    return nullptr;
  }

  // ---- meshpoint.stations ----
  Status call(Str, StringSink* result) noexcept override {
    try {
      reap();
      const std::string text = describe().dump();
      result->append(Str::of(text));
      return Status::success();
    } catch (const std::exception& e) {
      return host_->fail(StatusCode::internal, Str(e.what()));
    }
  }

 private:
  // ---- bringing the mesh point up and down (manage: true) ----

  // Opens nl80211, creates or checks the interface, brings it up and joins the mesh.
  // "" or the one line that stops the start; what was done so far is undone by
  // release_mesh().
  std::string bring_up_mesh() {
    const std::string& name = config_.interface;
    std::string error;
    nl_ = Nl80211::open(&error);
    if (!nl_) return error;
    ifindex_ = if_nametoindex(name.c_str());
    if (config_.create) {
      std::uint32_t wiphy = 0;
      if (error = nl_->find_wiphy(config_.phy, &wiphy); !error.empty()) return error;
      if (ifindex_ != 0) {
        // Left by a run that could not clean up (kill -9): take it over if it is a mesh point.
        std::uint32_t type = 0;
        if (error = nl_->interface_type(name, ifindex_, &type); !error.empty()) {
          return name + ": exists and is not an 802.11 interface; choose another interface.name (" + error + ")";
        }
        if (type != kIftypeMeshPoint) {
          return name + ": exists as an 802.11 " + iftype_name(type) +
                 " interface; choose another interface.name or delete it (iw dev " + name + " del)";
        }
        log(LogLevel::info, name + ": a mesh point of that name exists (left by an earlier run?); meshpoint takes it over");
      } else {
        if (error = nl_->create_mesh_interface(config_.phy, wiphy, name); !error.empty()) return error;
        ifindex_ = if_nametoindex(name.c_str());
        if (ifindex_ == 0) return config_.phy + ": creating mesh point " + name + ": the kernel made no such interface";
      }
      created_ = true;
    } else {
      if (ifindex_ == 0) {
        return name + ": no such interface (with \"manage\" meshpoint joins the mesh on it at start; it must exist, "
                      "or let meshpoint make it with \"phy\" and \"create\": true)";
      }
      std::uint32_t type = 0;
      if (error = nl_->interface_type(name, ifindex_, &type); !error.empty()) {
        return error + " (not an 802.11 interface? \"manage\": false carries meshhost over it as it is)";
      }
      if (type != kIftypeMeshPoint) {
        return name + ": an 802.11 " + iftype_name(type) + " interface, not a mesh point: make it one (iw dev " + name +
               " set type mp) or let meshpoint create one with \"phy\" and \"create\": true";
      }
    }
    bool up = false;
    if (error = interface_is_up(name, ifindex_, &up); !error.empty()) return error;
    if (!up) {
      if (error = set_interface_up(name, ifindex_, true); !error.empty()) return error;
      brought_up_ = !created_;  // a created interface is deleted at stop, not taken down
    }
    // An earlier join (the same interface after a crash, or another tool's) would make
    // ours fail with "already in progress": leave first; an interface in no mesh answers
    // ENOTCONN, which is fine.
    (void)nl_->leave_mesh(name, ifindex_);
    if (error = nl_->join_mesh(name, ifindex_, config_.join); !error.empty()) return error;
    joined_ = true;
    radio_ = true;
    log(LogLevel::info, name + ": joined mesh \"" + config_.join.mesh_id + "\" on " +
                            std::to_string(config_.join.frequency_mhz) + " MHz (" +
                            channel_width_name(config_.join.width) + ")" +
                            (created_ ? ", interface created on " + config_.phy : std::string()));
    return {};
  }

  // Leaves the mesh, deletes a created interface or takes down one meshpoint brought up.
  // Each step is tried even when an earlier one failed; failures are logged.
  void release_mesh() noexcept {
    try {
      const std::string& name = config_.interface;
      if (joined_ && nl_) {
        if (std::string error = nl_->leave_mesh(name, ifindex_); !error.empty()) log(LogLevel::warn, error);
      }
      if (created_ && nl_) {
        if (std::string error = nl_->delete_interface(name, ifindex_); !error.empty()) log(LogLevel::warn, error);
      } else if (brought_up_) {
        if (std::string error = set_interface_up(name, ifindex_, false); !error.empty()) log(LogLevel::warn, error);
      }
    } catch (const std::exception&) {
      log(LogLevel::warn, config_.interface + ": out of memory while leaving the mesh");
    }
    joined_ = created_ = brought_up_ = radio_ = false;
    ifindex_ = 0;
    nl_.reset();
  }

  // ---- the link: as eth's, on the one interface ----

  void on_interface(const ether::InterfaceInfo& info) noexcept override {
    if (!started_) return;
    try {
      if (info.name != config_.interface) {
        // Renamed away from the configured name: as good as gone.
        if (have_info_ && info.ifindex == info_.ifindex) on_interface_gone(info.ifindex);
        return;
      }
      info_ = info;
      have_info_ = true;
      reconcile();
    } catch (const std::exception& e) {
      log(LogLevel::error, info.name + ": " + e.what());
    }
    reap();
  }

  void on_interface_gone(std::uint32_t ifindex) noexcept override {
    if (!have_info_ || ifindex != info_.ifindex) return;
    if (link_) log(LogLevel::info, info_.name + ": interface gone");
    take_down();
    have_info_ = false;
    reap();
  }

  void reconcile() {
    std::string refusal;
    bool use = false;
    if (!info_.ethernet) {
      refusal = info_.name + ": not an Ethernet-framed interface; interface not used";
    } else if (info_.usable()) {
      if (auto mtu = ether::mtu_refusal(info_.name, info_.mtu)) {
        refusal = std::move(*mtu);
      } else {
        use = true;
      }
    }
    const bool same_link = link_ && link_->interface().ifindex == info_.ifindex && link_->interface().mtu == info_.mtu;
    if (link_ && (!use || !same_link)) {
      log(LogLevel::info, info_.name + ": link down (" +
                              (use ? std::string("interface changed") : refusal.empty() ? std::string("down") : refusal) + ")");
      take_down();
    }
    if (!refusal.empty() && refusal != refusal_) log(LogLevel::error, refusal);
    refusal_ = std::move(refusal);
    if (use && !link_) bring_up_link();
  }

  void bring_up_link() {
    ether::EtherLinkOptions options;
    options.driver = "meshpoint";
    options.interface = info_;
    options.config = &config_.shared;
    options.pool_packets = kPoolPackets;
    retired_.reserve(retired_.size() + 1);  // so take_down's push_back cannot throw
    std::string error;
    link_ = ether::EtherTransport::open(host_, std::move(options), &error);
    if (!link_) {
      if (error != link_error_) log(LogLevel::error, error);
      link_error_ = error;
      return;
    }
    link_error_.clear();
    log(LogLevel::info, info_.name + ": link " + std::string(link_->name().data, link_->name().size) + " up, MTU " +
                            std::to_string(link_->mtu()) + ", MAC " + ether::format_mac(info_.mac));
    if (!config_.manage) check_radio();
    link_->set_observer(observer_);
    if (observer_ != nullptr) observer_->on_link_up(link_.get());
    link_->start_beacons();
  }

  // Unmanaged: whether the interface has 802.11 stations to read. A veth does not; that
  // is said once, not at every station interval.
  void check_radio() {
    radio_ = false;
    std::string note = radio_note_;
    if (nl_) {
      std::uint32_t type = 0;
      note = nl_->interface_type(info_.name, info_.ifindex, &type);
      radio_ = note.empty();
    }
    if (!radio_ && !radio_noted_) {
      log(LogLevel::info, info_.name + ": no station figures, frames only (" + note + ")");
      radio_noted_ = true;
    }
  }

  // Tells the observers the link and its stations are going, and retires the link until
  // its packets are back.
  void take_down() noexcept {
    forget_stations();
    if (!link_) return;
    if (observer_ != nullptr) observer_->on_link_down(link_.get());
    link_->close();
    // Cannot throw: bring_up_link reserved the slot before the link went live, so a link
    // whose packets the switch may still hold is never freed here.
    retired_.push_back(std::move(link_));
    link_.reset();
  }

  void reap() noexcept {
    std::erase_if(retired_, [](const auto& link) { return link->packets_in_use() == 0; });
  }

  // ---- station figures ----

  void on_timer() noexcept {
    if (!started_) return;
    reap();
    if (link_ && radio_ && nl_) read_stations();
    timer_->arm(std::uint64_t{config_.station_interval_ms} * kNsPerMs);
  }

  void read_stations() noexcept {
    try {
      std::vector<StationInfo> dump;
      const std::string error = nl_->dump_stations(link_->interface().name, link_->interface().ifindex, &dump);
      if (!error.empty()) {
        if (error != dump_error_) log(LogLevel::warn, error);
        dump_error_ = error;
        return;
      }
      dump_error_.clear();
      table_.update(dump, &vanished_);
      for (const ether::MacAddress& mac : vanished_) forget(mac);
      for (const Station& station : table_.stations()) report(station);
      if (stations_gauge_ != nullptr) stations_gauge_->set(static_cast<double>(table_.stations().size()));
    } catch (const std::bad_alloc&) {
      log(LogLevel::warn, info_.name + ": out of memory reading stations; trying again at the next interval");
    }
  }

  void report(const Station& station) noexcept {
    if (metric_observer_ == nullptr || !link_) return;
    LinkMetric metric;
    metric.cost = station.cost.cost();
    metric.radio = station.info.figures;
    // The link's own ifindex, not info_'s: info_ may already describe a successor.
    metric_observer_->on_link_metric(link_->name(), ether::make_endpoint(station.info.mac, link_->interface().ifindex),
                                     metric);
  }

  void forget(const ether::MacAddress& mac) noexcept {
    if (metric_observer_ != nullptr && link_) {
      metric_observer_->on_link_metric_forget(link_->name(), ether::make_endpoint(mac, link_->interface().ifindex));
    }
  }

  void forget_stations() noexcept {
    try {
      table_.clear(&vanished_);
    } catch (const std::bad_alloc&) {
      vanished_.clear();  // the table is empty; the switch drops metrics of a link that went down
    }
    for (const ether::MacAddress& mac : vanished_) forget(mac);
    if (stations_gauge_ != nullptr) stations_gauge_->set(0);
  }

  // ---- meshpoint.stations ----

  std::string state() const {
    if (!started_) return "stopped";
    if (link_) return "up";
    if (!have_info_) return "missing";
    if (!refusal_.empty()) return "refused";
    if (!link_error_.empty()) return "error";
    return "down";
  }

  json describe() const {
    json out = {{"interface", config_.interface}, {"managed", config_.manage}, {"state", state()}};
    if (config_.manage) {
      out["meshId"] = config_.join.mesh_id;
      out["frequency"] = config_.join.frequency_mhz;
      if (auto channel = frequency_channel(config_.join.frequency_mhz)) out["channel"] = *channel;
      out["channelWidth"] = channel_width_name(config_.join.width);
      out["joined"] = joined_;
    }
    if (config_.create) {
      out["phy"] = config_.phy;
      out["created"] = created_;
    }
    if (have_info_) {
      out["ifindex"] = info_.ifindex;
      out["mac"] = ether::format_mac(info_.mac);
      out["mtu"] = info_.mtu;
    }
    if (!refusal_.empty()) out["reason"] = refusal_;
    if (!link_ && !link_error_.empty()) out["reason"] = link_error_;
    out["radio"] = radio_;
    if (!dump_error_.empty()) out["stationError"] = dump_error_;
    if (link_) out["link"] = std::string(link_->name().data, link_->name().size);
    json stations = json::array();
    for (const Station& station : table_.stations()) {
      json s = {{"mac", ether::format_mac(station.info.mac)},
                {"figures", figures_json(station.info.figures)},
                {"smoothed", figures_json(station.cost.smoothed())},
                {"cost", station.cost.cost()},
                {"rxBytes", station.info.rx_bytes},
                {"txBytes", station.info.tx_bytes},
                {"txRetries", station.info.tx_retries},
                {"txFailed", station.info.tx_failed}};
      if (station.info.has_plink_state) s["plinkState"] = plink_state_name(station.info.plink_state);
      if (const ether::HeardNode* node = heard(station.info.mac)) s["publicKey"] = format_public_key(node->key);
      stations.push_back(std::move(s));
    }
    out["stations"] = std::move(stations);
    return out;
  }

  // The node whose beacons came from `mac`, if the link heard one.
  const ether::HeardNode* heard(const ether::MacAddress& mac) const noexcept {
    if (!link_) return nullptr;
    const ether::HeardNode* best = nullptr;
    for (std::size_t i = 0; i < link_->heard_count(); ++i) {
      const ether::HeardNode& node = link_->heard()[i];
      if (node.mac == mac && (best == nullptr || node.last_heard_ns > best->last_heard_ns)) best = &node;
    }
    return best;
  }

  void log(LogLevel level, const std::string& message) noexcept { host_->log(level, Str::of(message)); }

  Host* host_;
  MeshpointConfig config_;
  ether::InterfaceMonitor monitor_;
  bool started_ = false;
  LinkObserver* observer_ = nullptr;
  LinkMetricObserver* metric_observer_ = nullptr;

  // The mesh point as meshpoint set it up (manage: true).
  std::unique_ptr<Nl80211> nl_;
  std::uint32_t ifindex_ = 0;
  bool created_ = false;     // meshpoint made the interface: deleted at stop
  bool brought_up_ = false;  // an existing interface meshpoint brought up: down again at stop
  bool joined_ = false;
  bool radio_ = false;       // station dumps are possible on the interface
  std::string radio_note_;   // why not, when nl80211 could not be opened (unmanaged)
  bool radio_noted_ = false;

  // The interface as the kernel last described it, and the link on it.
  ether::InterfaceInfo info_;
  bool have_info_ = false;
  std::string refusal_;     // why the interface is not used (MTU, not Ethernet), logged once
  std::string link_error_;  // the last failure to open the link, logged once
  std::unique_ptr<ether::EtherTransport> link_;
  std::vector<std::unique_ptr<ether::EtherTransport>> retired_;

  StationTable table_;
  std::vector<ether::MacAddress> vanished_;  // scratch for StationTable, kept to reuse its storage
  std::string dump_error_;                   // the last station dump failure, logged once
  Timer* timer_ = nullptr;
  Gauge* stations_gauge_ = nullptr;
};

class MeshpointPlugin final : public Plugin {
 public:
  MeshpointPlugin(Host* host, MeshpointConfig config) : driver_(host, std::move(config)) {}

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
      std::optional<MeshpointConfig> config = parse_meshpoint_config_text(config_json, errors);
      if (!config) return ReconfigureResult::error;
      return driver_.reconfigure(std::move(*config));
    } catch (const std::exception&) {
      errors->error("", "a config meshpoint can hold", "too little memory to hold it");
      return ReconfigureResult::error;
    }
  }

  void* query(InterfaceId) noexcept override { return nullptr; }

 private:
  MeshpointDriver driver_;
};

constexpr char kName[] = "meshpoint";
using Entry = link_common::PluginEntry<MeshpointPlugin, parse_meshpoint_config_text, kName>;

constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "properties": {
    "interface": {
      "type": "object",
      "description": "the mesh point: {\"name\", \"phy\", \"create\": true} makes it on a radio at start and deletes it at stop; {\"name\"} uses an existing one",
      "properties": {
        "name": {"type": "string", "maxLength": 15},
        "phy": {"type": "string", "description": "with create: the radio, as `iw phy` lists it"},
        "create": {"type": "boolean", "default": false}
      },
      "required": ["name"],
      "additionalProperties": false
    },
    "manage": {"type": "boolean", "default": true, "description": "false: use the interface as it is (no nl80211 changes, no join)"},
    "meshId": {"type": "string", "minLength": 1, "maxLength": 32},
    "frequency": {"type": "integer", "description": "MHz, a channel's centre frequency"},
    "channel": {"type": "integer", "description": "1-14 (2.4 GHz) or 32-177 (5 GHz); instead of frequency"},
    "channelWidth": {"enum": ["20noht", "20", "40", "80"], "default": "20"},
    "stationIntervalMs": {"type": "integer", "minimum": 100, "maximum": 60000, "default": 1000},
    "kernelForwarding": {"type": "boolean", "default": false, "description": "leave forwarding between mesh stations to the kernel (802.11s HWMP)"},
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
  "required": ["interface"],
  "additionalProperties": false
})json";

const Str kProvided[] = {"link.meshpoint", "linkmetric.meshpoint"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = kName,
    .version = "0.1.0",
    .description = "Link driver: 802.11s mesh point through nl80211, frames as eth carries them, radio figures as link cost",
    .kind = "link",
    .provided = kProvided,
    .provided_count = 2,
    .required = nullptr,
    .required_count = 0,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = Entry::validate,
    .create = Entry::create,
    .destroy = Entry::destroy,
};

}  // namespace
}  // namespace mh::meshpoint

MESHHOST_PLUGIN(mh::meshpoint::kDescriptor)
