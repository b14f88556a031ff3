// Reading the switch's config object.
#include "switch_config.hpp"

#include "fib.hpp"
#include "frames.hpp"

#include <link_driver_config.hpp>

#include <nlohmann/json.hpp>

#include <set>

namespace mh::sw {

namespace {

using nlohmann::json;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

// A positive number of milliseconds, as nanoseconds.
bool read_ms(const json& object, const char* key, std::uint64_t* out_ns, ErrorSink* errors) {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > 86'400'000) {
    report(errors, std::string("timers.") + key, "milliseconds between 1 and 86400000",
           link_common::describe_found(*it));
    return false;
  }
  *out_ns = it->get<std::uint64_t>() * kNsPerMs;
  return true;
}

}  // namespace

std::optional<SwitchConfig> parse_switch_config(Str config_json, ErrorSink* errors) {
  json root;
  try {
    root = json::parse(std::string_view(config_json.data, config_json.size));
  } catch (const json::exception&) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (!root.is_object()) {
    report(errors, "", "an object", link_common::describe_found(root));
    return std::nullopt;
  }
  SwitchConfig config;
  bool valid = true;
  static const std::set<std::string> kKeys = {"authorizedPasswords", "timers", "maxNeighbours",
                                              "handshakeLoadThreshold", "maxRoutes", "errorRatePerSecond"};
  for (const auto& [key, value] : root.items()) {
    if (!kKeys.count(key)) {
      report(errors, key,
             "authorizedPasswords, timers, maxNeighbours, handshakeLoadThreshold, maxRoutes or errorRatePerSecond",
             "an unknown key");
      valid = false;
    }
  }
  if (auto it = root.find("authorizedPasswords"); it != root.end()) {
    if (!it->is_array()) {
      report(errors, "authorizedPasswords", "an array of {\"password\": \"…\", \"login\": \"…\"}",
             link_common::describe_found(*it));
      valid = false;
    } else {
      std::set<std::string> logins;
      for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string path = "authorizedPasswords[" + std::to_string(i) + "]";
        const json& entry = (*it)[i];
        if (!entry.is_object() || !entry.contains("password") || !entry["password"].is_string() ||
            entry["password"].get<std::string>().empty()) {
          report(errors, path, "{\"password\": \"a non-empty string\", \"login\": \"optional\"}",
                 link_common::describe_found(entry));
          valid = false;
          continue;
        }
        PasswordEntry password{entry["password"].get<std::string>(), ""};
        for (const auto& [key, value] : entry.items()) {
          if (key != "password" && key != "login") {
            report(errors, path + "." + key, "password or login", "an unknown key");
            valid = false;
          }
        }
        if (auto login = entry.find("login"); login != entry.end()) {
          if (!login->is_string() || login->get<std::string>().size() > kMaxLoginSize) {
            report(errors, path + ".login", "a string of at most " + std::to_string(kMaxLoginSize) + " bytes",
                   link_common::describe_found(*login));
            valid = false;
            continue;
          }
          password.login = login->get<std::string>();
        }
        if (!logins.insert(password.login).second) {
          report(errors, path + ".login", "a login no other entry uses",
                 password.login.empty() ? "a second entry without a login" : link_common::describe_found(password.login));
          valid = false;
          continue;
        }
        config.authorized_passwords.push_back(std::move(password));
      }
    }
  }
  if (auto it = root.find("timers"); it != root.end()) {
    if (!it->is_object()) {
      report(errors, "timers", "an object of timers in milliseconds", link_common::describe_found(*it));
      valid = false;
    } else {
      static const std::set<std::string> kTimers = {"keepaliveMs", "handshakeRetryMs", "handshakeRetryMaxMs",
                                                    "unresponsiveMs", "goneMs"};
      for (const auto& [key, value] : it->items()) {
        if (!kTimers.count(key)) {
          report(errors, "timers." + key,
                 "keepaliveMs, handshakeRetryMs, handshakeRetryMaxMs, unresponsiveMs or goneMs", "an unknown key");
          valid = false;
        }
      }
      valid &= read_ms(*it, "keepaliveMs", &config.timers.keepalive_ns, errors);
      valid &= read_ms(*it, "handshakeRetryMs", &config.timers.handshake_retry_ns, errors);
      // Backoff of unanswered initiations: 12 retries unless set.
      config.timers.handshake_retry_max_ns = 12 * config.timers.handshake_retry_ns;
      valid &= read_ms(*it, "handshakeRetryMaxMs", &config.timers.handshake_retry_max_ns, errors);
      valid &= read_ms(*it, "unresponsiveMs", &config.timers.unresponsive_ns, errors);
      valid &= read_ms(*it, "goneMs", &config.timers.gone_ns, errors);
      // A silent path re-handshakes after a missed keepalive and a retry (timers.hpp).
      config.timers.silence_rehandshake_ns = config.timers.keepalive_ns + config.timers.handshake_retry_ns;
      if (const char* why = check_timers(config.timers); valid && why != nullptr) {
        report(errors, "timers",
               "keepaliveMs + handshakeRetryMs < unresponsiveMs < goneMs, handshakeRetryMs <= handshakeRetryMaxMs", why);
        valid = false;
      }
    }
  }
  if (auto it = root.find("maxNeighbours"); it != root.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > 65536) {
      report(errors, "maxNeighbours", "a number between 1 and 65536", link_common::describe_found(*it));
      valid = false;
    } else {
      config.limits.max_neighbours = it->get<std::uint32_t>();
    }
  }
  if (auto it = root.find("handshakeLoadThreshold"); it != root.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > 1'000'000) {
      report(errors, "handshakeLoadThreshold", "initiations per second between 1 and 1000000",
             link_common::describe_found(*it));
      valid = false;
    } else {
      config.handshake_load_threshold = it->get<std::uint32_t>();
    }
  }
  if (auto it = root.find("maxRoutes"); it != root.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > Fib::kMaxCapacity) {
      report(errors, "maxRoutes", "a number between 1 and " + std::to_string(Fib::kMaxCapacity),
             link_common::describe_found(*it));
      valid = false;
    } else {
      config.max_routes = it->get<std::uint32_t>();
    }
  }
  if (auto it = root.find("errorRatePerSecond"); it != root.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 100'000) {
      report(errors, "errorRatePerSecond", "error reports per second between 0 and 100000",
             link_common::describe_found(*it));
      valid = false;
    } else {
      config.error_rate_per_second = it->get<std::uint32_t>();
    }
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::sw
