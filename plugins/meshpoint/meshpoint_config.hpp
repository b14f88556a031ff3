// The meshpoint plugin's config: which interface (a mesh point meshpoint creates on a phy,
// or an existing interface), whether meshpoint manages it through nl80211, the mesh it
// joins (mesh ID, channel, width), how often it reads station figures, and the keys every
// link driver shares. Pure: no sockets, so unit tests cover it without root.
#pragma once

#include "link_driver_config.hpp"
#include "nl80211.hpp"

#include <meshhost/plugin.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace mh::meshpoint {

inline constexpr std::uint32_t kDefaultStationIntervalMs = 1000;
inline constexpr std::uint32_t kMinStationIntervalMs = 100;
inline constexpr std::uint32_t kMaxStationIntervalMs = 60'000;
inline constexpr std::size_t kMaxMeshIdBytes = 32;  // IEEE 802.11 Mesh ID element

struct MeshpointConfig {
  // "interface": {"name", "phy", "create"}.
  std::string interface;  // the mesh point interface ("mesh0")
  std::string phy;        // with create: the radio to make it on ("phy0")
  bool create = false;    // meshpoint creates the interface at start and deletes it at stop
  // "manage": false uses the interface as it is: no nl80211 changes, no join; the data
  // path and (on an 802.11 interface) the station figures only.
  bool manage = true;
  // With manage: the mesh to join. frequency_mhz comes from "frequency" or "channel".
  MeshJoin join;
  std::uint32_t station_interval_ms = kDefaultStationIntervalMs;
  link_common::LinkDriverConfig shared;
  // The config text this was read from, to tell a SIGHUP what changed.
  std::string source;
};

// Reads `config` (the plugin's whole config object), reporting every problem to `errors`
// with its path; false if there was any. Throws only std::bad_alloc.
bool parse_meshpoint_config(const nlohmann::json& config, ErrorSink* errors, MeshpointConfig* out);
// The same from config text, for the descriptor (PluginEntry).
std::optional<MeshpointConfig> parse_meshpoint_config_text(Str config_json, ErrorSink* errors);

// The centre frequency of an IEEE 802.11 channel: 1–14 (2.4 GHz) and 32–177 (5 GHz);
// nullopt for any other number.
std::optional<std::uint32_t> channel_frequency_mhz(std::uint32_t channel) noexcept;
// The channel whose centre frequency is `mhz` (the inverse of channel_frequency_mhz).
std::optional<std::uint32_t> frequency_channel(std::uint32_t mhz) noexcept;

const char* channel_width_name(ChannelWidth width) noexcept;

}  // namespace mh::meshpoint
