// The host config: every problem is reported with its path, what was expected and what
// was found; valid configs read back what they say.
#include "config.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using mh::core::ConfigErrors;
using mh::core::parse_config;

namespace {

constexpr const char* kKey = "\"privateKey\": \"874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4\"";

bool has_line(const ConfigErrors& errors, const std::string& line) {
  return std::any_of(errors.all().begin(), errors.all().end(), [&](const auto& e) { return e.line() == line; });
}

std::string dump(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors.all()) out += e.line() + "\n";
  return out;
}

}  // namespace

TEST_CASE("a minimal config with comments is accepted with defaults") {
  ConfigErrors errors;
  auto config = parse_config(std::string("// a comment\n{\n  /* block */ ") + kKey + "\n}\n", errors);
  CHECK_MESSAGE(errors.empty(), dump(errors));
  CHECK(config.private_key_hex.has_value());
  CHECK(config.state_dir == "/var/lib/meshhost");
  CHECK(config.admin_socket == "/run/meshhost/admin.sock");
  CHECK(config.log_level == "info");
  CHECK(config.plugins.empty());
}

TEST_CASE("plugin sections keep their config and drop enabled") {
  ConfigErrors errors;
  auto config = parse_config(std::string("{") + kKey +
                                 R"(, "plugins": {"hello": {"greeting": "hi"}, "off": {"enabled": false}}})",
                             errors);
  REQUIRE_MESSAGE(errors.empty(), dump(errors));
  REQUIRE(config.plugins.size() == 2);
  CHECK(config.plugins[0].name == "hello");
  CHECK(config.plugins[0].enabled);
  CHECK(config.plugins[0].config_json == R"({"greeting":"hi"})");
  CHECK(config.plugins[1].name == "off");
  CHECK_FALSE(config.plugins[1].enabled);
  CHECK(config.plugins[1].config_json == "{}");
}

TEST_CASE("each problem names its path, what was expected and what was found") {
  ConfigErrors errors;
  parse_config(std::string("{") + kKey + R"(,
    "logLevel": "loud",
    "stateDir": "relative/dir",
    "pluginDirs": ["/ok", 3],
    "admin": {"socket": "admin.sock", "mode": 1},
    "metrics": {"prometheus": "0.0.0.0:9470"},
    "plugins": {"udp": {"enabled": "yes"}, "Bad Name": {}, "tun": []},
    "colour": true
  })",
               errors);
  CHECK(has_line(errors, R"(logLevel: expected one of trace, debug, info, warn, error, got "loud")"));
  CHECK(has_line(errors, R"(stateDir: expected an absolute path, got "relative/dir")"));
  CHECK(has_line(errors, "pluginDirs[1]: expected a directory path, got 3"));
  CHECK(has_line(errors, R"(admin.socket: expected an absolute path, got "admin.sock")"));
  CHECK(has_line(errors, "admin.mode: expected socket, got an unknown key"));
  CHECK(has_line(errors,
                 R"(metrics.prometheus: expected a loopback "host:port" such as "127.0.0.1:9470", got "0.0.0.0:9470")"));
  CHECK(has_line(errors, R"(plugins.udp.enabled: expected true or false, got "yes")"));
  CHECK(has_line(errors, R"(plugins.Bad Name: expected a plugin name of lowercase letters, digits, '_' and '-', got "Bad Name")"));
  CHECK(has_line(errors, "plugins.tun: expected an object (the plugin's config; {} for defaults), got an array"));
  CHECK(errors.all().size() == 10);  // the nine above and the unknown key "colour"
}

TEST_CASE("a syntax error names its line and column") {
  ConfigErrors errors;
  parse_config("{\n  \"privateKey\": \"aa\",\n  oops\n}", errors);
  REQUIRE(errors.all().size() == 1);
  CHECK(errors.all()[0].line().find("line 3, column 3") != std::string::npos);
}

TEST_CASE("a missing key and a doubled key are reported") {
  ConfigErrors none;
  parse_config("{}", none);
  CHECK(has_line(none, "privateKey: expected the node's private key (64 hex characters) or a privateKeyFile, got neither"));
  ConfigErrors both;
  parse_config(std::string("{") + kKey + R"(, "privateKeyFile": "/k"})", both);
  CHECK(has_line(both, "privateKeyFile: expected either privateKey or privateKeyFile, not both, got both"));
}

TEST_CASE("host:port parsing") {
  using mh::core::parse_host_port;
  CHECK(parse_host_port("127.0.0.1:9470")->port == 9470);
  CHECK(parse_host_port("[::1]:80")->host == "::1");
  CHECK_FALSE(parse_host_port("::1:80"));
  CHECK_FALSE(parse_host_port("1.2.3.4"));
  CHECK_FALSE(parse_host_port("1.2.3.4:0"));
  CHECK_FALSE(parse_host_port("1.2.3.4:65536"));
  CHECK_FALSE(parse_host_port("1.2.3.4:12a"));
}
