// The Host object each plugin is given: the host's services seen through one plugin's
// name (its logger, its admin namespace, its state directory).
#pragma once

#include "admin_server.hpp"
#include "event_loop.hpp"
#include "identity.hpp"
#include "metrics_registry.hpp"
#include "service_registry.hpp"

#include <meshhost/host.hpp>

#include <spdlog/common.h>
#include <spdlog/fwd.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace mh::core {

struct HostServices {
  EventLoop& loop;
  const Identity& identity;
  AdminServer& admin;
  MetricsRegistry& metrics;
  ServiceRegistry& services;
  std::shared_ptr<spdlog::logger> logger;  // the host's; plugins get clones named after them
};

class PluginContext final : public Host {
 public:
  // `provided` are the service names the descriptor declares; provide() accepts those
  // (and, for link drivers declaring "link.<x>", names under "link.").
  PluginContext(std::string name, std::vector<std::string> provided, std::string state_dir, HostServices services);
  ~PluginContext();

  // Creates the state directory (mode 0700). Throws std::runtime_error with a reason.
  void prepare_state_dir();
  // Drops this plugin's admin methods, metrics and services (after destroy).
  void withdraw();
  // The plugin's logger follows the host's level (set at start and on SIGHUP).
  void set_log_level(spdlog::level::level_enum level);

  Str plugin_name() const noexcept override;
  void log(LogLevel level, Str message) noexcept override;
  Loop* loop() noexcept override;
  Status fail(StatusCode code, Str message) noexcept override;
  PublicKey public_key() const noexcept override;
  Address address() const noexcept override;
  Status dh(const PublicKey& remote, SharedSecret* out) noexcept override;
  Str state_dir() const noexcept override;
  Status register_admin_method(Str name, AdminHandler* handler) noexcept override;
  Counter* counter(Str name, Str help, const Label* labels, std::size_t label_count) noexcept override;
  Gauge* gauge(Str name, Str help, const Label* labels, std::size_t label_count) noexcept override;
  Status provide(Str name, Service* service) noexcept override;
  Service* lookup(Str name) noexcept override;
  std::size_t lookup_prefix(Str prefix, Service** out, Str* names, std::size_t capacity) noexcept override;

 private:
  // Keeps a copy of `text` alive for the Str handed back, until the next turn of the loop.
  Str keep(std::string text) noexcept;

  std::string name_;
  std::vector<std::string> provided_;
  std::string state_dir_;
  HostServices services_;
  std::shared_ptr<spdlog::logger> logger_;
  struct KeptStrings {
    std::deque<std::string> strings;  // messages returned as Str
    bool clear_posted = false;
  };
  std::shared_ptr<KeptStrings> kept_;
};

}  // namespace mh::core
