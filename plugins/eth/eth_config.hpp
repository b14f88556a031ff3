// The `eth` plugin's config ("interfaces" plus the keys every link driver shares) and the
// rule that decides, from what the kernel says about an interface, whether eth uses it.
// Pure: no sockets, so unit tests cover it without root.
#pragma once

#include "interface_monitor.hpp"
#include "link_driver_config.hpp"

#include <meshhost/plugin.hpp>

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace mh::eth {

struct EthConfig {
  // "interfaces": "all" — every Ethernet interface except loopback, including ones that
  // appear later — or a list of names.
  bool all_interfaces = false;
  std::vector<std::string> interfaces;
  link_common::LinkDriverConfig shared;

  bool names(const std::string& interface) const;
  friend bool operator==(const EthConfig& a, const EthConfig& b);
};

// Reads `config` (the plugin's whole config object), reporting every problem to `errors`
// with its path; false if there was any. Throws only std::bad_alloc.
bool parse_eth_config(const nlohmann::json& config, ErrorSink* errors, EthConfig* out);

enum class InterfaceUse {
  ignore,  // not ours: not named, loopback, or (with "all") not Ethernet
  down,    // ours, but not up and running
  refuse,  // ours, but unusable: `reason` says why (MTU too small, not Ethernet)
  use,     // make a link on it
};

struct InterfaceDecision {
  InterfaceUse use = InterfaceUse::ignore;
  std::string reason;  // with refuse: one line naming the interface
};

InterfaceDecision decide(const EthConfig& config, const ether::InterfaceInfo& interface);

}  // namespace mh::eth
