// Reading the host's configuration: JSON with comments, every problem reported with its
// JSON path, what was expected and what was found.
#include "config.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace mh::core {

using nlohmann::json;

std::string ConfigError::line() const {
  std::string out = path.empty() ? std::string("(top level)") : path;
  out += ": expected ";
  out += expected;
  out += ", got ";
  out += found;
  return out;
}

void ConfigErrors::add(std::string path, std::string expected, std::string found) {
  errors_.push_back({std::move(path), std::move(expected), std::move(found)});
}

std::string describe_json(const json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_null()) return "null";
  std::string text = value.dump();
  constexpr std::size_t kMaxShown = 60;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

namespace {

std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte_offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < text.size() && i + 1 < byte_offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

std::string join_path(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

// Reads an optional string member; reports a wrong type.
std::optional<std::string> optional_string(const json& object, const char* key, const std::string& path,
                                           ConfigErrors& errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_string()) {
    errors.add(join_path(path, key), "a string", describe_json(*it));
    return std::nullopt;
  }
  return it->get<std::string>();
}

bool is_plugin_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty()) return std::nullopt;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  out.port = port;
  return out;
}

std::optional<json> parse_json_with_comments(std::string_view text, ConfigErrors& errors) {
  try {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    auto [line, column] = line_and_column(text, e.byte);
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at line …: "
    if (auto colon = what.find(": ", what.find("parse error")); colon != std::string::npos) what = what.substr(colon + 2);
    errors.add("", "valid JSON (comments allowed)",
               "a syntax error at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + what);
    return std::nullopt;
  }
}

HostConfig parse_config(std::string_view text, ConfigErrors& errors) {
  HostConfig config;
  auto document = parse_json_with_comments(text, errors);
  if (!document) return config;
  if (!document->is_object()) {
    errors.add("", "an object", describe_json(*document));
    return config;
  }
  const json& root = *document;
  config.parsed = true;

  static const std::set<std::string> kKnownKeys = {"privateKey", "privateKeyFile", "publicKey", "ipv6",
                                                   "logLevel",   "stateDir",       "pluginDirs", "admin",
                                                   "metrics",    "plugins"};
  for (const auto& [key, value] : root.items()) {
    if (!kKnownKeys.count(key)) {
      errors.add(key, "one of the known keys (privateKey, privateKeyFile, publicKey, ipv6, logLevel, stateDir, "
                      "pluginDirs, admin, metrics, plugins)",
                 "an unknown key");
    }
  }

  config.private_key_hex = optional_string(root, "privateKey", "", errors);
  config.private_key_file = optional_string(root, "privateKeyFile", "", errors);
  if (config.private_key_hex && config.private_key_file) {
    errors.add("privateKeyFile", "either privateKey or privateKeyFile, not both", "both");
  } else if (!config.private_key_hex && !config.private_key_file && !root.contains("privateKey") &&
             !root.contains("privateKeyFile")) {
    errors.add("privateKey", "the node's private key (64 hex characters) or a privateKeyFile", "neither");
  }
  config.public_key = optional_string(root, "publicKey", "", errors);
  config.ipv6 = optional_string(root, "ipv6", "", errors);

  if (auto level = optional_string(root, "logLevel", "", errors)) {
    if (std::find(std::begin(kLogLevels), std::end(kLogLevels), *level) == std::end(kLogLevels))
      errors.add("logLevel", "one of trace, debug, info, warn, error", describe_json(*level));
    else
      config.log_level = *level;
  }
  if (auto dir = optional_string(root, "stateDir", "", errors)) {
    if (dir->empty() || dir->front() != '/')
      errors.add("stateDir", "an absolute path", describe_json(*dir));
    else
      config.state_dir = *dir;
  }
  if (auto it = root.find("pluginDirs"); it != root.end()) {
    if (!it->is_array()) {
      errors.add("pluginDirs", "an array of directory paths", describe_json(*it));
    } else {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& dir = (*it)[i];
        if (!dir.is_string() || dir.get<std::string>().empty())
          errors.add("pluginDirs[" + std::to_string(i) + "]", "a directory path", describe_json(dir));
        else
          config.plugin_dirs.push_back(dir.get<std::string>());
      }
    }
  }
  if (auto it = root.find("admin"); it != root.end()) {
    if (!it->is_object()) {
      errors.add("admin", "an object", describe_json(*it));
    } else {
      for (const auto& [key, value] : it->items())
        if (key != "socket") errors.add("admin." + key, "socket", "an unknown key");
      if (auto socket = optional_string(*it, "socket", "admin", errors)) {
        if (socket->empty() || socket->front() != '/')
          errors.add("admin.socket", "an absolute path", describe_json(*socket));
        else
          config.admin_socket = *socket;
      }
    }
  }
  if (auto it = root.find("metrics"); it != root.end()) {
    if (!it->is_object()) {
      errors.add("metrics", "an object", describe_json(*it));
    } else {
      for (const auto& [key, value] : it->items())
        if (key != "prometheus") errors.add("metrics." + key, "prometheus", "an unknown key");
      if (auto listen = optional_string(*it, "prometheus", "metrics", errors)) {
        auto host_port = parse_host_port(*listen);
        if (!host_port || !is_loopback_host(host_port->host))
          errors.add("metrics.prometheus", "a loopback \"host:port\" such as \"127.0.0.1:9470\"",
                     describe_json(*listen));
        else
          config.prometheus_listen = *listen;
      }
    }
  }
  if (auto it = root.find("plugins"); it != root.end()) {
    if (!it->is_object()) {
      errors.add("plugins", "an object mapping plugin names to their config", describe_json(*it));
    } else {
      for (const auto& [name, value] : it->items()) {
        const std::string path = "plugins." + name;
        if (!is_plugin_name(name)) {
          errors.add(path, "a plugin name of lowercase letters, digits, '_' and '-'", describe_json(name));
          continue;
        }
        if (name == kHostOwner) {
          errors.add(path, "a plugin name", "\"host\", which is the host's own");
          continue;
        }
        if (!value.is_object()) {
          errors.add(path, "an object (the plugin's config; {} for defaults)", describe_json(value));
          continue;
        }
        PluginSection section;
        section.name = name;
        json plugin_config = value;
        if (auto enabled = plugin_config.find("enabled"); enabled != plugin_config.end()) {
          if (!enabled->is_boolean())
            errors.add(path + ".enabled", "true or false", describe_json(*enabled));
          else
            section.enabled = enabled->get<bool>();
          plugin_config.erase("enabled");
        }
        section.config_json = plugin_config.dump();
        config.plugins.push_back(std::move(section));
      }
    }
  }
  return config;
}

HostConfig load_config_file(const std::string& path, ConfigErrors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.add("", "a readable config file", "\"" + path + "\", which cannot be opened");
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), errors);
}

}  // namespace mh::core
