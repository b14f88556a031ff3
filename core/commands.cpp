// The command-line modes: run a node, list plugins, check a config, write a config.
#include "commands.hpp"

#include "node.hpp"
#include "prepare.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <climits>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>

namespace mh::core {

namespace {

std::string join(const nlohmann::json& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item.get<std::string>();
  return out.empty() ? "-" : out;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
  auto logger = spdlog::get("meshhost");
  if (!logger) logger = spdlog::stderr_color_mt("meshhost");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  return logger;
}

}  // namespace

std::string default_plugin_dir() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return MESHHOST_INSTALL_PLUGIN_DIR;
  std::filesystem::path exe(std::string(buffer, static_cast<std::size_t>(n)));
  return (exe.parent_path().parent_path() / MESHHOST_PLUGIN_SUBDIR).lexically_normal().string();
}

int list_plugins(const std::optional<std::string>& config_path, const CommandOptions& options, bool as_json) {
  std::optional<HostConfig> config;
  if (config_path) {
    ConfigErrors errors;
    config = load_config_file(*config_path, errors);
    for (const auto& e : errors.all()) std::cerr << "config: " << e.line() << "\n";
    if (!errors.empty()) return kExitConfig;
  }
  auto dirs = plugin_search_path(config ? &*config : nullptr, options);
  auto found = scan_plugin_dirs(dirs);
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& file : found) {
      nlohmann::json entry = file.usable() ? describe_descriptor(*file.descriptor) : nlohmann::json::object();
      entry["path"] = file.path;
      if (!file.usable()) entry["error"] = file.error;
      out.push_back(entry);
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "Plugin directories:";
  for (const auto& dir : dirs) std::cout << " " << dir.path << (dir.must_exist ? "" : " (built-in)");
  std::cout << "\n";
  if (found.empty()) std::cout << "No plugins found.\n";
  for (const auto& file : found) {
    if (!file.usable()) {
      std::cout << "\n" << file.path << "\n  cannot load: " << file.error << "\n";
      continue;
    }
    auto d = describe_descriptor(*file.descriptor);
    std::cout << "\n" << d["name"].get<std::string>() << " " << d["version"].get<std::string>() << "  ("
              << d["kind"].get<std::string>() << ", ABI " << d["abi"].get<std::string>()
              << (d["stability"] == "experimental" ? ", experimental" : "") << ")\n"
              << "  " << d["description"].get<std::string>() << "\n"
              << "  provides: " << join(d["provides"]) << "\n"
              << "  requires: " << join(d["requires"]) << "\n"
              << "  file:     " << file.path << "\n";
  }
  return kExitOk;
}

int check_config(const std::string& config_path, const CommandOptions& options) {
  PreparedNode prepared = prepare_node(config_path, options);
  for (const auto& line : prepared.problems) std::cerr << "config: " << line << "\n";
  if (!prepared.problems.empty()) return kExitConfig;
  std::cout << config_path << ": OK (" << prepared.start_order.size() << " plugin(s)";
  if (!prepared.start_order.empty()) {
    std::cout << ", start order:";
    for (const auto& plugin : prepared.start_order) std::cout << " " << plugin.name;
  }
  std::cout << ")\n";
  return kExitOk;
}

int run_node(const std::string& config_path, const CommandOptions& options) {
  PreparedNode prepared = prepare_node(config_path, options);
  for (const auto& line : prepared.problems) std::cerr << "config: " << line << "\n";
  if (!prepared.problems.empty()) return kExitConfig;
  auto logger = make_logger(options.log_level.value_or(prepared.config.log_level));
  try {
    Node node(std::move(prepared), config_path, options, logger);
    return node.run();
  } catch (const std::exception& e) {
    logger->critical("{}", e.what());
    return kExitFailure;
  }
}

