// Importing a cjdroute.conf: the identity carries over, links, peers, passwords and the
// ipTunnel block land in the plugins that take them, and the output is a config the host
// reads.
#include "import_cjdns.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace mh::core;
using nlohmann::json;

namespace {

// The test identity from cjdns's published cjdroute.conf (shared/testdata/cjdns).
constexpr const char* kPrivateKey = "874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4";
constexpr const char* kPublicKey = "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k";
constexpr const char* kAddress = "fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d";

std::string with_identity(const std::string& rest) {
  return std::string("{\n  \"privateKey\": \"") + kPrivateKey + "\",\n  \"publicKey\": \"" + kPublicKey +
         "\",\n  \"ipv6\": \"" + kAddress + "\",\n" + rest + "\n}\n";
}

struct Imported {
  json config;                        // the output as the host's parser reads it
  std::vector<std::string> warnings;  //
};

// Imports `text`, requires success, and reads the output back the way the host does.
Imported import_ok(const std::string& text) {
  ConfigErrors errors;
  auto imported = import_cjdroute(text, "cjdroute.conf", errors);
  std::string problems;
  for (const auto& e : errors.all()) problems += e.line() + "\n";
  INFO(problems);
  REQUIRE(imported);
  ConfigErrors parse_errors;
  auto document = parse_json_with_comments(imported->text, parse_errors);
  INFO(imported->text);
  REQUIRE(document);
  parse_config(imported->text, parse_errors);
  std::string host_problems;
  for (const auto& e : parse_errors.all()) host_problems += e.line() + "\n";
  CHECK_MESSAGE(parse_errors.empty(), host_problems);
  return {*document, imported->warnings};
}

std::vector<std::string> import_errors(const std::string& text) {
  ConfigErrors errors;
  auto imported = import_cjdroute(text, "cjdroute.conf", errors);
  CHECK_FALSE(imported);
  std::vector<std::string> lines;
  for (const auto& e : errors.all()) lines.push_back(e.line());
  return lines;
}

bool has_warning(const Imported& imported, const std::string& prefix) {
  return std::any_of(imported.warnings.begin(), imported.warnings.end(),
                     [&](const std::string& w) { return w.rfind(prefix, 0) == 0; });
}

std::string cjdns_conf_path() {
  return std::string(MESHHOST_SOURCE_DIR) + "/../shared/testdata/cjdns/cjdroute.conf";
}

bool cjdns_conf_missing() {
  if (std::filesystem::exists(cjdns_conf_path())) return false;
  std::fprintf(stderr, "import_cjdns_test: SKIPPING the cjdroute.conf test case: %s not found\n",
               cjdns_conf_path().c_str());
  return true;
}

}  // namespace

