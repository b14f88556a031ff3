// The udp driver's config: see udp_config.hpp and docs/operations.md ("udp").
#include "udp_config.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>

namespace mh::udp {

namespace {

using nlohmann::json;

void report(ErrorSink* errors, const std::string& path, std::string_view expected, const std::string& found) {
  errors->error(Str::of(path), Str(expected.data(), expected.size()), Str::of(found));
}

std::string quoted(const std::string& s) { return link_common::describe_found(json(s)); }

bool parse_bind(const json& value, ErrorSink* errors, UdpConfig* out) {
  if (!value.is_array() || value.empty()) {
    report(errors, "bind", "a non-empty array of \"host:port\" strings", link_common::describe_found(value));
    return false;
  }
  bool valid = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string path = "bind[" + std::to_string(i) + "]";
    const json& item = value[i];
    const auto endpoint = item.is_string() ? parse_host_port(item.get<std::string>()) : std::nullopt;
    if (!endpoint) {
      report(errors, path, "\"host:port\" with a numeric IPv4 or [IPv6] address", link_common::describe_found(item));
      valid = false;
      continue;
    }
    const bool duplicate = std::any_of(out->bind.begin(), out->bind.end(), [&](const Endpoint& e) {
      return same_endpoint(e, *endpoint) && endpoint_port(e) != 0;
    });
    if (duplicate) {
      report(errors, path, "each address once", link_common::describe_found(item) + " a second time");
      valid = false;
      continue;
    }
    out->bind.push_back(*endpoint);
  }
  return valid;
}

bool parse_peer(const std::string& address, const json& entry, ErrorSink* errors, UdpConfig* out) {
  const std::string path = "connectTo[" + quoted(address) + "]";
  bool valid = true;
  ConnectTo peer;
  peer.address_text = address;
  const auto endpoint = parse_host_port(address);
  if (!endpoint || endpoint_is_wildcard(*endpoint) || endpoint_port(*endpoint) == 0) {
    report(errors, path, "a key \"host:port\" with a numeric IPv4 or [IPv6] address and a port", quoted(address));
    valid = false;
  } else {
    peer.endpoint = *endpoint;
  }
  if (!entry.is_object()) {
    report(errors, path, "an object like {\"publicKey\": \"….k\", \"password\": \"…\"}",
           link_common::describe_found(entry));
    return false;
  }
  bool have_key = false;
  for (const auto& [key, value] : entry.items()) {
    const std::string item_path = path + "." + key;
    if (key == "publicKey") {
      const auto pub = value.is_string() ? parse_public_key(value.get<std::string>()) : std::nullopt;
      if (!pub) {
        report(errors, item_path, "a public key (52 base32 characters and \".k\")", link_common::describe_found(value));
        valid = false;
      } else if (!is_valid_node_key(*pub)) {
        report(errors, item_path, "a node key (its address in fc00::/8)", "a key whose address is outside fc00::/8");
        valid = false;
      } else {
        peer.key = *pub;
        have_key = true;
      }
    } else if (key == "password" || key == "login" || key == "peerName") {
      if (!value.is_string()) {
        report(errors, item_path, "a string", link_common::describe_found(value));
        valid = false;
        continue;
      }
      std::string& field = key == "password" ? peer.password : key == "login" ? peer.login : peer.peer_name;
      field = value.get<std::string>();
    } else if (key == "contact" || key == "location" || key == "gpg") {
      // Informational fields of cjdns peering lists: kept out of the way, not used.
    } else {
      report(errors, item_path, "one of \"publicKey\", \"password\", \"login\", \"peerName\"", "an unknown key");
      valid = false;
    }
  }
  if (!have_key && valid) {
    report(errors, path + ".publicKey", "the peer's public key", "nothing");
    valid = false;
  }
  if (valid && !peer.login.empty() && peer.password.empty()) {
    report(errors, path + ".login", "a login only together with a password", "a login without a password");
    valid = false;
  }
  if (valid) out->connect_to.push_back(std::move(peer));
  return valid;
}

bool parse_connect_to(const json& value, ErrorSink* errors, UdpConfig* out) {
  if (!value.is_object()) {
    report(errors, "connectTo", "an object of \"host:port\": {\"publicKey\": …}", link_common::describe_found(value));
    return false;
  }
  bool valid = true;
  for (const auto& [address, entry] : value.items()) valid = parse_peer(address, entry, errors, out) && valid;
  return valid;
}

bool has_family(const std::vector<Endpoint>& binds, Family family) {
  return std::any_of(binds.begin(), binds.end(), [&](const Endpoint& e) { return endpoint_family(e) == family; });
}

}  // namespace

