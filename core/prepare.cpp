// The checks shared by --check-config and --config.
#include "prepare.hpp"
#include "sdk_strings.hpp"

#include "dependency_graph.hpp"
#include "identity.hpp"

#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <map>

namespace mh::core {

namespace {

nlohmann::json str_array(const Str* items, std::size_t count) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; items && i < count; ++i) out.push_back(to_string(items[i]));
  return out;
}

PluginNode node_of(const PluginDescriptor& d) {
  return {to_string(d.name), to_strings(d.provided, d.provided_count), to_strings(d.required, d.required_count)};
}


}  // namespace

nlohmann::json describe_descriptor(const PluginDescriptor& d) {
  return {{"name", to_string(d.name)},
          {"version", to_string(d.version)},
          {"kind", to_string(d.kind)},
          {"abi", std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor)},
          {"description", to_string(d.description)},
          {"provides", str_array(d.provided, d.provided_count)},
          {"requires", str_array(d.required, d.required_count)},
          {"stability", d.stability == Stability::stable ? "stable" : "experimental"}};
}

std::vector<PluginDir> plugin_search_path(const HostConfig* config, const CommandOptions& options) {
  std::vector<PluginDir> dirs;
  for (const auto& dir : options.plugin_dirs) dirs.push_back({dir, true});
  if (config)
    for (const auto& dir : config->plugin_dirs) dirs.push_back({dir, true});
  dirs.push_back({default_plugin_dir(), false});
  return dirs;
}

void PluginErrorSink::error(Str path, Str expected, Str found) noexcept {
  try {
    std::string p = to_string(path);
    std::string full = p.empty() ? prefix_ : (p.front() == '[' ? prefix_ + p : prefix_ + "." + p);
    errors_.push_back({full, to_string(expected), to_string(found)});
  } catch (...) {
  }
}

std::vector<ConfigError> validate_plugin_config(const EnabledPlugin& plugin) {
  PluginErrorSink sink(plugin.name);
  plugin.descriptor->validate(Str::of(plugin.config_json), &sink);
  return sink.take();
}

PreparedNode prepare_node(const std::string& config_path, const CommandOptions& options) {
  PreparedNode prepared;
  ConfigErrors errors;
  prepared.config = load_config_file(config_path, errors);
  if (!prepared.config.parsed) {
    for (const auto& e : errors.all()) prepared.problems.push_back(e.line());
    return prepared;  // without a readable document nothing further is meaningful
  }
  prepared.private_key = load_private_key(prepared.config, errors);
  if (prepared.config.private_key_hex) {  // the key lives on only as PrivateKey, which wipes itself
    sodium_memzero(prepared.config.private_key_hex->data(), prepared.config.private_key_hex->size());
  }

  prepared.plugin_dirs = plugin_search_path(&prepared.config, options);
  prepared.found = scan_plugin_dirs(prepared.plugin_dirs);
  std::map<std::string, const PluginFile*> by_name;
  for (const auto& file : prepared.found)
    if (file.usable()) by_name.emplace(file.name(), &file);

  std::vector<EnabledPlugin> enabled;
  for (const auto& section : prepared.config.plugins) {
    if (!section.enabled) continue;
    auto it = by_name.find(section.name);
    if (it == by_name.end()) {
      std::string why = "no plugin named \"" + section.name + "\" in the plugin directories";
      for (const auto& file : prepared.found) {
        auto slash = file.path.rfind('/');
        std::string base = file.path.substr(slash + 1);
        if (!file.usable() && base == section.name + ".so") why = file.path + ": " + file.error;
      }
      errors.add("plugins." + section.name, "a loadable plugin", why);
      continue;
    }
    enabled.push_back({section.name, it->second->descriptor, section.config_json});
  }
  for (const auto& plugin : enabled)
    for (auto& e : validate_plugin_config(plugin)) errors.add(e.path, e.expected, e.found);

  std::vector<PluginNode> enabled_nodes, available_nodes;
  for (const auto& plugin : enabled) enabled_nodes.push_back(node_of(*plugin.descriptor));
  for (const auto& [name, file] : by_name) available_nodes.push_back(node_of(*file->descriptor));
  StartPlan plan = plan_start_order(enabled_nodes, available_nodes);

  for (const auto& e : errors.all()) prepared.problems.push_back(e.line());
  for (const auto& line : plan.errors) prepared.problems.push_back("plugins: " + line);
  if (prepared.problems.empty()) {
    for (const auto& name : plan.order)
      for (const auto& plugin : enabled)
        if (plugin.name == name) prepared.start_order.push_back(plugin);
  }
  return prepared;
}

}  // namespace mh::core
