// A Host for plugin unit tests: a FakeLoop, a freshly generated node identity with real
// X25519, captured logs, an admin table a test calls directly, readable metrics, a
// service map and a throw-away state directory. Test code only; header-only.
#pragma once

#include <meshhost/host.hpp>
#include <meshhost/keys.hpp>
#include <meshhost/testing/fake_loop.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace mh::testing {

class FakeHost final : public Host {
 public:
  struct LogEntry {
    LogLevel level;
    std::string message;
  };
  // Label name → value, as a test writes them: {{"link", "udp"}}.
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // A host for plugin `plugin_name` with its own FakeLoop, or with `shared_loop` (which
  // must outlive this host) when several fakes must share virtual time. Generates a
  // node key and creates a private state directory under the system temp directory;
  // throws std::system_error if that cannot be created.
  explicit FakeHost(std::string plugin_name = "test", FakeLoop* shared_loop = nullptr)
      : plugin_name_(std::move(plugin_name)),
        own_loop_(shared_loop == nullptr ? std::make_unique<FakeLoop>() : nullptr),
        loop_(shared_loop == nullptr ? own_loop_.get() : shared_loop),
        identity_(generate_node_key()),
        state_dir_(make_temp_dir()) {}

  // Removes the state directory and everything in it.
  ~FakeHost() {
    std::error_code ignored;
    std::filesystem::remove_all(state_dir_, ignored);
  }

  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // ---- mh::Host ----

  Str plugin_name() const noexcept override { return Str::of(plugin_name_); }

  void log(LogLevel level, Str message) noexcept override { logs_.push_back({level, to_string(message)}); }

  Loop* loop() noexcept override { return loop_; }

  // Keeps the message in failures() (a deque: earlier messages never move) and returns a
  // Status pointing at it.
  Status fail(StatusCode code, Str message) noexcept override {
    failures_.push_back(to_string(message));
    return Status::error(code, Str::of(failures_.back()));
  }

  PublicKey public_key() const noexcept override { return identity_.pub; }
  Address address() const noexcept override { return identity_.addr; }

  Status dh(const PublicKey& remote, SharedSecret* out) noexcept override {
    if (out == nullptr) return Status::error(StatusCode::invalid_argument, "dh: null output");
    if (!compute_shared_secret(identity_.priv, remote, out)) {
      return Status::error(StatusCode::invalid_argument, "dh: low-order public key");
    }
    return Status::success();
  }

  Str state_dir() const noexcept override { return Str::of(state_dir_string_); }

  // As the real host: the name must start with "<plugin name>.", duplicates are refused.
  Status register_admin_method(Str name, AdminHandler* handler) noexcept override {
    const std::string key = to_string(name);
    const std::string prefix = plugin_name_ + ".";
    if (handler == nullptr || key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) {
      return Status::error(StatusCode::invalid_argument, "admin method name must start with the plugin name and a dot");
    }
    if (!admin_methods_.emplace(key, handler).second) {
      return Status::error(StatusCode::already_exists, "admin method already registered");
    }
    return Status::success();
  }

  Counter* counter(Str name, Str /*help*/, const Label* labels, std::size_t label_count) noexcept override {
    if (!valid_metric_name(name)) return nullptr;
    auto& slot = counters_[metric_key(to_string(name), to_labels(labels, label_count))];
    if (!slot) slot = std::make_unique<FakeCounter>();
    return slot.get();
  }

  Gauge* gauge(Str name, Str /*help*/, const Label* labels, std::size_t label_count) noexcept override {
    if (!valid_metric_name(name)) return nullptr;
    auto& slot = gauges_[metric_key(to_string(name), to_labels(labels, label_count))];
    if (!slot) slot = std::make_unique<FakeGauge>();
    return slot.get();
  }

  // Fails with already_exists when the name is taken (by this plugin or add_service()).
  Status provide(Str name, Service* service) noexcept override {
    if (service == nullptr) return Status::error(StatusCode::invalid_argument, "provide: null service");
    if (!services_.emplace(to_string(name), service).second) {
      return Status::error(StatusCode::already_exists, "service name already provided");
    }
    return Status::success();
  }

  Service* lookup(Str name) noexcept override {
    const auto it = services_.find(to_string(name));
    return it == services_.end() ? nullptr : it->second;
  }

  // Matches in name order.
  std::size_t lookup_prefix(Str prefix, Service** out, Str* names, std::size_t capacity) noexcept override {
    const std::string p = to_string(prefix);
    std::size_t found = 0;
    for (auto it = services_.lower_bound(p); it != services_.end() && it->first.compare(0, p.size(), p) == 0; ++it) {
      if (found < capacity) {
        if (out != nullptr) out[found] = it->second;
        if (names != nullptr) names[found] = Str::of(it->first);
      }
      ++found;
    }
    return found;
  }

  // ---- test controls ----

