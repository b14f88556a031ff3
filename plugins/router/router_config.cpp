// Reading the router's config object.
#include "router_config.hpp"

#include <link_driver_config.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace mh::router {

namespace {

using nlohmann::json;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

// Milliseconds in [min_ms, max_ms], as nanoseconds.
bool read_ms(const json& object, const char* key, std::uint64_t min_ms, std::uint64_t max_ms, std::uint64_t* out_ns,
             ErrorSink* errors) {
  const auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min_ms || it->get<std::uint64_t>() > max_ms) {
    report(errors, std::string("timers.") + key,
           "milliseconds between " + std::to_string(min_ms) + " and " + std::to_string(max_ms),
           link_common::describe_found(*it));
    return false;
  }
  *out_ns = it->get<std::uint64_t>() * kNsPerMs;
  return true;
}

bool read_count(const json& root, const char* key, std::uint32_t max, std::uint32_t* out, ErrorSink* errors) {
  const auto it = root.find(key);
  if (it == root.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > max) {
    report(errors, key, "a number between 1 and " + std::to_string(max), link_common::describe_found(*it));
    return false;
  }
  *out = it->get<std::uint32_t>();
  return true;
}

}  // namespace

std::optional<RouterConfig> parse_router_config(Str config_json, ErrorSink* errors) {
  json root;
  try {
    root = json::parse(std::string_view(config_json.data, config_json.size), nullptr, true, true);
  } catch (const json::exception&) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (root.is_null()) root = json::object();
  if (!root.is_object()) {
    report(errors, "", "an object", link_common::describe_found(root));
    return std::nullopt;
  }
  RouterConfig config;
  bool valid = true;
  static const std::set<std::string> kKeys = {"timers", "maxRoutes", "maxRoutesPerNeighbour"};
  for (const auto& [key, value] : root.items()) {
    if (!kKeys.count(key)) {
      report(errors, key, "timers, maxRoutes or maxRoutesPerNeighbour", "an unknown key");
      valid = false;
    }
  }
  if (const auto it = root.find("timers"); it != root.end()) {
    if (!it->is_object()) {
      report(errors, "timers", "an object of timers in milliseconds", link_common::describe_found(*it));
      valid = false;
    } else {
      static const std::set<std::string> kTimers = {"updateIntervalMs", "routeExpiryMs", "holdDownMs", "sourceGcMs",
                                                    "requestTimeoutMs"};
      for (const auto& [key, value] : it->items()) {
        if (!kTimers.count(key)) {
          report(errors, "timers." + key,
                 "updateIntervalMs, routeExpiryMs, holdDownMs, sourceGcMs or requestTimeoutMs", "an unknown key");
          valid = false;
        }
      }
      Timers& t = config.timers;
      // The update's interval field counts centiseconds in 16 bits: at most 655 s.
      valid &= read_ms(*it, "updateIntervalMs", 100, 655'000, &t.update_interval_ns, errors);
      valid &= read_ms(*it, "routeExpiryMs", 250, 86'400'000, &t.route_expiry_ns, errors);
      valid &= read_ms(*it, "holdDownMs", 100, 86'400'000, &t.hold_down_ns, errors);
      valid &= read_ms(*it, "sourceGcMs", 1000, 86'400'000, &t.source_gc_ns, errors);
      valid &= read_ms(*it, "requestTimeoutMs", 10, 600'000, &t.request_timeout_ns, errors);
      if (valid) {
        const char* why = nullptr;
        if (t.route_expiry_ns < 2 * t.update_interval_ns) {
          why = "routeExpiryMs under twice updateIntervalMs: one lost update would drop a route";
        } else if (t.hold_down_ns < t.update_interval_ns) {
          why = "holdDownMs under updateIntervalMs: a retraction might never be repeated";
        } else if (t.source_gc_ns < t.route_expiry_ns + t.hold_down_ns) {
          why = "sourceGcMs under routeExpiryMs + holdDownMs: feasibility distances would go before their routes";
        } else if (t.request_timeout_ns >= t.update_interval_ns) {
          why = "requestTimeoutMs not under updateIntervalMs";
        }
        if (why != nullptr) {
          report(errors, "timers",
                 "routeExpiryMs >= 2 × updateIntervalMs, holdDownMs >= updateIntervalMs, "
                 "sourceGcMs >= routeExpiryMs + holdDownMs, requestTimeoutMs < updateIntervalMs",
                 why);
          valid = false;
        }
      }
    }
  }
  valid &= read_count(root, "maxRoutes", 1'000'000, &config.limits.max_routes, errors);
  valid &= read_count(root, "maxRoutesPerNeighbour", 1'000'000, &config.limits.max_routes_per_neighbour, errors);
  if (valid && config.limits.max_routes_per_neighbour > config.limits.max_routes) {
    report(errors, "maxRoutesPerNeighbour", "at most maxRoutes (" + std::to_string(config.limits.max_routes) + ")",
           std::to_string(config.limits.max_routes_per_neighbour));
    valid = false;
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::router
