// A link metric source for the scenarios (never installed): it stands in for a radio by
// reporting the paths its config lists, as meshpoint reports stations, so a test can give
// one eth path a bad "radio" and watch the router move off it. Provides "linkmetric.fake".
//
//   "fake_link_metric": { "paths": [
//     { "link": "eth/ab", "mac": "02:00:00:00:01:02", "cost": 200,
//       "signalDbm": -88, "txBitrateKbps": 6500, "expectedThroughputKbps": 4000,
//       "airtimeMetric": 8000, "inactiveMs": 30 } ] }
//
// The endpoint is eth's (ether_frame.hpp): the neighbour's MAC and the interface's index,
// read with if_nametoindex when the list is applied (start, SIGHUP). SIGHUP applies a new
// list: paths no longer listed are forgotten, the others reported again.
#include "ether_frame.hpp"

#include <meshhost/link_metrics.hpp>
#include <meshhost/plugin.hpp>

#include <net/if.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

constexpr std::string_view kEthPrefix = "eth/";

struct FakePath {
  std::string link;  // "eth/<interface>"
  mh::ether::MacAddress mac;
  mh::LinkMetric metric;
  mh::Endpoint endpoint;  // filled when applied
};

std::optional<mh::ether::MacAddress> parse_mac(const std::string& text) {
  mh::ether::MacAddress mac;
  unsigned b[mh::ether::kMacSize];
  char tail = 0;
  if (text.size() != mh::ether::kMacTextSize ||
      std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return std::nullopt;
  for (std::size_t i = 0; i < mh::ether::kMacSize; ++i) mac.bytes[i] = static_cast<std::uint8_t>(b[i]);
  return mac;
}

void report(mh::ErrorSink* errors, const std::string& path, const char* expected, const std::string& got) {
  errors->error(mh::Str::of(path), mh::Str(expected), mh::Str::of(got));
}

// The config's paths; nullopt (each problem reported) when it is wrong. Throws bad_alloc.
std::optional<std::vector<FakePath>> parse_config(mh::Str text, mh::ErrorSink* errors) {
  const json config = json::parse(std::string_view(text.data, text.size), nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    report(errors, "", "an object", std::string(text.data, text.size));
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& [key, value] : config.items()) {
    if (key != "paths") {
      report(errors, key, "only \"paths\"", "an unknown key");
      ok = false;
    }
  }
  std::vector<FakePath> paths;
  const auto list = config.find("paths");
  if (list == config.end()) return paths;
  if (!list->is_array()) {
    report(errors, "paths", "an array", list->dump());
    return std::nullopt;
  }
  const std::pair<const char*, std::uint32_t> figures[] = {
      {"signalDbm", mh::kRadioSignal},
      {"txBitrateKbps", mh::kRadioTxBitrate},
      {"expectedThroughputKbps", mh::kRadioExpectedThroughput},
      {"airtimeMetric", mh::kRadioAirtimeMetric},
      {"inactiveMs", mh::kRadioInactiveTime},
  };
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    const std::string at = "paths[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      report(errors, at, "an object", entry.dump());
      ok = false;
      continue;
    }
    FakePath p;
    const auto link = entry.find("link");
    if (link == entry.end() || !link->is_string() || link->get<std::string>().rfind(kEthPrefix, 0) != 0 ||
        link->get<std::string>().size() == kEthPrefix.size() ||
        link->get<std::string>().size() - kEthPrefix.size() >= IF_NAMESIZE) {
      report(errors, at + ".link", "\"eth/<interface>\"", link == entry.end() ? "nothing" : link->dump());
      ok = false;
    } else {
      p.link = link->get<std::string>();
    }
    const auto mac = entry.find("mac");
    const auto parsed = mac != entry.end() && mac->is_string() ? parse_mac(mac->get<std::string>()) : std::nullopt;
    if (!parsed) {
      report(errors, at + ".mac", "a MAC address like \"02:00:00:00:00:01\"",
             mac == entry.end() ? "nothing" : mac->dump());
      ok = false;
    } else {
      p.mac = *parsed;
    }
    const auto cost = entry.find("cost");
    if (cost == entry.end() || !cost->is_number_unsigned() || cost->get<std::uint64_t>() > mh::kInfiniteLinkCost) {
      report(errors, at + ".cost", "an integer from 0 to 4294967295", cost == entry.end() ? "nothing" : cost->dump());
      ok = false;
    } else {
      p.metric.cost = cost->get<std::uint32_t>();
    }
    for (const auto& [name, bit] : figures) {
      const auto it = entry.find(name);
      if (it == entry.end()) continue;
      const bool is_signal = bit == mh::kRadioSignal;
      if (is_signal ? !it->is_number_integer() : !it->is_number_unsigned()) {
        report(errors, at + "." + name, is_signal ? "an integer" : "an unsigned integer", it->dump());
        ok = false;
        continue;
      }
      p.metric.radio.present |= bit;
      mh::RadioFigures& r = p.metric.radio;
      if (bit == mh::kRadioSignal) r.signal_dbm = it->get<std::int32_t>();
      if (bit == mh::kRadioTxBitrate) r.tx_bitrate_kbps = it->get<std::uint32_t>();
      if (bit == mh::kRadioExpectedThroughput) r.expected_throughput_kbps = it->get<std::uint32_t>();
      if (bit == mh::kRadioAirtimeMetric) r.airtime_metric = it->get<std::uint32_t>();
      if (bit == mh::kRadioInactiveTime) r.inactive_ms = it->get<std::uint32_t>();
    }
    for (const auto& [key, value] : entry.items()) {
      bool known = key == "link" || key == "mac" || key == "cost";
      for (const auto& f : figures) known |= key == f.first;
      if (!known) {
        report(errors, at + "." + key, "link, mac, cost or a radio figure", "an unknown key");
        ok = false;
      }
    }
    paths.push_back(std::move(p));
  }
  if (!ok) return std::nullopt;
  return paths;
}

