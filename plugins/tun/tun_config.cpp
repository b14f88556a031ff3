// Reading the tun plugin's config object.
#include "tun_config.hpp"

#include <link_driver_config.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace mh::tun {

namespace {

using nlohmann::json;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

bool read_ms(const json& timers, const char* key, std::uint64_t* out_ns, ErrorSink* errors) {
  const auto it = timers.find(key);
  if (it == timers.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > kMaxTimerMs) {
    report(errors, std::string("timers.") + key, "milliseconds between 1 and 86400000", link_common::describe_found(*it));
    return false;
  }
  *out_ns = it->get<std::uint64_t>() * kNsPerMs;
  return true;
}

}  // namespace

bool valid_interface_name(const std::string& name) noexcept {
  if (name.empty() || name.size() > kMaxInterfaceNameSize || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == '%' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f' || c == '\0';
  });
}

std::optional<TunConfig> parse_tun_config(Str config_json, ErrorSink* errors) {
  const json root = link_common::parse_config_json(config_json);
  if (root.is_discarded()) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  TunConfig config;
  if (root.is_null()) return config;  // "plugins": {"tun": null} takes every default
  if (!root.is_object()) {
    report(errors, "", "an object", link_common::describe_found(root));
    return std::nullopt;
  }
  bool valid = true;
  for (const auto& [key, value] : root.items()) {
    if (key != "name" && key != "mtu" && key != "timers") {
      report(errors, key, "name, mtu or timers", "an unknown key");
      valid = false;
    }
  }
  if (const auto it = root.find("name"); it != root.end()) {
    if (!it->is_string() || !valid_interface_name(it->get<std::string>())) {
      report(errors, "name", "an interface name of 1 to 15 bytes without '/', ':', '%' or spaces",
             link_common::describe_found(*it));
      valid = false;
    } else {
      config.name = it->get<std::string>();
    }
  }
  if (const auto it = root.find("mtu"); it != root.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() < kDefaultMtu || it->get<std::uint64_t>() > kMaxMtu) {
      report(errors, "mtu", "a number between 1280 and 65535", link_common::describe_found(*it));
      valid = false;
    } else {
      config.mtu = it->get<std::uint32_t>();
    }
  }
  if (const auto it = root.find("timers"); it != root.end()) {
    if (!it->is_object()) {
      report(errors, "timers", "an object of timers in milliseconds", link_common::describe_found(*it));
      valid = false;
    } else {
      for (const auto& [key, value] : it->items()) {
        if (key != "unreachableMs" && key != "pathMtuMs") {
          report(errors, "timers." + key, "unreachableMs or pathMtuMs", "an unknown key");
          valid = false;
        }
      }
      valid &= read_ms(*it, "unreachableMs", &config.unreachable_ns, errors);
      valid &= read_ms(*it, "pathMtuMs", &config.path_mtu_ns, errors);
    }
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::tun
