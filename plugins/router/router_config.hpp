// The router plugin's config (docs/operations.md, "router"): timers and table limits.
#pragma once

#include "route_table.hpp"

#include <meshhost/plugin.hpp>

#include <optional>

namespace mh::router {

struct RouterConfig {
  Timers timers;
  Limits limits;
};

// Parses and checks the plugin's config object; every problem goes to `errors` with its
// path ("timers.updateIntervalMs"). nullopt when there was any.
std::optional<RouterConfig> parse_router_config(Str config_json, ErrorSink* errors);

}  // namespace mh::router
