// Reading the session plugin's config object.
#include "session_config.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mh::session {

namespace {

using nlohmann::json;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

// What an operator wrote, in a few words, for "expected X, got Y".
std::string describe(const json& value) {
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    return "\"" + (text.size() > 40 ? text.substr(0, 40) + "…" : text) + "\"";
  }
  if (value.is_number() || value.is_boolean() || value.is_null()) return value.dump();
  if (value.is_array()) return "an array";
  return "an object";
}

// An unsigned integer within [min, max] at `key`, if present.
bool read_uint(const json& root, const char* key, std::uint64_t min, std::uint64_t max, std::uint64_t* out,
               ErrorSink* errors, const char* unit) {
  const auto it = root.find(key);
  if (it == root.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min || it->get<std::uint64_t>() > max) {
    report(errors, key, std::string(unit) + " between " + std::to_string(min) + " and " + std::to_string(max),
           describe(*it));
    return false;
  }
  *out = it->get<std::uint64_t>();
  return true;
}

bool read_ms(const json& root, const char* key, std::uint64_t* out_ns, ErrorSink* errors) {
  std::uint64_t ms = *out_ns / kNsPerMs;
  if (!read_uint(root, key, 1, 86'400'000, &ms, errors, "milliseconds")) return false;
  *out_ns = ms * kNsPerMs;
  return true;
}

bool read_u32(const json& root, const char* key, std::uint64_t min, std::uint64_t max, std::uint32_t* out,
              ErrorSink* errors, const char* unit) {
  std::uint64_t value = *out;
  if (!read_uint(root, key, min, max, &value, errors, unit)) return false;
  *out = static_cast<std::uint32_t>(value);
  return true;
}

constexpr const char* kKeys[] = {"queueLength",        "maxSessions",        "idleTimeoutMs",
                                 "handshakeRetryMs",   "handshakeRetryMaxMs", "handshakeTimeoutMs",
                                 "keepaliveMs",        "handshakesPerSecond"};

}  // namespace

std::optional<SessionConfig> parse_session_config(Str config_json, ErrorSink* errors) {
  json root;
  try {
    root = json::parse(std::string_view(config_json.data, config_json.size));
  } catch (const json::exception&) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (root.is_null()) root = json::object();  // "session": null → the defaults
  if (!root.is_object()) {
    report(errors, "", "an object", describe(root));
    return std::nullopt;
  }
  SessionConfig config;
  bool valid = true;
  for (const auto& [key, value] : root.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || key == k;
    if (!known) {
      report(errors, key,
             "queueLength, maxSessions, idleTimeoutMs, handshakeRetryMs, handshakeRetryMaxMs, handshakeTimeoutMs, "
             "keepaliveMs or handshakesPerSecond",
             "an unknown key");
      valid = false;
    }
  }
  valid &= read_u32(root, "queueLength", 0, 4096, &config.limits.queue_length, errors, "packets");
  valid &= read_u32(root, "maxSessions", 1, 1'000'000, &config.limits.max_sessions, errors, "sessions");
  valid &= read_u32(root, "handshakesPerSecond", 1, 1'000'000, &config.limits.handshakes_per_second, errors,
                    "initiations per second");
  config.limits.handshake_burst = config.limits.handshakes_per_second;
  valid &= read_ms(root, "idleTimeoutMs", &config.timers.idle_timeout_ns, errors);
  valid &= read_ms(root, "handshakeRetryMs", &config.timers.handshake_retry_ns, errors);
  valid &= read_ms(root, "handshakeRetryMaxMs", &config.timers.handshake_retry_max_ns, errors);
  valid &= read_ms(root, "handshakeTimeoutMs", &config.timers.handshake_timeout_ns, errors);
  valid &= read_ms(root, "keepaliveMs", &config.timers.keepalive_ns, errors);
  // A sender that hears nothing re-handshakes a missed keepalive and 5 s later.
  config.timers.silence_rehandshake_ns = config.timers.keepalive_ns + 5 * kNsPerSecond;
  if (const char* why = check_timers(config.timers); valid && why != nullptr) {
    report(errors, "",
           "handshakeRetryMs <= handshakeRetryMaxMs < handshakeTimeoutMs and keepaliveMs < idleTimeoutMs", why);
    valid = false;
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::session
