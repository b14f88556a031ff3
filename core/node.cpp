// The node's lifecycle. Plugins are created and started in dependency order and stopped
// and destroyed in reverse; a start failure unwinds what already started.
#include "node.hpp"
#include "sdk_strings.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace mh::core {

Node::Node(PreparedNode prepared, std::string config_path, CommandOptions options,
           std::shared_ptr<spdlog::logger> logger)
    : prepared_(std::move(prepared)),
      config_path_(std::move(config_path)),
      options_(std::move(options)),
      logger_(std::move(logger)),
      identity_(*prepared_.private_key),
      admin_(loop_),
      prometheus_(loop_, metrics_) {}

Node::~Node() = default;

const char* Node::state_name(State state) {
  switch (state) {
    case State::created: return "created";
    case State::running: return "running";
    case State::failed: return "failed";
    case State::stopped: return "stopped";
  }
  return "unknown";
}

nlohmann::json Node::status_json() const {
  nlohmann::json plugins = nlohmann::json::array();
  for (const auto& r : running_)
    plugins.push_back({{"name", r.plugin.name},
                       {"version", to_string(r.plugin.descriptor->version)},
                       {"kind", to_string(r.plugin.descriptor->kind)},
                       {"state", state_name(r.state)}});
  auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  return {{"version", MESHHOST_VERSION},
          {"abi", std::to_string(kAbiMajor) + "." + std::to_string(kAbiMinor)},
          {"pid", ::getpid()},
          {"publicKey", format_public_key(identity_.public_key())},
          {"address", format_address(identity_.address())},
          {"uptimeSeconds", uptime},
          {"plugins", plugins}};
}

nlohmann::json Node::plugins_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& file : prepared_.found) {
    nlohmann::json entry = file.usable() ? describe_descriptor(*file.descriptor) : nlohmann::json::object();
    entry["path"] = file.path;
    if (!file.usable()) entry["error"] = file.error;
    std::string state = "not enabled";
    for (const auto& r : running_)
      if (file.usable() && r.plugin.name == file.name()) state = state_name(r.state);
    if (file.usable()) entry["state"] = state;
    out.push_back(std::move(entry));
  }
  return out;
}

void Node::register_host_methods() {
  admin_.add_method("host.status", kHostOwner, [this](const nlohmann::json&) { return status_json(); });
  admin_.add_method("host.plugins", kHostOwner, [this](const nlohmann::json&) { return plugins_json(); });
  admin_.add_method("host.methods", kHostOwner, [this](const nlohmann::json&) { return nlohmann::json(admin_.method_names()); });
  admin_.add_method("host.metrics", kHostOwner, [this](const nlohmann::json&) { return metrics_.to_json(); });
  admin_.add_method("host.reload", kHostOwner, [this](const nlohmann::json&) {
    auto problems = reload();
    if (!problems.empty()) {
      std::string message = "reload refused:";
      for (const auto& line : problems) message += "\n  " + line;
      throw AdminError{kRpcServerError, message};
    }
    return nlohmann::json{{"reloaded", true}};
  });
}

void Node::register_host_metrics() {
  const std::string abi = std::to_string(kAbiMajor) + "." + std::to_string(kAbiMinor);
  metrics_.gauge(kHostOwner, "meshhost_info", "This node: version, plugin ABI and address (always 1)",
                 {{"version", MESHHOST_VERSION}, {"abi", abi}, {"address", format_address(identity_.address())}})
      ->set(1);
  metrics_.gauge(kHostOwner, "meshhost_start_time_seconds", "When this process started, in seconds since the epoch", {})
      ->set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count()));
  plugins_running_ = metrics_.gauge(kHostOwner, "meshhost_plugins_running", "Plugins started and running", {});
}

bool Node::start_plugins() {
  HostServices services{loop_, identity_, admin_, metrics_, services_, logger_};
  for (const auto& plugin : prepared_.start_order) {
    const PluginDescriptor& d = *plugin.descriptor;
    Running r;
    r.plugin = plugin;
    r.context = std::make_unique<PluginContext>(plugin.name, to_strings(d.provided, d.provided_count),
                                                prepared_.config.state_dir + "/" + plugin.name, services);
    r.context->set_log_level(logger_->level());
    try {
      r.context->prepare_state_dir();
    } catch (const std::exception& e) {
      logger_->error("plugin \"{}\": {}", plugin.name, e.what());
      return false;
    }
    Plugin* instance = nullptr;
    Status status = d.create(r.context.get(), Str::of(plugin.config_json), &instance);
    if (!status.ok() || instance == nullptr) {
      logger_->error("plugin \"{}\" could not be created: {}", plugin.name,
                     status.ok() ? std::string("create returned no plugin") : to_string(status.message));
      r.context->withdraw();
      return false;
    }
    r.instance = instance;
    running_.push_back(std::move(r));
  }
  for (auto& r : running_) {
    Status status = r.instance->start();
    if (!status.ok()) {
      r.state = State::failed;
      logger_->error("plugin \"{}\" failed to start: {}", r.plugin.name, to_string(status.message));
      return false;
    }
    r.state = State::running;
    logger_->info("started plugin \"{}\" {}", r.plugin.name, to_string(r.plugin.descriptor->version));
  }
  return true;
}

