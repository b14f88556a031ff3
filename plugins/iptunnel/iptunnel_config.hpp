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

// A gateway this node asks for addresses; of the healthy ones the lowest `priority` carries
// the default route.
struct OutgoingConnection {
  PublicKey key;
  std::uint32_t priority = 100;
};

// The gateway's NAT uplink and how its clients' IPv6 reaches the Internet.
struct NatConfig {
  std::string uplink;      // IPv4 masquerade out of this interface; "" for no NAT
  bool ndp_proxy = false;  // answer neighbour solicitations for clients' IPv6 on the uplink
};

// Client-side timers (ns): how often to ask, how often to check a gateway is alive, and
// how long one may stay silent before the default route moves to another.
struct ClientTimers {
  std::uint64_t request_retry_ns = 2'000'000'000;
  std::uint64_t probe_interval_ns = 2'000'000'000;
  std::uint64_t gateway_dead_ns = 6'000'000'000;
  // A gateway that denied us, or whose grant we refused, is asked again after this.
  std::uint64_t denied_retry_ns = 30'000'000'000;
};

struct IptunnelConfig {
  // Gateway side. Entries with the same publicKey are merged (several addresses per key).
  std::vector<AllowedConnection> allowed;
  std::optional<IpBlock> ip4_pool;
  std::optional<IpBlock> ip6_pool;
  std::uint32_t lease_seconds = 3600;
  std::uint16_t mtu = 1280;
  std::vector<IpAddress> dns_servers;
  std::string gateway_tun = "mhgw0";  // the gateway's TUN, towards its clients
  NatConfig nat;
  bool client_isolation = false;     // clients may not reach each other
  bool block_smtp = false;           // no TCP port 25 from clients
  bool ipv6_inbound_open = false;    // let unsolicited inbound IPv6 reach clients
  bool ipv4_inbound_open = false;    // the same for IPv4 (routed, not NATed, client addresses)
  // Client side: gateways to ask for addresses.
  std::vector<OutgoingConnection> outgoing;
  std::string client_tun = "mhup0";  // the client's TUN, towards its gateways
  std::uint32_t fwmark = 27976;       // the mesh's own sockets carry it (udp "fwmark"): they bypass the tunnel
  std::uint32_t routing_table = 27976;
  std::uint32_t rule_priority = 27970;  // the two policy rules take this and the next
  ClientTimers timers;

  // The roles this node plays: a gateway when allowedConnections (even empty), a pool or
  // nat is configured; a client when it names gateways. Both at once is a chained ISP.
  bool gateway_role = false;
  bool gateway() const noexcept { return gateway_role; }
  bool client() const noexcept { return !outgoing.empty(); }
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