class FakeLinkMetric final : public mh::Plugin, mh::LinkMetricSource {
 public:
  FakeLinkMetric(mh::Host* host, std::vector<FakePath> paths) noexcept : host_(host), configured_(std::move(paths)) {}

  mh::Status init() noexcept {
    service_.self = this;
    return host_->provide("linkmetric.fake", &service_);
  }

  mh::Status start() noexcept override {
    std::string why;
    if (!resolve(configured_, &why)) return host_->fail(mh::StatusCode::invalid_argument, mh::Str::of(why));
    paths_ = std::move(configured_);
    log();
    return mh::Status::success();
  }
  void stop() noexcept override { paths_.clear(); }

  mh::ReconfigureResult reconfigure(mh::Str config_json, mh::ErrorSink* errors) noexcept override {
    try {
      auto paths = parse_config(config_json, errors);
      if (!paths) return mh::ReconfigureResult::error;
      std::string why;
      if (!resolve(*paths, &why)) {
        errors->error("paths", "interfaces that exist", mh::Str::of(why));
        return mh::ReconfigureResult::error;
      }
      // What is no longer listed is forgotten; the rest is reported (again).
      if (observer_ != nullptr)
        for (const FakePath& old : paths_)
          if (!listed(*paths, old)) observer_->on_link_metric_forget(mh::Str::of(old.link), old.endpoint);
      paths_ = std::move(*paths);
      if (observer_ != nullptr)
        for (const FakePath& p : paths_) observer_->on_link_metric(mh::Str::of(p.link), p.endpoint, p.metric);
      log();
      return mh::ReconfigureResult::applied;
    } catch (const std::exception&) {
      errors->error("", "a config the plugin can hold", "too little memory");
      return mh::ReconfigureResult::error;
    }
  }

  void* query(mh::InterfaceId) noexcept override { return nullptr; }

  // LinkMetricSource
  void set_metric_observer(mh::LinkMetricObserver* observer) noexcept override {
    observer_ = observer;
    if (observer_ != nullptr)
      for (const FakePath& p : paths_) observer_->on_link_metric(mh::Str::of(p.link), p.endpoint, p.metric);
  }

 private:
  // The service "linkmetric.fake": answers kLinkMetricSourceInterface with the plugin.
  struct SourceService final : mh::Service {
    FakeLinkMetric* self = nullptr;
    void* query(mh::InterfaceId id) noexcept override {
      return id == mh::kLinkMetricSourceInterface ? static_cast<mh::LinkMetricSource*>(self) : nullptr;
    }
  };

  // Fills each path's endpoint from its interface's index; false (with why) for a missing one.
  static bool resolve(std::vector<FakePath>& paths, std::string* why) {
    for (FakePath& p : paths) {
      const std::string interface = p.link.substr(kEthPrefix.size());
      const unsigned index = ::if_nametoindex(interface.c_str());
      if (index == 0) {
        *why = "fake_link_metric: no interface " + interface + " for path " + p.link;
        return false;
      }
      p.endpoint = mh::ether::make_endpoint(p.mac, index);
    }
    return true;
  }
  static bool listed(const std::vector<FakePath>& paths, const FakePath& path) {
    for (const FakePath& p : paths)
      if (p.link == path.link && p.mac == path.mac) return true;
    return false;
  }
  void log() noexcept {
    try {
      const std::string line = "fake_link_metric: reporting " + std::to_string(paths_.size()) + " paths";
      host_->log(mh::LogLevel::info, mh::Str::of(line));
    } catch (const std::exception&) {
    }
  }

  mh::Host* host_;
  SourceService service_;
  std::vector<FakePath> configured_;  // from create() until start()
  std::vector<FakePath> paths_;
  mh::LinkMetricObserver* observer_ = nullptr;
};

void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  try {
    (void)parse_config(config_json, errors);
  } catch (const std::exception&) {
    errors->error("", "a config the plugin can hold", "too little memory");
  }
}

mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  struct NullSink final : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override {}
  } ignore;
  try {
    auto paths = parse_config(config_json, &ignore);
    if (!paths) return mh::Status::error(mh::StatusCode::invalid_argument, "fake_link_metric: invalid config");
    auto* plugin = new FakeLinkMetric(host, std::move(*paths));
    if (const mh::Status s = plugin->init(); !s.ok()) {
      delete plugin;
      return s;
    }
    *out = plugin;
    return mh::Status::success();
  } catch (const std::exception&) {
    return mh::Status::error(mh::StatusCode::internal, "fake_link_metric: out of memory");
  }
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<FakeLinkMetric*>(plugin); }

const mh::Str kProvided[] = {"linkmetric.fake"};

const mh::PluginDescriptor kDescriptor = {
    .struct_size = sizeof(mh::PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = "fake_link_metric",
    .version = "0.0.1",
    .description = "Test only: reports configured link metrics for eth paths, standing in for a radio",
    .kind = "test",
    .provided = kProvided,
    .provided_count = 1,
    .required = nullptr,
    .required_count = 0,
    .config_schema = R"({"type":"object","properties":{"paths":{"type":"array"}}})",
    .stability = mh::Stability::experimental,
    .validate = validate,
    .create = create,
    .destroy = destroy,
};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
