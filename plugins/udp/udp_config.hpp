// The udp driver's config: the sockets to bind, the peers to connect to (cjdroute.conf's
// `connectTo` shape), and the keys every link driver shares (link_common). Pure parsing
// and validation; every problem goes to the ErrorSink with its path.
#pragma once

#include "link_driver_config.hpp"
#include "udp_endpoint.hpp"

#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mh::udp {

inline constexpr std::uint16_t kDefaultPort = 11234;  // docs/protocol.md, registry
// Without "bind": every IPv4 and IPv6 address on the default port (a host without IPv6
// runs on IPv4 alone; see UdpPlugin::start).
inline constexpr const char* kDefaultBinds[] = {"0.0.0.0:11234", "[::]:11234"};

// A configured neighbour: `connectTo["192.0.2.1:11234"]`.
struct ConnectTo {
  std::string address_text;  // as written, for messages
  Endpoint endpoint;
  PublicKey key;
  std::string password;  // "" for none
  std::string login;     // "" for none
  std::string peer_name;
};

struct UdpConfig {
  std::vector<Endpoint> bind;
  bool bind_is_default = true;  // "bind" absent: a missing address family is not an error
  std::vector<ConnectTo> connect_to;
  // SO_MARK on every socket (0: none), so policy routing can keep the mesh's own packets
  // out of a tunnel the node routes through (DESIGN §6). Needs CAP_NET_ADMIN.
  std::uint32_t fwmark = 0;
  link_common::LinkDriverConfig common;
  nlohmann::json source;  // the config as parsed, to tell an unchanged reload
};

// Parses and validates a udp config object (JSON text with comments), reporting every
// problem to `errors`; nullopt if there was any. Throws only std::bad_alloc.
std::optional<UdpConfig> parse_udp_config(Str text, ErrorSink* errors);

// The JSON Schema text the descriptor publishes.
extern const char* const kConfigSchema;

}  // namespace mh::udp