std::optional<UdpConfig> parse_udp_config(Str text, ErrorSink* errors) {
  UdpConfig config;
  config.source = link_common::parse_config_json(text);
  const json& doc = config.source;
  if (doc.is_discarded()) {
    errors->error("", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (!doc.is_object()) {
    errors->error("", "an object", Str::of(link_common::describe_found(doc)));
    return std::nullopt;
  }
  bool valid = link_common::parse_link_driver_config(doc, errors, &config.common);
  for (const auto& [key, value] : doc.items()) {
    if (key == "bind") {
      config.bind_is_default = false;
      valid = parse_bind(value, errors, &config) && valid;
    } else if (key == "connectTo") {
      valid = parse_connect_to(value, errors, &config) && valid;
    } else if (key == "fwmark") {
      if (value.is_number_unsigned() && value.get<std::uint64_t>() <= 0xffffffffu) {
        config.fwmark = value.get<std::uint32_t>();
      } else {
        report(errors, key, "an integer from 0 to 4294967295", link_common::describe_found(value));
        valid = false;
      }
    } else if (!link_common::is_link_driver_config_key(key)) {
      report(errors, key,
             "one of \"bind\", \"connectTo\", \"fwmark\", \"beacon\", \"discoveredPeers\", \"hopEncryption\"",
             "an unknown key");
      valid = false;
    }
  }
  if (config.bind_is_default) {
    for (const char* text_bind : kDefaultBinds) config.bind.push_back(*parse_host_port(text_bind));
  }
  if (valid) {
    for (const ConnectTo& peer : config.connect_to) {
      const Family family = *endpoint_family(peer.endpoint);
      if (!has_family(config.bind, family)) {
        report(errors, "connectTo[" + quoted(peer.address_text) + "]",
               family == Family::ipv4 ? "an address of a family in bind (bind has no IPv4 address)"
                                      : "an address of a family in bind (bind has no IPv6 address)",
               quoted(peer.address_text));
        valid = false;
      }
    }
  }
  if (!valid) return std::nullopt;
  return config;
}

const char* const kConfigSchema = R"({
  "type": "object",
  "properties": {
    "bind": {"type": "array", "items": {"type": "string"}, "minItems": 1,
             "default": ["0.0.0.0:11234", "[::]:11234"],
             "description": "Numeric \"host:port\" addresses to bind, IPv4 or [IPv6]; one link each"},
    "connectTo": {"type": "object", "description": "Peers by \"host:port\", as in cjdroute.conf",
                  "additionalProperties": {"type": "object", "required": ["publicKey"], "properties": {
                    "publicKey": {"type": "string"}, "password": {"type": "string"},
                    "login": {"type": "string"}, "peerName": {"type": "string"}}}},
    "fwmark": {"type": "integer", "minimum": 0, "maximum": 4294967295, "default": 0,
               "description": "SO_MARK on every socket (0: none), for policy routing; needs CAP_NET_ADMIN"},
    "beacon": {"type": "object", "properties": {
      "mode": {"enum": [0, 1, 2, "off", "accept", "send"], "default": "off"},
      "intervalMs": {"type": "integer", "minimum": 100, "maximum": 3600000, "default": 5000},
      "password": {"type": "string"}, "login": {"type": "string"}}, "additionalProperties": false},
    "discoveredPeers": {"type": "object", "properties": {
      "policy": {"enum": ["acceptAny", "requirePassword", "allowList"], "default": "requirePassword"},
      "allowList": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": false},
    "hopEncryption": {"enum": ["full", "headers"], "default": "full"}
  },
  "additionalProperties": false
})";

}  // namespace mh::udp
