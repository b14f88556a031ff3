// The command-line modes: run a node, list plugins, check a config, write a config.
#include "commands.hpp"

#include "import_cjdns.hpp"
#include "node.hpp"
#include "prepare.hpp"
#include "profiles.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>

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
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
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
  struct stat st {};
  if (prepared.config.private_key_hex && ::stat(config_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    logger->warn("{} holds the node's privateKey and is readable by other users: chmod 0600 it", config_path);
  try {
    Node node(std::move(prepared), config_path, options, logger);
    return node.run();
  } catch (const std::exception& e) {
    logger->critical("{}", e.what());
    return kExitFailure;
  }
}

int import_cjdroute(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::cerr << "import: " << path << ": expected a readable cjdroute.conf, got " << std::strerror(errno) << "\n";
    return kExitConfig;
  }
  std::stringstream text;
  text << file.rdbuf();
  ConfigErrors errors;
  auto imported = mh::core::import_cjdroute(text.str(), path, errors);
  for (const auto& e : errors.all()) std::cerr << "import: " << e.line() << "\n";
  if (!imported) return kExitConfig;
  for (const auto& warning : imported->warnings) std::cerr << "import: warning: " << warning << "\n";
  std::cout << imported->text;
  if (imported->text.empty() || imported->text.back() != '\n') std::cout << '\n';
  return kExitOk;
}

int genkey() {
  KeyPair key = generate_node_key();
  std::cout << format_private_key_hex(key.priv) << "\n";
  return kExitOk;
}

int genconf(const std::string& profile_name) {
  const Profile* profile = nullptr;
  std::string names;
  for (const auto& p : profiles()) {
    if (p.name == profile_name) profile = &p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  if (profile == nullptr) {
    std::cerr << "meshhost: --profile: expected one of " << names << ", got \"" << profile_name << "\"\n";
    return kExitConfig;
  }
  // The profile names a privateKeyFile; a generated config carries its identity inline.
  const std::string key_file_line = "  \"privateKeyFile\": \"/etc/meshhost/node.key\",\n";
  std::string text(profile->text);
  auto at = text.find(key_file_line);
  if (at == std::string::npos) {
    std::cerr << "meshhost: the built-in " << profile_name << " profile has no privateKeyFile line to replace\n";
    return kExitFailure;
  }
  KeyPair key = generate_node_key();
  text.replace(at, key_file_line.size(),
               "  \"privateKey\": \"" + format_private_key_hex(key.priv) + "\",\n" +
                   "  // Derived from the private key; checked at start.\n" +
                   "  \"publicKey\": \"" + format_public_key(key.pub) + "\",\n" +
                   "  \"ipv6\": \"" + format_address(key.addr) + "\",\n");
  std::cout << text;
  return kExitOk;
}

}  // namespace mh::core
