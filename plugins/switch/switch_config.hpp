// The switch plugin's config: authorizedPasswords, limits and the timers that operators
// may tune (docs/operations.md, "switch").
#pragma once

#include "peer_table.hpp"

#include <meshhost/plugin.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mh::sw {

struct PasswordEntry {
  std::string password;
  std::string login;  // "" for none
};

struct SwitchConfig {
  std::vector<PasswordEntry> authorized_passwords;
  Timers timers;
  Limits limits;
  std::uint32_t handshake_load_threshold = 200;
  // The FIB's capacity (routes the router may install).
  std::uint32_t max_routes = 4096;
  // Error reports this node sends per second (control protocol), after a burst of twice
  // as many; 0 sends none.
  std::uint32_t error_rate_per_second = 10;
};

// Parses and checks the plugin's config object; every problem goes to `errors` with its
// path. nullopt when there was any.
std::optional<SwitchConfig> parse_switch_config(Str config_json, ErrorSink* errors);

}  // namespace mh::sw
