// The tun plugin's config (`plugins.tun`, docs/operations.md): the interface's name and
// MTU, and the two hold times of the destination table.
#pragma once

#include <meshhost/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace mh::tun {

inline constexpr const char* kDefaultInterfaceName = "meshhost0";
inline constexpr std::size_t kMaxInterfaceNameSize = 15;  // IFNAMSIZ less the NUL
inline constexpr std::uint32_t kDefaultMtu = 1280;
inline constexpr std::uint32_t kMaxMtu = 65535;  // an IPv6 packet without jumbograms
inline constexpr std::uint64_t kNsPerMs = 1'000'000;
inline constexpr std::uint64_t kDefaultUnreachableMs = 3000;
inline constexpr std::uint64_t kDefaultPathMtuMs = 600'000;  // RFC 8201 §5.3's ten minutes
inline constexpr std::uint64_t kMaxTimerMs = 86'400'000;

struct TunConfig {
  std::string name = kDefaultInterfaceName;
  // The device's MTU: at least 1280; start() refuses more than the sessions carry.
  std::uint32_t mtu = kDefaultMtu;
  std::uint64_t unreachable_ns = kDefaultUnreachableMs * kNsPerMs;
  std::uint64_t path_mtu_ns = kDefaultPathMtuMs * kNsPerMs;
};

// Whether the kernel takes `name` as an interface name (dev_valid_name) and it names one
// interface (no "%d" template): 1 to 15 bytes, not "." or "..", no '/', ':', '%' or
// whitespace.
bool valid_interface_name(const std::string& name) noexcept;

// Parses and checks the plugin's config object (JSON with comments); every problem goes
// to `errors` with its path. nullopt when there was any. Throws only std::bad_alloc.
std::optional<TunConfig> parse_tun_config(Str config_json, ErrorSink* errors);

}  // namespace mh::tun
