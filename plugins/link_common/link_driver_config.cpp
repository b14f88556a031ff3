// Parsing of the config keys every link driver shares: see link_driver_config.hpp.
#include "link_driver_config.hpp"

#include "beacon.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>

namespace mh::link_common {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxFoundStringSize = 64;  // longer strings are cut in error lines

void report(ErrorSink* errors, const std::string& path, std::string_view expected, const std::string& found) {
  errors->error(Str::of(path), Str(expected.data(), expected.size()), Str::of(found));
}

bool parse_beacon_mode(const json& value, BeaconMode* out) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    const auto n = value.get<std::int64_t>();
    if (n < 0 || n > 2) return false;
    *out = static_cast<BeaconMode>(n);
    return true;
  }
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == "off") *out = BeaconMode::off;
    else if (s == "accept") *out = BeaconMode::accept;
    else if (s == "send") *out = BeaconMode::send;
    else return false;
    return true;
  }
  return false;
}

bool parse_beacon_settings(const json& beacon, ErrorSink* errors, BeaconSettings* out) {
  if (!beacon.is_object()) {
    report(errors, "beacon", "an object like {\"mode\": \"send\"}", describe_found(beacon));
    return false;
  }
  bool valid = true;
  for (const auto& [key, value] : beacon.items()) {
    const std::string path = "beacon." + key;
    if (key == "mode") {
      if (!parse_beacon_mode(value, &out->mode)) {
        report(errors, path, "0, 1, 2, \"off\", \"accept\" or \"send\"", describe_found(value));
        valid = false;
      }
    } else if (key == "intervalMs") {
      const bool integral = value.is_number_integer() || value.is_number_unsigned();
      const std::int64_t n = integral ? value.get<std::int64_t>() : 0;
      if (!integral || n < kMinBeaconIntervalMs || n > kMaxBeaconIntervalMs) {
        report(errors, path, "milliseconds from 100 to 3600000", describe_found(value));
        valid = false;
      } else {
        out->interval_ms = static_cast<std::uint32_t>(n);
      }
    } else if (key == "password" || key == "login") {
      if (!value.is_string()) {
        report(errors, path, "a string", describe_found(value));
        valid = false;
      } else {
        (key == "password" ? out->password : out->login) = value.get<std::string>();
      }
    } else {
      report(errors, path, "one of \"mode\", \"intervalMs\", \"password\", \"login\"", "an unknown key");
      valid = false;
    }
  }
  if (valid && !out->login.empty() && out->password.empty()) {
    report(errors, "beacon.login", "a login only together with beacon.password", "a login without a password");
    valid = false;
  }
  return valid;
}

bool parse_discovered_peers(const json& peers, ErrorSink* errors, LinkDriverConfig* out) {
  if (!peers.is_object()) {
    report(errors, "discoveredPeers", "an object like {\"policy\": \"requirePassword\"}", describe_found(peers));
    return false;
  }
  bool valid = true;
  bool have_list = false;
  for (const auto& [key, value] : peers.items()) {
    const std::string path = "discoveredPeers." + key;
    if (key == "policy") {
      const std::string s = value.is_string() ? value.get<std::string>() : std::string();
      if (s == "acceptAny") {
        out->discovered_peer_policy = DiscoveredPeerPolicy::accept_any;
      } else if (s == "requirePassword") {
        out->discovered_peer_policy = DiscoveredPeerPolicy::require_password;
      } else if (s == "allowList") {
        out->discovered_peer_policy = DiscoveredPeerPolicy::allow_list;
      } else {
        report(errors, path, "\"acceptAny\", \"requirePassword\" or \"allowList\"", describe_found(value));
        valid = false;
      }
    } else if (key == "allowList") {
      have_list = true;
      if (!value.is_array()) {
        report(errors, path, "an array of public keys (\"….k\")", describe_found(value));
        valid = false;
        continue;
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        const json& item = value[i];
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        const auto key_text = item.is_string() ? std::optional<std::string>(item.get<std::string>()) : std::nullopt;
        const auto pub = key_text ? parse_public_key(*key_text) : std::nullopt;
        if (!pub) {
          report(errors, item_path, "a public key (52 base32 characters and \".k\")", describe_found(item));
          valid = false;
        } else if (!is_valid_node_key(*pub)) {
          report(errors, item_path, "a node key (its address in fc00::/8)", "a key whose address is outside fc00::/8");
          valid = false;
        } else {
          out->allow_list.push_back(*pub);
        }
      }
    } else {
      report(errors, path, "one of \"policy\", \"allowList\"", "an unknown key");
      valid = false;
    }
  }
  if (valid && have_list && out->discovered_peer_policy != DiscoveredPeerPolicy::allow_list) {
    report(errors, "discoveredPeers.policy", "\"allowList\" when an allowList is given",
           out->discovered_peer_policy == DiscoveredPeerPolicy::accept_any ? "\"acceptAny\"" : "\"requirePassword\"");
    valid = false;
  }
  return valid;
}

}  // namespace

