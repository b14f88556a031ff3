// The config keys every link driver shares — "beacon", "discoveredPeers" and
// "hopEncryption" — parsed and validated once, for udp and eth alike. A driver parses its
// own keys and hands the whole object here too; this reads only the shared keys.
#pragma once

#include <meshhost/link.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/types.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mh::link_common {

// cjdns's beacon modes, with its numbers: 0 neither sends nor listens, 1 listens,
// 2 sends and listens.
enum class BeaconMode : std::uint8_t { off = 0, accept = 1, send = 2 };

inline constexpr std::uint32_t kDefaultBeaconIntervalMs = 5000;
inline constexpr std::uint32_t kMinBeaconIntervalMs = 100;
inline constexpr std::uint32_t kMaxBeaconIntervalMs = 3'600'000;  // an hour

struct BeaconSettings {
  BeaconMode mode = BeaconMode::off;
  std::uint32_t interval_ms = kDefaultBeaconIntervalMs;
  // Used when *we* initiate to a peer heard in a beacon (PeerHint::password / login).
  std::string password;
  std::string login;

  bool sends() const noexcept { return mode == BeaconMode::send; }
  bool accepts() const noexcept { return mode != BeaconMode::off; }
};

struct LinkDriverConfig {
  BeaconSettings beacon;
  // requirePassword by default: an unconfigured key becomes a neighbour only with one of
  // the switch's authorizedPasswords, as cjdns requires of every incoming peer. A UDP port
  // open to the Internet must not turn every stranger into a neighbour; an open LAN mesh
  // says "acceptAny" (docs/operations.md).
  DiscoveredPeerPolicy discovered_peer_policy = DiscoveredPeerPolicy::require_password;
  // With allow_list: the keys that may peer unconfigured. Small (operator-written), so
  // allows() scans it; it is asked once per handshake, never per frame.
  std::vector<PublicKey> allow_list;
  HopEncryption hop_encryption = HopEncryption::full;

  // Link::allows: true only with policy allow_list and `key` on the list.
  bool allows(const PublicKey& key) const noexcept;
  // The flags our beacons carry (kBeaconFlagRequiresPassword under require_password).
  std::uint8_t beacon_flags() const noexcept;
};

// The keys parse_link_driver_config reads, for a driver's unknown-key check.
bool is_link_driver_config_key(std::string_view key) noexcept;

// Reads the shared keys of `config` (a driver's whole config object; other keys are the
// driver's) into *out, starting from defaults. Reports every problem to `errors` with its
// path relative to the plugin's config ("beacon.intervalMs", "discoveredPeers.allowList[1]")
// and returns false if there was any; *out is then partly filled and must not be used.
// Throws only std::bad_alloc.
bool parse_link_driver_config(const nlohmann::json& config, ErrorSink* errors, LinkDriverConfig* out);

// ---- small helpers both drivers' config code uses ----

// Parses config text as the host's config reader does (comments allowed) without
// throwing: a discarded value on malformed text.
nlohmann::json parse_config_json(Str text);

// The "found" phrase of an error: a string quoted ("\"1.2.3.4\""), a number or boolean as
// written, otherwise the JSON type ("an object", "an array", "null"). Long strings are cut.
std::string describe_found(const nlohmann::json& value);

// An ErrorSink that keeps the first problem as one line "path: expected X, got Y", for
// create()'s Status (the host adds the plugin's name).
class FirstErrorLine final : public ErrorSink {
 public:
  void error(Str path, Str expected, Str found) noexcept override;
  const std::string& line() const noexcept { return line_; }
  bool any() const noexcept { return !line_.empty(); }

 private:
  std::string line_;
};

}  // namespace mh::link_common
