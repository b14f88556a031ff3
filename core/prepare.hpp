// Everything a node checks before it starts anything: config, identity, plugins found,
// each enabled plugin's own validation and the start order. Shared by --check-config and
// --config so both report the same problems.
#pragma once

#include "commands.hpp"
#include "config.hpp"
#include "plugin_loader.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mh::core {

struct EnabledPlugin {
  std::string name;
  const PluginDescriptor* descriptor = nullptr;
  std::string config_json;
};

struct PreparedNode {
  HostConfig config;
  std::optional<PrivateKey> private_key;
  std::vector<PluginDir> plugin_dirs;
  std::vector<PluginFile> found;
  std::vector<EnabledPlugin> start_order;
  std::vector<std::string> problems;  // one printable line each; nothing may start unless empty
};

// Plugin directories in search order: command line, config, built-in default.
std::vector<PluginDir> plugin_search_path(const HostConfig* config, const CommandOptions& options);

PreparedNode prepare_node(const std::string& config_path, const CommandOptions& options);

// Collects a plugin's config problems as "plugins.<name>.<path>" errors.
class PluginErrorSink final : public ErrorSink {
 public:
  explicit PluginErrorSink(const std::string& plugin_name) : prefix_("plugins." + plugin_name) {}
  void error(Str path, Str expected, Str found) noexcept override;
  std::vector<ConfigError> take() { return std::move(errors_); }

 private:
  std::string prefix_;
  std::vector<ConfigError> errors_;
};

// Runs a descriptor's validate() and returns one "plugins.<name>.<path>: expected …"
// line per problem.
std::vector<ConfigError> validate_plugin_config(const EnabledPlugin& plugin);

// name, version, kind, abi, description, provides, requires, stability.
nlohmann::json describe_descriptor(const PluginDescriptor& descriptor);

}  // namespace mh::core