void Node::stop_plugins() {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    if (it->state == State::running) {
      it->instance->stop();
      it->state = State::stopped;
      logger_->info("stopped plugin \"{}\"", it->plugin.name);
    }
  }
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    it->plugin.descriptor->destroy(it->instance);
    it->instance = nullptr;
    it->context->withdraw();
  }
  running_.clear();
}

std::vector<std::string> Node::reload() {
  logger_->info("reloading {}", config_path_);
  PreparedNode next = prepare_node(config_path_, options_);
  if (!next.problems.empty()) {
    for (const auto& line : next.problems) logger_->error("config: {}", line);
    logger_->error("reload refused: the running configuration stays in force");
    return next.problems;
  }
  const auto level = spdlog::level::from_str(options_.log_level.value_or(next.config.log_level));
  spdlog::set_level(level);
  for (auto& r : running_) r.context->set_log_level(level);

  bool same_set = next.start_order.size() == running_.size();
  for (std::size_t i = 0; same_set && i < running_.size(); ++i)
    same_set = running_[i].plugin.name == next.start_order[i].name;
  if (!same_set) logger_->warn("the set of enabled plugins changed: restart meshhost to apply that");
  if (std::memcmp(next.private_key->bytes, prepared_.private_key->bytes, sizeof next.private_key->bytes) != 0)
    logger_->warn("the identity changed: restart meshhost to apply that");

  std::vector<std::string> problems;
  for (auto& r : running_) {
    if (r.state != State::running) continue;
    for (const auto& candidate : next.start_order) {
      if (candidate.name != r.plugin.name || candidate.config_json == r.plugin.config_json) continue;
      PluginErrorSink sink(r.plugin.name);
      ReconfigureResult result = r.instance->reconfigure(Str::of(candidate.config_json), &sink);
      for (const auto& e : sink.take()) {
        logger_->error("config: {}", e.line());
        problems.push_back(e.line());
      }
      switch (result) {
        case ReconfigureResult::applied:
          r.plugin.config_json = candidate.config_json;
          logger_->info("plugin \"{}\" applied its new config", r.plugin.name);
          break;
        case ReconfigureResult::restart_required:
          logger_->warn("plugin \"{}\": its new config needs a restart to apply", r.plugin.name);
          break;
        case ReconfigureResult::error:
          logger_->error("plugin \"{}\" refused its new config; the old one stays", r.plugin.name);
          problems.push_back("plugin \"" + r.plugin.name + "\" refused its new config");
          break;
      }
    }
  }
  return problems;
}

int Node::run() {
  started_at_ = std::chrono::steady_clock::now();
  logger_->info("meshhost {} starting: {} {}", MESHHOST_VERSION, format_address(identity_.address()),
                format_public_key(identity_.public_key()));
  // Signals first: a SIGTERM during start then stops the node instead of killing it.
  loop_.handle_signals([this](int signo) {
    if (signo == SIGHUP) {
      reload();
    } else {
      logger_->info("received {}, stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
      loop_.stop();
    }
  });
  register_host_methods();
  try {
    admin_.listen(prepared_.config.admin_socket);
    if (prepared_.config.prometheus_listen) {
      prometheus_.listen(*prepared_.config.prometheus_listen);
      logger_->info("metrics on http://{}/metrics", *prepared_.config.prometheus_listen);
    }
  } catch (const std::exception& e) {
    logger_->error("{}", e.what());
    return kExitFailure;
  }
  logger_->info("admin socket {}", prepared_.config.admin_socket);
  for (const auto& file : prepared_.found)
    if (!file.usable()) logger_->warn("{}: {}", file.path, file.error);

  register_host_metrics();
  int exit_code = kExitOk;
  if (start_plugins()) {
    plugins_running_->set(static_cast<double>(running_.size()));
    logger_->info("running with {} plugin(s)", running_.size());
    loop_.run();
  } else {
    exit_code = kExitFailure;
  }
  // From here a second SIGINT/SIGTERM takes its default action: a stop that hangs can
  // still be interrupted.
  loop_.stop_handling_signals();
  loop_.refuse_new_tasks();
  stop_plugins();
  prometheus_.close();
  admin_.close();
  logger_->info("stopped");
  return exit_code;
}

void Node::stop() { loop_.stop(); }

}  // namespace mh::core