  FakeLoop& fake_loop() noexcept { return *loop_; }
  // The node identity, private key included, so a test can act as this node's peer.
  const KeyPair& identity() const noexcept { return identity_; }
  // Replaces the identity with the one `priv` determines (e.g. a fixed test key).
  void set_identity(const PrivateKey& priv) { identity_ = key_pair_of(priv); }

  const std::vector<LogEntry>& logs() const noexcept { return logs_; }
  // Whether any log line at `level` or above contains `needle`.
  bool logged(std::string_view needle, LogLevel level = LogLevel::trace) const {
    return std::any_of(logs_.begin(), logs_.end(), [&](const LogEntry& e) {
      return e.level >= level && e.message.find(needle) != std::string::npos;
    });
  }
  void clear_logs() { logs_.clear(); }

  const std::deque<std::string>& failures() const noexcept { return failures_; }

  // Calls admin method `name` as the admin socket would: `params_json` is the request's
  // params ("null" when absent). Returns the handler's status and the JSON it appended;
  // not_found for an unknown method.
  std::pair<Status, std::string> call_admin(std::string_view name, std::string_view params_json = "null") {
    const auto it = admin_methods_.find(std::string(name));
    if (it == admin_methods_.end()) {
      return {Status::error(StatusCode::not_found, "no such admin method"), std::string()};
    }
    StringCollector result;
    const Status status = it->second->call(Str(params_json.data(), params_json.size()), &result);
    return {status, std::move(result.text)};
  }
  bool has_admin_method(std::string_view name) const { return admin_methods_.count(std::string(name)) != 0; }

  // A metric's value by name and labels (in any order); nullopt if never registered.
  std::optional<std::uint64_t> counter_value(const std::string& name, const Labels& labels = {}) const {
    const auto it = counters_.find(metric_key(name, labels));
    if (it == counters_.end()) return std::nullopt;
    return it->second->value;
  }
  std::optional<double> gauge_value(const std::string& name, const Labels& labels = {}) const {
    const auto it = gauges_.find(metric_key(name, labels));
    if (it == gauges_.end()) return std::nullopt;
    return it->second->value;
  }

  // Offers `service` as another plugin would, for the plugin under test to look up.
  // Replaces an earlier service of the same name.
  void add_service(std::string name, Service* service) { services_[std::move(name)] = service; }
  // A service provide()d or add_service()d under exactly `name`.
  Service* service(std::string_view name) const {
    const auto it = services_.find(std::string(name));
    return it == services_.end() ? nullptr : it->second;
  }

  const std::filesystem::path& state_path() const noexcept { return state_dir_; }

 private:
  struct FakeCounter final : Counter {
    void add(std::uint64_t delta) noexcept override { value += delta; }
    std::uint64_t value = 0;
  };
  struct FakeGauge final : Gauge {
    void set(double v) noexcept override { value = v; }
    double value = 0;
  };
  struct StringCollector final : StringSink {
    void append(Str piece) noexcept override { text.append(piece.data, piece.size); }
    std::string text;
  };

  static std::string to_string(Str s) { return s.data == nullptr ? std::string() : std::string(s.data, s.size); }

  static Labels to_labels(const Label* labels, std::size_t count) {
    Labels out;
    for (std::size_t i = 0; i < count; ++i) out.emplace_back(to_string(labels[i].name), to_string(labels[i].value));
    return out;
  }

  // Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*
  static bool valid_metric_name(Str name) noexcept {
    if (name.data == nullptr || name.size == 0) return false;
    for (std::size_t i = 0; i < name.size; ++i) {
      const char c = name.data[i];
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
      const bool digit = c >= '0' && c <= '9';
      if (!letter && !(digit && i > 0)) return false;
    }
    return true;
  }

  // name{a="1",b="2"} with labels sorted, so their order does not matter.
  static std::string metric_key(const std::string& name, Labels labels) {
    std::sort(labels.begin(), labels.end());
    std::string key = name + "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) key += ",";
      key += labels[i].first + "=\"" + labels[i].second + "\"";
    }
    return key + "}";
  }

  static std::filesystem::path make_temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "meshhost-fakehost-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "FakeHost: mkdtemp");
    }
    return pattern;
  }

  std::string plugin_name_;
  std::unique_ptr<FakeLoop> own_loop_;
  FakeLoop* loop_;
  KeyPair identity_;
  std::filesystem::path state_dir_;
  std::string state_dir_string_ = state_dir_.string();
  std::vector<LogEntry> logs_;
  std::deque<std::string> failures_;
  std::map<std::string, AdminHandler*> admin_methods_;
  std::map<std::string, std::unique_ptr<FakeCounter>> counters_;
  std::map<std::string, std::unique_ptr<FakeGauge>> gauges_;
  std::map<std::string, Service*> services_;
};

}  // namespace mh::testing
