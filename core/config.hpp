// The host's configuration file: JSON with comments, the host's own keys checked here,
// each plugin's section handed on as JSON text for the plugin's own validate().
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mh::core {

// One configuration problem: `path: expected X, got Y`.
struct ConfigError {
  std::string path;  // dotted JSON path, e.g. "plugins.udp.bind[1]"; "" for the document
  std::string expected;
  std::string found;

  std::string line() const;
};

// Collects problems so that one run reports all of them.
class ConfigErrors {
 public:
  void add(std::string path, std::string expected, std::string found);
  bool empty() const { return errors_.empty(); }
  const std::vector<ConfigError>& all() const { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

struct PluginSection {
  std::string name;
  bool enabled = true;
  std::string config_json;  // the plugin's object without "enabled"
};

struct HostConfig {
  bool parsed = false;  // the file was read and is a JSON object (its keys may still be wrong)
  std::optional<std::string> private_key_hex;
  std::optional<std::string> private_key_file;
  std::optional<std::string> public_key;  // when present, checked against the private key
  std::optional<std::string> ipv6;        // likewise
  std::string log_level = "info";
  std::string state_dir = "/var/lib/meshhost";
  std::vector<std::string> plugin_dirs;
  std::string admin_socket = "/run/meshhost/admin.sock";
  std::optional<std::string> prometheus_listen;  // "127.0.0.1:9470"; loopback only
  std::vector<PluginSection> plugins;            // sorted by name
};

// The owner name of the host's own admin methods and metrics; no plugin may take it.
inline constexpr const char* kHostOwner = "host";

inline constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

// A compact, printable rendering of a JSON value for "got ..." in error lines.
std::string describe_json(const nlohmann::json& value);

// Parses and checks the host's keys. Problems go to `errors`; the result holds whatever
// could be read. Never throws on bad input.
HostConfig parse_config(std::string_view text, ConfigErrors& errors);

// Reads `path` and parses it; a file that cannot be read is one error.
HostConfig load_config_file(const std::string& path, ConfigErrors& errors);

// Parses JSON with comments; on failure adds one error naming line and column and
// returns nullopt.
std::optional<nlohmann::json> parse_json_with_comments(std::string_view text, ConfigErrors& errors);

// Splits "host:port" / "[v6]:port"; nullopt if malformed or the port is out of range.
struct HostPort {
  std::string host;
  unsigned port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace mh::core
