// The iptunnel plugin's config, with cjdns's `ipTunnel` names and meaning (DESIGN §6; keys
// listed in docs/protocol.md, "iptunnel"). Parsing and checking only.
#pragma once

#include "ip_block.hpp"

#include <meshhost/plugin.hpp>
#include <meshhost/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mh::iptunnel {

// One address a pinned key owns: its Alloc block (address + alloc bits; the client's
// packets must come from inside it) and the route the client installs (prefix bits,
// 0 = default route).
struct PinnedAddress {
  IpBlock alloc;
  std::uint8_t prefix = 0;
};

// A pinned client key and what it is given. `addresses` empty for a family means that
// family comes from the pool (ip4Pool / ip6Pool) when one is configured.
struct AllowedConnection {
  PublicKey key;
  std::vector<PinnedAddress> addresses;
  std::string plan;  // for billing; "" for none
};

struct IptunnelConfig {
  // Gateway side. Entries with the same publicKey are merged (several addresses per key).
  std::vector<AllowedConnection> allowed;
  std::optional<IpBlock> ip4_pool;
  std::optional<IpBlock> ip6_pool;
  std::uint32_t lease_seconds = 3600;
  std::uint16_t mtu = 1280;
  std::vector<IpAddress> dns_servers;
  // Client side: gateways to ask for addresses.
  std::vector<PublicKey> outgoing;
};

inline constexpr std::uint32_t kMinLeaseSeconds = 60;
inline constexpr std::uint32_t kMaxLeaseSeconds = 7 * 86400;
inline constexpr std::uint16_t kMinMtu = 576;
inline constexpr std::uint16_t kMaxMtu = 9000;

// Parses and checks the plugin's config object (comments allowed); every problem goes to
// `errors` with its JSON path ("allowedConnections[2].ip4Alloc"). nullopt when there was
// any. Overlapping Alloc blocks (of different keys, or twice for one key) are errors; a
// pool may overlap pinned blocks (the gateway skips them when it leases).
std::optional<IptunnelConfig> parse_iptunnel_config(Str config_json, ErrorSink* errors);

}  // namespace mh::iptunnel
