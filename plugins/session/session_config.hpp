// The session plugin's config: queue, table and handshake limits and the timers operators
// may tune (docs/operations.md, "session").
#pragma once

#include "session_table.hpp"

#include <meshhost/plugin.hpp>

#include <optional>

namespace mh::session {

struct SessionConfig {
  Timers timers;
  Limits limits;
};

// Parses and checks the plugin's config object; every problem goes to `errors` with its
// path. nullopt when there was any.
std::optional<SessionConfig> parse_session_config(Str config_json, ErrorSink* errors);

}  // namespace mh::session
