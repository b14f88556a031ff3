// The meshpoint plugin's config: see meshpoint_config.hpp.
#include "meshpoint_config.hpp"

#include <nlohmann/json.hpp>

#include <net/if.h>

#include <algorithm>

namespace mh::meshpoint {

namespace {

using nlohmann::json;

constexpr const char* kTopKeys =
    "one of \"interface\", \"manage\", \"meshId\", \"frequency\", \"channel\", \"channelWidth\", "
    "\"stationIntervalMs\", \"kernelForwarding\", \"beacon\", \"discoveredPeers\", \"hopEncryption\"";
constexpr const char* kInterfaceExpected =
    "an object like {\"name\": \"mesh0\", \"phy\": \"phy0\", \"create\": true} or {\"name\": \"wlan1\"}";
constexpr std::size_t kMaxPhyNameBytes = 31;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

bool has_space_or_slash(const std::string& name) {
  return std::any_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  });
}

// What the kernel accepts as an interface name (dev_valid_name): 1..15 bytes, not "." or
// "..", no '/', ':' or whitespace.
bool valid_interface_name(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return !has_space_or_slash(name) && name.find(':') == std::string::npos;
}

std::optional<std::int64_t> integer(const json& value) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) return std::nullopt;
  return value.get<std::int64_t>();
}

bool parse_interface(const json& value, ErrorSink* errors, MeshpointConfig* out) {
  if (!value.is_object()) {
    report(errors, "interface", kInterfaceExpected, link_common::describe_found(value));
    return false;
  }
  bool valid = true;
  bool have_name = false, have_phy = false;
  for (const auto& [key, item] : value.items()) {
    const std::string path = "interface." + key;
    if (key == "name") {
      have_name = true;
      if (!item.is_string() || !valid_interface_name(item.get_ref<const std::string&>())) {
        report(errors, path, "an interface name (1 to 15 characters, no '/', ':' or spaces)",
               link_common::describe_found(item));
        valid = false;
      } else {
        out->interface = item.get<std::string>();
      }
    } else if (key == "phy") {
      have_phy = true;
      const bool ok = item.is_string() && !item.get_ref<const std::string&>().empty() &&
                      item.get_ref<const std::string&>().size() <= kMaxPhyNameBytes &&
                      !has_space_or_slash(item.get_ref<const std::string&>());
      if (!ok) {
        report(errors, path, "a radio's name as `iw phy` lists it, like \"phy0\"", link_common::describe_found(item));
        valid = false;
      } else {
        out->phy = item.get<std::string>();
      }
    } else if (key == "create") {
      if (!item.is_boolean()) {
        report(errors, path, "true or false", link_common::describe_found(item));
        valid = false;
      } else {
        out->create = item.get<bool>();
      }
    } else {
      report(errors, path, "one of \"name\", \"phy\", \"create\"", "an unknown key");
      valid = false;
    }
  }
  if (!have_name) {
    report(errors, "interface.name", "the mesh point interface's name, like \"mesh0\"", "nothing (the key is required)");
    valid = false;
  }
  if (valid && out->create && !have_phy) {
    report(errors, "interface.phy", "the radio to create the interface on, like \"phy0\" (required with create)",
           "nothing");
    valid = false;
  }
  if (valid && have_phy && !out->create) {
    report(errors, "interface.phy", "a phy only with \"create\": true (an existing interface already has its radio)",
           "\"" + out->phy + "\"");
    valid = false;
  }
  return valid;
}

}  // namespace

std::optional<std::uint32_t> channel_frequency_mhz(std::uint32_t channel) noexcept {
  if (channel >= 1 && channel <= 13) return 2407 + 5 * channel;
  if (channel == 14) return 2484;
  if (channel >= 32 && channel <= 177) return 5000 + 5 * channel;
  return std::nullopt;
}

std::optional<std::uint32_t> frequency_channel(std::uint32_t mhz) noexcept {
  if (mhz == 2484) return 14;
  if (mhz >= 2412 && mhz <= 2472 && (mhz - 2407) % 5 == 0) return (mhz - 2407) / 5;
  if (mhz >= 5160 && mhz <= 5885 && mhz % 5 == 0) return (mhz - 5000) / 5;
  return std::nullopt;
}

const char* channel_width_name(ChannelWidth width) noexcept {
  switch (width) {
    case ChannelWidth::mhz20_noht: return "20noht";
    case ChannelWidth::mhz20: return "20";
    case ChannelWidth::mhz40: return "40";
    case ChannelWidth::mhz80: return "80";
  }
  return "20";
}

