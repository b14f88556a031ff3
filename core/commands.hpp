// What each command-line mode does; main.cpp only parses arguments and calls these.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mh::core {

struct CommandOptions {
  std::vector<std::string> plugin_dirs;  // --plugin-dir, searched before the config's and the default
  std::optional<std::string> log_level;  // --log-level, overrides the config
};

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // a plugin or the host failed at run time
inline constexpr int kExitConfig = 2;   // the configuration or the command line is wrong

// Runs a node in the foreground until SIGINT or SIGTERM.
int run_node(const std::string& config_path, const CommandOptions& options);
// Prints every plugin found (and why any cannot load); starts none.
int list_plugins(const std::optional<std::string>& config_path, const CommandOptions& options, bool as_json);
// Validates the host's keys, the identity and every enabled plugin's section.
int check_config(const std::string& config_path, const CommandOptions& options);
// Prints a commented config with a fresh identity for a profile (relay, client, gateway).
int genconf(const std::string& profile);

// Prints a meshhost config made from a cjdroute.conf (same identity, links, peers,
// passwords, ipTunnel); what is not carried over is a warning on stderr, one line each.
int import_cjdroute(const std::string& path);

// Prints a fresh node private key (64 hex characters, address in fc00::/8).
int genkey();

// The built-in plugin directory: <directory of this executable>/../lib/meshhost/plugins.
std::string default_plugin_dir();

}  // namespace mh::core
