// The eth plugin's config and interface rule: see eth_config.hpp.
#include "eth_config.hpp"

#include <nlohmann/json.hpp>

#include <net/if.h>

#include <algorithm>

namespace mh::eth {

namespace {

using nlohmann::json;

constexpr const char* kInterfacesExpected = "\"all\" or an array of interface names like [\"eth0\", \"br-mesh\"]";

bool valid_interface_name(const std::string& name) {
  // What the kernel accepts (dev_valid_name): 1..15 bytes, not "." or "..", no '/',
  // ':' or whitespace.
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  });
}

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

bool parse_interfaces(const json& value, ErrorSink* errors, EthConfig* out) {
  if (value.is_string() && value.get_ref<const std::string&>() == "all") {
    out->all_interfaces = true;
    return true;
  }
  if (!value.is_array() || value.empty()) {
    report(errors, "interfaces", kInterfacesExpected, value.is_array() ? "an empty array" : link_common::describe_found(value));
    return false;
  }
  bool valid = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string path = "interfaces[" + std::to_string(i) + "]";
    const json& item = value[i];
    if (!item.is_string() || !valid_interface_name(item.get_ref<const std::string&>())) {
      report(errors, path, "an interface name (1 to 15 characters, no '/', ':' or spaces)", link_common::describe_found(item));
      valid = false;
      continue;
    }
    const std::string& name = item.get_ref<const std::string&>();
    if (std::find(out->interfaces.begin(), out->interfaces.end(), name) != out->interfaces.end()) {
      report(errors, path, "each interface once", "\"" + name + "\" again");
      valid = false;
      continue;
    }
    out->interfaces.push_back(name);
  }
  return valid;
}

}  // namespace

bool EthConfig::names(const std::string& interface) const {
  return std::find(interfaces.begin(), interfaces.end(), interface) != interfaces.end();
}

bool operator==(const EthConfig& a, const EthConfig& b) {
  const auto& x = a.shared;
  const auto& y = b.shared;
  const bool same_keys = x.allow_list.size() == y.allow_list.size() &&
                         std::equal(x.allow_list.begin(), x.allow_list.end(), y.allow_list.begin(),
                                    [](const PublicKey& k, const PublicKey& l) {
                                      return std::equal(std::begin(k.bytes), std::end(k.bytes), std::begin(l.bytes));
                                    });
  return a.all_interfaces == b.all_interfaces && a.interfaces == b.interfaces && x.beacon.mode == y.beacon.mode &&
         x.beacon.interval_ms == y.beacon.interval_ms && x.beacon.password == y.beacon.password &&
         x.beacon.login == y.beacon.login && x.discovered_peer_policy == y.discovered_peer_policy && same_keys &&
         x.hop_encryption == y.hop_encryption;
}

bool parse_eth_config(const json& config, ErrorSink* errors, EthConfig* out) {
  *out = EthConfig{};
  if (!config.is_object()) {
    report(errors, "", "an object like {\"interfaces\": [\"eth0\"]}",
           config.is_discarded() ? "text that is not JSON" : link_common::describe_found(config));
    return false;
  }
  bool valid = link_common::parse_link_driver_config(config, errors, &out->shared);
  bool have_interfaces = false;
  for (const auto& [key, value] : config.items()) {
    if (key == "interfaces") {
      have_interfaces = true;
      valid = parse_interfaces(value, errors, out) && valid;
    } else if (!link_common::is_link_driver_config_key(key)) {
      report(errors, key, "one of \"interfaces\", \"beacon\", \"discoveredPeers\", \"hopEncryption\"", "an unknown key");
      valid = false;
    }
  }
  if (!have_interfaces) {
    report(errors, "interfaces", kInterfacesExpected, "nothing (the key is required)");
    valid = false;
  }
  return valid;
}

InterfaceDecision decide(const EthConfig& config, const ether::InterfaceInfo& interface) {
  const bool named = !config.all_interfaces && config.names(interface.name);
  if (!named && !config.all_interfaces) return {};
  if (interface.loopback) {
    if (!named) return {};
    return {InterfaceUse::refuse, interface.name + ": a loopback interface carries no neighbours; interface not used"};
  }
  if (!interface.ethernet) {
    if (!named) return {};  // "all" means every Ethernet interface: tun, sit, wireguard are not
    return {InterfaceUse::refuse, interface.name + ": not an Ethernet interface; interface not used"};
  }
  if (!interface.usable()) return {InterfaceUse::down, {}};
  if (auto refusal = ether::mtu_refusal(interface.name, interface.mtu)) return {InterfaceUse::refuse, std::move(*refusal)};
  return {InterfaceUse::use, {}};
}

}  // namespace mh::eth
