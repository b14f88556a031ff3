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
};

// Parses and checks the plugin's config object; every problem goes to `errors` with its
// path. nullopt when there was any.
std::optional<SwitchConfig> parse_switch_config(Str config_json, ErrorSink* errors);

}  // namespace mh::sw