bool parse_meshpoint_config(const json& config, ErrorSink* errors, MeshpointConfig* out) {
  *out = MeshpointConfig{};
  if (!config.is_object()) {
    report(errors, "", "an object like {\"interface\": {\"name\": \"mesh0\", \"phy\": \"phy0\", \"create\": true}, "
                       "\"meshId\": \"community\", \"channel\": 1}",
           config.is_discarded() ? "text that is not JSON" : link_common::describe_found(config));
    return false;
  }
  bool valid = link_common::parse_link_driver_config(config, errors, &out->shared);
  bool have_interface = false, have_mesh_id = false, have_frequency = false, have_channel = false,
       have_width = false, have_forwarding = false;
  // By default the kernel does not forward between mesh stations: meshhost's router picks
  // every hop, so each radio hop is a neighbour with station figures of its own.
  out->join.kernel_forwarding = 0;
  for (const auto& [key, value] : config.items()) {
    if (key == "interface") {
      have_interface = true;
      valid = parse_interface(value, errors, out) && valid;
    } else if (key == "manage") {
      if (!value.is_boolean()) {
        report(errors, key, "true or false", link_common::describe_found(value));
        valid = false;
      } else {
        out->manage = value.get<bool>();
      }
    } else if (key == "meshId") {
      have_mesh_id = true;
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          value.get_ref<const std::string&>().size() > kMaxMeshIdBytes) {
        report(errors, key, "a mesh ID of 1 to 32 bytes", link_common::describe_found(value));
        valid = false;
      } else {
        out->join.mesh_id = value.get<std::string>();
      }
    } else if (key == "frequency") {
      have_frequency = true;
      const auto mhz = integer(value);
      if (!mhz || *mhz < 0 || !frequency_channel(static_cast<std::uint32_t>(*mhz))) {
        report(errors, key, "a channel's centre frequency in MHz (2412–2484 or 5160–5885, like 2412 or 5180)",
               link_common::describe_found(value));
        valid = false;
      } else {
        out->join.frequency_mhz = static_cast<std::uint32_t>(*mhz);
      }
    } else if (key == "channel") {
      have_channel = true;
      const auto channel = integer(value);
      const auto mhz = channel && *channel > 0 ? channel_frequency_mhz(static_cast<std::uint32_t>(*channel)) : std::nullopt;
      if (!mhz) {
        report(errors, key, "an 802.11 channel number (1–14 or 32–177, like 1 or 36)", link_common::describe_found(value));
        valid = false;
      } else {
        out->join.frequency_mhz = *mhz;
      }
    } else if (key == "channelWidth") {
      have_width = true;
      if (!value.is_string() || !parse_channel_width(value.get<std::string>(), &out->join.width)) {
        report(errors, key, "\"20noht\", \"20\", \"40\" or \"80\"", link_common::describe_found(value));
        valid = false;
      }
    } else if (key == "kernelForwarding") {
      have_forwarding = true;
      if (!value.is_boolean()) {
        report(errors, key, "true or false", link_common::describe_found(value));
        valid = false;
      } else {
        out->join.kernel_forwarding = value.get<bool>() ? 1 : 0;
      }
    } else if (key == "stationIntervalMs") {
      const auto ms = integer(value);
      if (!ms || *ms < kMinStationIntervalMs || *ms > kMaxStationIntervalMs) {
        report(errors, key, "milliseconds from 100 to 60000", link_common::describe_found(value));
        valid = false;
      } else {
        out->station_interval_ms = static_cast<std::uint32_t>(*ms);
      }
    } else if (!link_common::is_link_driver_config_key(key)) {
      report(errors, key, kTopKeys, "an unknown key");
      valid = false;
    }
  }
  if (!have_interface) {
    report(errors, "interface", kInterfaceExpected, "nothing (the key is required)");
    return false;
  }
  if (!valid) return false;

  if (!out->manage) {
    // An unmanaged interface is used as it is: a mesh setting here would silently do nothing.
    if (out->create) {
      report(errors, "interface.create", "no create with \"manage\": false (an unmanaged interface must exist)", "true");
      valid = false;
    }
    for (const auto& [key, given] : {std::pair{"meshId", have_mesh_id}, std::pair{"frequency", have_frequency},
                                     std::pair{"channel", have_channel}, std::pair{"channelWidth", have_width},
                                     std::pair{"kernelForwarding", have_forwarding}}) {
      if (!given) continue;
      report(errors, key, "nothing with \"manage\": false (meshpoint joins no mesh on an unmanaged interface)",
             link_common::describe_found(config.at(key)));
      valid = false;
    }
    return valid;
  }
  if (!have_mesh_id) {
    report(errors, "meshId", "the mesh ID to join, 1 to 32 bytes (every node of the mesh uses the same)",
           "nothing (required unless \"manage\" is false)");
    valid = false;
  }
  if (have_frequency && have_channel) {
    report(errors, "channel", "either \"frequency\" or \"channel\", not both", link_common::describe_found(config.at("channel")));
    valid = false;
  } else if (!have_frequency && !have_channel) {
    report(errors, "channel", "the channel to join on (\"channel\": 1, or \"frequency\": 2412)",
           "nothing (required unless \"manage\" is false)");
    valid = false;
  }
  // A 40 or 80 MHz channel needs a block the primary channel belongs to (no 80 MHz on
  // 2.4 GHz, no 40 MHz pair for channel 14 or 165): the same rule iw and the join use.
  if (valid && center_frequency_mhz(out->join.frequency_mhz, out->join.width) == 0) {
    report(errors, "channelWidth",
           std::string("a width the channel has (\"20\" on channel ") +
               std::to_string(frequency_channel(out->join.frequency_mhz).value_or(0)) + "; 80 MHz only on 5 GHz)",
           std::string("\"") + channel_width_name(out->join.width) + "\"");
    valid = false;
  }
  return valid;
}

std::optional<MeshpointConfig> parse_meshpoint_config_text(Str config_json, ErrorSink* errors) {
  MeshpointConfig config;
  if (!parse_meshpoint_config(link_common::parse_config_json(config_json), errors, &config)) return std::nullopt;
  config.source.assign(config_json.data == nullptr ? "" : config_json.data, config_json.size);
  return config;
}

}  // namespace mh::meshpoint