TEST_CASE("comments and trailing commas are blanked, strings are left alone") {
  const std::string in = "{ \"a\": \"x // y /* z */,]\", // c\n /* b, */ \"b\": [1, 2, ], }";
  const std::string out = strip_cjdns_json_extensions(in);
  CHECK(out.size() == in.size());
  CHECK(json::parse(out) == json::parse(R"({"a": "x // y /* z */,]", "b": [1, 2]})"));
  // A string with an escaped quote does not end early.
  CHECK(json::parse(strip_cjdns_json_extensions(R"({"a": "q\" // not a comment",})"))["a"] ==
        "q\" // not a comment");
}

TEST_CASE("the identity, passwords, UDP links and peers carry over") {
  const auto imported = import_ok(with_identity(R"(
  // cjdns writes comments like this
  "authorizedPasswords": [
    { "password": "first", "user": "alice" },
    { "password": "second", "login": "bob", },
    { "password": "third" },
    /* { "password": "commented out" }, */
  ],
  "interfaces": {
    "UDPInterface": [
      { "bind": "0.0.0.0:11234", "beacon": 2, "beaconDevices": ["all"], "beaconPort": 64512,
        "connectTo": {
          "192.0.2.1:11234": { "publicKey": "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k",
                               "password": "pw", "login": "me", "peerName": "north", "contact": "x@example.org" },
        } },
      { "bind": "[::]:11234", "connectTo": {} },
    ]
  },
  "router": { "interface": { "type": "TUNInterface", "tunDevice": "tun7" }, "ipTunnel": { "allowedConnections": [], "outgoingConnections": [] } },)"));
  const json& c = imported.config;
  CHECK(c["privateKey"] == kPrivateKey);
  CHECK(c["publicKey"] == kPublicKey);
  CHECK(c["ipv6"] == kAddress);
  const json& plugins = c["plugins"];
  CHECK(plugins["switch"]["authorizedPasswords"] ==
        json::parse(R"([{"password": "first", "login": "alice"}, {"password": "second", "login": "bob"},
                        {"password": "third"}])"));
  CHECK(plugins["udp"]["bind"] == json::parse(R"(["0.0.0.0:11234", "[::]:11234"])"));
  CHECK(plugins["udp"]["connectTo"] == json::parse(R"({"192.0.2.1:11234": {
    "publicKey": "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k",
    "password": "pw", "login": "me", "peerName": "north"}})"));
  CHECK(plugins["udp"]["beacon"] == json::parse(R"({"mode": "send"})"));
  CHECK(plugins["tun"] == json::parse(R"({"name": "tun7"})"));
  CHECK(plugins["router"] == json::object());
  CHECK(plugins["session"] == json::object());
  CHECK_FALSE(plugins.contains("eth"));
  // Empty ipTunnel lists: nothing to carry over.
  CHECK_FALSE(plugins.contains("iptunnel"));
  CHECK(has_warning(imported, "interfaces.UDPInterface[0].beaconPort: "));
  CHECK_FALSE(has_warning(imported, "interfaces.UDPInterface[0].beaconDevices"));
}

TEST_CASE("a filled-in ipTunnel is kept for the iptunnel plugin") {
  const auto imported = import_ok(with_identity(R"(
  "router": { "ipTunnel": {
    "allowedConnections": [
      { "publicKey": "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k",
        "ip4Address": "192.168.1.24", "ip4Prefix": 0, "ip4Alloc": 32,
        "ip6Address": "2001:db8::3", "ip6Prefix": 0, "ip6Alloc": 64 },
    ],
    "outgoingConnections": [ "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k" ]
  } })"));
  const json& block = imported.config["plugins"]["iptunnel"];
  CHECK_FALSE(block.contains("enabled"));
  CHECK(block["allowedConnections"] == json::parse(R"([{
    "publicKey": "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k",
    "ip4Address": "192.168.1.24", "ip4Prefix": 0, "ip4Alloc": 32,
    "ip6Address": "2001:db8::3", "ip6Prefix": 0, "ip6Alloc": 64}])"));
  CHECK(block["outgoingConnections"] == json::array({"lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k"}));
  // Without UDP interfaces there is no udp section; the tun device takes its default name.
  CHECK_FALSE(imported.config["plugins"].contains("udp"));
  CHECK(imported.config["plugins"]["tun"] == json::object());
}

TEST_CASE("Ethernet interfaces become the eth plugin's; MAC peers are a warning") {
  const auto imported = import_ok(with_identity(R"(
  "interfaces": { "ETHInterface": [
    { "bind": "eth0", "beacon": 1, "connectTo": { "aa:bb:cc:dd:ee:ff": { "publicKey": "x.k", "password": "p" } } },
    { "bind": "eth1", "beacon": 2 }
  ] })"));
  const json& eth = imported.config["plugins"]["eth"];
  CHECK(eth["interfaces"] == json::array({"eth0", "eth1"}));
  CHECK(eth["beacon"] == json::parse(R"({"mode": "accept"})"));
  CHECK(has_warning(imported, "interfaces.ETHInterface[0].connectTo: "));
  // One beacon mode per plugin: the second interface's differs, which is said.
  CHECK(has_warning(imported, "interfaces.ETHInterface[1].beacon: "));

  const auto all = import_ok(with_identity(R"("interfaces": { "ETHInterface": [ { "bind": "eth0" }, { "bind": "all" } ] })"));
  CHECK(all.config["plugins"]["eth"]["interfaces"] == "all");
  CHECK(all.warnings.empty());
}

TEST_CASE("what meshhost does not carry over is one warning each; the config still comes out") {
  const auto imported = import_ok(with_identity(R"(
  "admin": { "bind": "127.0.0.1:11234", "password": "NONE" },
  "security": [ { "setuser": "nobody" } ],
  "logging": { "logTo": "stdout" },
  "authorizedPasswords": [ { "password": "p", "user": "u", "ipv6": "fc00::1" }, { "password": "" } ],
  "router": { "supernodes": ["x.k"], "publicPeer": "id" },
  "noBackground": 0, "pipe": "cjdroute.sock", "version": 2,
  "_disabled_thing": {})"));
  CHECK(has_warning(imported, "admin: "));
  CHECK(has_warning(imported, "security: "));
  CHECK(has_warning(imported, "logging: "));
  CHECK(has_warning(imported, "authorizedPasswords[0].ipv6: "));
  CHECK(has_warning(imported, "authorizedPasswords[1]: "));
  CHECK(has_warning(imported, "router.supernodes: "));
  CHECK(has_warning(imported, "router.publicPeer: "));
  CHECK(imported.warnings.size() == 7);
  CHECK(imported.config["plugins"]["switch"]["authorizedPasswords"] == json::parse(R"([{"password": "p", "login": "u"}])"));
}

TEST_CASE("no usable identity or no JSON is an error naming what was expected") {
  CHECK(import_errors("{ \"interfaces\": {} }") ==
        std::vector<std::string>{"privateKey: expected the node's private key (64 hex characters), got nothing"});
  CHECK(import_errors("{ \"privateKey\": \"abc\" }") ==
        std::vector<std::string>{"privateKey: expected 64 hexadecimal characters, got 3 characters that are not a key"});
  const auto syntax = import_errors("{\n  \"privateKey\": oops\n}");
  REQUIRE(syntax.size() == 1);
  CHECK(syntax[0].rfind("(top level): expected valid JSON (comments and trailing commas allowed), got a syntax error at line 2", 0) == 0);
  CHECK(import_errors("[1, 2]") == std::vector<std::string>{"(top level): expected an object (a cjdroute.conf), got an array"});
}

TEST_CASE("a publicKey or ipv6 that the privateKey does not give is an error naming both") {
  const std::string other_key = "2jt5srbzd1v8l8kgrxl6hlqxyc2cbcvqqbqm4n0ksk3fdrxwk7f0.k";
  auto lines = import_errors(std::string("{ \"privateKey\": \"") + kPrivateKey + "\", \"publicKey\": \"" + other_key + "\" }");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "publicKey: expected \"" + std::string(kPublicKey) + "\" (derived from privateKey), got \"" + other_key + "\"");
  lines = import_errors(std::string("{ \"privateKey\": \"") + kPrivateKey + "\", \"ipv6\": \"fc00::1\" }");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "ipv6: expected \"" + std::string(kAddress) + "\" (derived from privateKey), got \"fc00::1\"");
}

// Registered as skipped (and said so on stderr) when the shared test data is absent.
TEST_CASE("cjdns's own cjdroute.conf imports with its identity and binds" * doctest::skip(cjdns_conf_missing())) {
  std::ifstream file(cjdns_conf_path());
  REQUIRE_MESSAGE(file.good(), "cannot read " << cjdns_conf_path());
  std::stringstream text;
  text << file.rdbuf();
  const auto imported = import_ok(text.str());
  const json& c = imported.config;
  CHECK(c["privateKey"] == kPrivateKey);
  CHECK(c["publicKey"] == kPublicKey);
  CHECK(c["ipv6"] == kAddress);
  CHECK(c["plugins"]["udp"]["bind"] == json::parse(R"(["0.0.0.0:53557", "[::]:53557"])"));
  CHECK(c["plugins"]["udp"]["beacon"] == json::parse(R"({"mode": "send"})"));
  CHECK(c["plugins"]["switch"]["authorizedPasswords"] ==
        json::parse(R"([{"password": "7fpfcl2vx5sszfrl9x7t8dj7w4m9yuq", "login": "default-login"}])"));
  CHECK_FALSE(c["plugins"].contains("eth"));  // only under "_disabled_ETHInterface"
  CHECK(has_warning(imported, "admin: "));
  CHECK(has_warning(imported, "security: "));
}
