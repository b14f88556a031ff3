// A running node: the host's services, the enabled plugins in dependency order, and
// their lifecycle (create, start, reconfigure on SIGHUP, stop in reverse, destroy).
#pragma once

#include "admin_server.hpp"
#include "event_loop.hpp"
#include "identity.hpp"
#include "metrics_registry.hpp"
#include "plugin_context.hpp"
#include "prepare.hpp"
#include "prometheus_server.hpp"
#include "service_registry.hpp"

#include <spdlog/fwd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mh::core {

class Node {
 public:
  Node(PreparedNode prepared, std::string config_path, CommandOptions options,
       std::shared_ptr<spdlog::logger> logger);
  ~Node();

  // Starts everything, runs until SIGINT/SIGTERM (or stop()), stops everything.
  // Returns the process exit code.
  int run();
  void stop();

 private:
  enum class State { created, running, failed, stopped };
  struct Running {
    EnabledPlugin plugin;
    std::unique_ptr<PluginContext> context;
    Plugin* instance = nullptr;
    State state = State::created;
  };

  bool start_plugins();
  void stop_plugins();
  // Re-reads the config and reconfigures plugins; returns the problems (empty: applied).
  std::vector<std::string> reload();
  void register_host_methods();
  void register_host_metrics();
  nlohmann::json status_json() const;
  nlohmann::json plugins_json() const;
  static const char* state_name(State state);

  PreparedNode prepared_;
  std::string config_path_;
  CommandOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  EventLoop loop_;
  Identity identity_;
  MetricsRegistry metrics_;
  ServiceRegistry services_;
  AdminServer admin_;
  PrometheusServer prometheus_;
  std::vector<Running> running_;
  std::chrono::steady_clock::time_point started_at_;
  Gauge* plugins_running_ = nullptr;
};

}  // namespace mh::core