int genconf(const std::string& profile) {
  struct Profile {
    const char* summary;
    const char* plugins;  // commented entries for the plugins this profile uses
  };
  static const std::map<std::string, Profile> kProfiles = {
      {"relay",
       {"a relay: link drivers, switch and router forward traffic for the mesh",
        "    // \"udp\": { \"bind\": [\"0.0.0.0:11234\", \"[::]:11234\"] },\n"
        "    // \"eth\": { \"interfaces\": [\"eth0\"] },\n"
        "    // \"switch\": {},\n"
        "    // \"router\": {},\n"
        "    // \"session\": {}\n"}},
      {"client",
       {"a client: a relay that also reaches the Internet through the gateways it names",
        "    // \"udp\": { \"bind\": [\"0.0.0.0:11234\"], \"connectTo\": {} },\n"
        "    // \"switch\": {},\n"
        "    // \"router\": {},\n"
        "    // \"session\": {},\n"
        "    // \"tun\": { \"name\": \"mesh0\" },\n"
        "    // \"iptunnel\": { \"outgoingConnections\": [\"<gateway public key>.k\"] }\n"}},
      {"gateway",
       {"a gateway: a relay that carries its pinned clients' traffic to the Internet and bills it",
        "    // \"udp\": { \"bind\": [\"0.0.0.0:11234\", \"[::]:11234\"] },\n"
        "    // \"switch\": {},\n"
        "    // \"router\": {},\n"
        "    // \"session\": {},\n"
        "    // \"tun\": { \"name\": \"mesh0\" },\n"
        "    // \"iptunnel\": { \"allowedConnections\": [], \"nat\": { \"uplink\": \"eth0\" } },\n"
        "    // \"billing\": {}\n"}},
  };
  auto it = kProfiles.find(profile);
  if (it == kProfiles.end()) {
    std::cerr << "meshhost: --profile: expected relay, client or gateway, got \"" << profile << "\"\n";
    return kExitConfig;
  }
  KeyPair key = generate_node_key();
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::cout << "// meshhost configuration: " << it->second.summary << ".\n"
            << "// Written by `meshhost --genconf --profile " << profile << "` on " << date << ".\n"
            << "// JSON with comments. Check it with `meshhost --check-config FILE`.\n"
            << "{\n"
            << "  // The node's identity. Whoever has this key is this node: keep the file mode 0600.\n"
            << "  // Instead of privateKey, \"privateKeyFile\" may name a file (mode 0600) holding it.\n"
            << "  \"privateKey\": \"" << to_hex(ByteSpan{key.priv.bytes, sizeof key.priv.bytes}) << "\",\n"
            << "  // Derived from the private key; checked at start.\n"
            << "  \"publicKey\": \"" << format_public_key(key.pub) << "\",\n"
            << "  \"ipv6\": \"" << format_address(key.addr) << "\",\n"
            << "\n"
            << "  // trace, debug, info, warn or error (--log-level overrides it).\n"
            << "  \"logLevel\": \"info\",\n"
            << "  // Where plugins keep durable state (leases, the billing ledger), one directory each.\n"
            << "  \"stateDir\": \"/var/lib/meshhost\",\n"
            << "  // Directories searched for plugins before the built-in one.\n"
            << "  \"pluginDirs\": [],\n"
            << "  // JSON-RPC 2.0 over this Unix socket (mode 0600); `meshctl` talks to it.\n"
            << "  \"admin\": { \"socket\": \"/run/meshhost/admin.sock\" },\n"
            << "  // Prometheus text on a loopback address, when set:\n"
            << "  // \"metrics\": { \"prometheus\": \"127.0.0.1:9470\" },\n"
            << "\n"
            << "  // The plugins this node runs, each with its own config object;\n"
            << "  // \"enabled\": false turns one off. `meshhost --plugins` lists what is installed.\n"
            << "  // The plugins this profile uses, to enable as they are installed:\n"
            << "  \"plugins\": {\n"
            << it->second.plugins << "  }\n"
            << "}\n";
  return kExitOk;
}

}  // namespace mh::core
