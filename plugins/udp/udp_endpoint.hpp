// How the udp driver packs a socket address into an mh::Endpoint (opaque above the driver)
// and the "host:port" text forms the config and `meshctl` show. Pure: no sockets.
//
// Packing, all integers in network byte order:
//   IPv4: kind 4, size 6:  address (4) | port (2)
//   IPv6: kind 6, size 22: address (16) | port (2) | scope id (4, the interface index of a
//         link-local address, 0 otherwise)
// Bytes past `size` are zero, so two endpoints of one address compare equal byte for byte.
#pragma once

#include <meshhost/packet.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mh::udp {

inline constexpr std::uint8_t kEndpointKindIPv4 = 4;
inline constexpr std::uint8_t kEndpointKindIPv6 = 6;
inline constexpr std::size_t kPortSize = 2;
inline constexpr std::size_t kScopeIdSize = 4;
inline constexpr std::size_t kIPv4EndpointSize = 4 + kPortSize;                // 6
inline constexpr std::size_t kIPv6EndpointSize = 16 + kPortSize + kScopeIdSize;  // 22
// The longest text format_endpoint writes: "[" + IPv6 text (45) + "%" + scope (10 digits
// or an interface name, at most 15) + "]:" + port (5).
inline constexpr std::size_t kMaxEndpointTextSize = 1 + 45 + 1 + 15 + 2 + 5;

enum class Family : std::uint8_t { ipv4, ipv6 };

// The endpoint of an AF_INET or AF_INET6 socket address; nullopt for any other family or
// a length too short for it.
std::optional<Endpoint> endpoint_from_sockaddr(const sockaddr* address, socklen_t length) noexcept;

// The socket address an endpoint packs, written to *out; returns its length, or 0 when
// `endpoint` is not a udp endpoint (wrong kind or size).
socklen_t endpoint_to_sockaddr(const Endpoint& endpoint, sockaddr_storage* out) noexcept;

// Family of a udp endpoint; nullopt for anything else.
std::optional<Family> endpoint_family(const Endpoint& endpoint) noexcept;
std::uint16_t endpoint_port(const Endpoint& endpoint) noexcept;  // 0 for a non-udp endpoint
// The IPv4 0.0.0.0 or IPv6 :: address.
bool endpoint_is_wildcard(const Endpoint& endpoint) noexcept;

// Parses numeric "a.b.c.d:port" and "[ipv6]:port" (a zone, "[fe80::1%eth0]:port", as an
// interface name or index). No host names: a node's addresses never depend on DNS.
// nullopt for anything else, including a port above 65535 or a missing one.
std::optional<Endpoint> parse_host_port(std::string_view text);

// "192.0.2.1:11234", "[2001:db8::1]:11234", "[fe80::1%eth0]:11234" into out[0..capacity)
// with no terminator; returns the length, 0 when it does not fit or `endpoint` is not a
// udp endpoint.
std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) noexcept;
std::string format_endpoint(const Endpoint& endpoint);

// Byte-for-byte equality over the packed form.
bool same_endpoint(const Endpoint& a, const Endpoint& b) noexcept;

}  // namespace mh::udp