bool LinkDriverConfig::allows(const PublicKey& key) const noexcept {
  if (discovered_peer_policy != DiscoveredPeerPolicy::allow_list) return false;
  for (const PublicKey& allowed : allow_list) {
    if (std::memcmp(allowed.bytes, key.bytes, kPublicKeySize) == 0) return true;
  }
  return false;
}

std::uint8_t LinkDriverConfig::beacon_flags() const noexcept {
  return discovered_peer_policy == DiscoveredPeerPolicy::require_password ? kBeaconFlagRequiresPassword : 0;
}

bool is_link_driver_config_key(std::string_view key) noexcept {
  return key == "beacon" || key == "discoveredPeers" || key == "hopEncryption";
}

bool parse_link_driver_config(const json& config, ErrorSink* errors, LinkDriverConfig* out) {
  *out = LinkDriverConfig{};
  if (!config.is_object()) return true;  // the driver reports a non-object config itself
  bool valid = true;
  if (const auto it = config.find("beacon"); it != config.end()) {
    valid = parse_beacon_settings(*it, errors, &out->beacon) && valid;
  }
  if (const auto it = config.find("discoveredPeers"); it != config.end()) {
    valid = parse_discovered_peers(*it, errors, out) && valid;
  }
  if (const auto it = config.find("hopEncryption"); it != config.end()) {
    const std::string s = it->is_string() ? it->get<std::string>() : std::string();
    if (s == "full") {
      out->hop_encryption = HopEncryption::full;
    } else if (s == "headers") {
      out->hop_encryption = HopEncryption::headers;
    } else {
      report(errors, "hopEncryption", "\"full\" or \"headers\"", describe_found(*it));
      valid = false;
    }
  }
  return valid;
}

json parse_config_json(Str text) {
  const char* begin = text.data == nullptr ? "" : text.data;
  return json::parse(begin, begin + text.size, /*cb=*/nullptr, /*allow_exceptions=*/false,
                     /*ignore_comments=*/true);
}

std::string describe_found(const json& value) {
  switch (value.type()) {
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (s.size() > kMaxFoundStringSize) return "\"" + s.substr(0, kMaxFoundStringSize) + "…\"";
      return "\"" + s + "\"";
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
    case json::value_t::boolean:
      return value.dump();
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::null:
      return "null";
    default:
      return value.type_name();
  }
}

void FirstErrorLine::error(Str path, Str expected, Str found) noexcept {
  if (!line_.empty()) return;
  try {
    line_.append(path.data == nullptr ? "" : path.data, path.size).append(path.size ? ": " : "").append("expected ");
    line_.append(expected.data, expected.size).append(", got ").append(found.data, found.size);
  } catch (...) {
    line_ = "invalid config";
  }
}

}  // namespace mh::link_common
