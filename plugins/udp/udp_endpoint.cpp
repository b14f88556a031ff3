// Endpoint packing and host:port text for the udp driver: see udp_endpoint.hpp.
#include "udp_endpoint.hpp"

#include <meshhost/byte_order.hpp>

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace mh::udp {

namespace {

constexpr std::size_t kIPv4AddressSize = 4;
constexpr std::size_t kIPv6AddressSize = 16;


std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<Endpoint> endpoint_from_sockaddr(const sockaddr* address, socklen_t length) noexcept {
  if (address == nullptr) return std::nullopt;
  Endpoint ep;
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    ep.kind = kEndpointKindIPv4;
    ep.size = kIPv4EndpointSize;
    std::memcpy(ep.bytes, &in->sin_addr, kIPv4AddressSize);
    std::memcpy(ep.bytes + kIPv4AddressSize, &in->sin_port, kPortSize);  // already big-endian
    return ep;
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    ep.kind = kEndpointKindIPv6;
    ep.size = kIPv6EndpointSize;
    std::memcpy(ep.bytes, &in6->sin6_addr, kIPv6AddressSize);
    std::memcpy(ep.bytes + kIPv6AddressSize, &in6->sin6_port, kPortSize);
    put_u32(ep.bytes + kIPv6AddressSize + kPortSize, in6->sin6_scope_id);
    return ep;
  }
  return std::nullopt;
}

socklen_t endpoint_to_sockaddr(const Endpoint& endpoint, sockaddr_storage* out) noexcept {
  std::memset(out, 0, sizeof *out);
  if (endpoint.kind == kEndpointKindIPv4 && endpoint.size == kIPv4EndpointSize) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, endpoint.bytes, kIPv4AddressSize);
    std::memcpy(&in->sin_port, endpoint.bytes + kIPv4AddressSize, kPortSize);
    return sizeof(sockaddr_in);
  }
  if (endpoint.kind == kEndpointKindIPv6 && endpoint.size == kIPv6EndpointSize) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, endpoint.bytes, kIPv6AddressSize);
    std::memcpy(&in6->sin6_port, endpoint.bytes + kIPv6AddressSize, kPortSize);
    in6->sin6_scope_id = get_u32(endpoint.bytes + kIPv6AddressSize + kPortSize);
    return sizeof(sockaddr_in6);
  }
  return 0;
}

std::optional<Family> endpoint_family(const Endpoint& endpoint) noexcept {
  if (endpoint.kind == kEndpointKindIPv4 && endpoint.size == kIPv4EndpointSize) return Family::ipv4;
  if (endpoint.kind == kEndpointKindIPv6 && endpoint.size == kIPv6EndpointSize) return Family::ipv6;
  return std::nullopt;
}

std::uint16_t endpoint_port(const Endpoint& endpoint) noexcept {
  const auto family = endpoint_family(endpoint);
  if (!family) return 0;
  return get_u16(endpoint.bytes + (*family == Family::ipv4 ? kIPv4AddressSize : kIPv6AddressSize));
}

bool endpoint_is_wildcard(const Endpoint& endpoint) noexcept {
  const auto family = endpoint_family(endpoint);
  if (!family) return false;
  const std::size_t n = *family == Family::ipv4 ? kIPv4AddressSize : kIPv6AddressSize;
  for (std::size_t i = 0; i < n; ++i) {
    if (endpoint.bytes[i] != 0) return false;
  }
  return true;
}

std::optional<Endpoint> parse_host_port(std::string_view text) {
  if (text.empty()) return std::nullopt;
  sockaddr_storage storage{};
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    const auto port = parse_port(text.substr(close + 2));
    if (!port) return std::nullopt;
    std::string_view host = text.substr(1, close - 1);
    std::uint32_t scope_id = 0;
    if (const std::size_t percent = host.find('%'); percent != std::string_view::npos) {
      const std::string zone(host.substr(percent + 1));
      host = host.substr(0, percent);
      if (zone.empty() || zone.size() >= IF_NAMESIZE) return std::nullopt;
      unsigned index = 0;
      const auto [end, error] = std::from_chars(zone.data(), zone.data() + zone.size(), index);
      if (error == std::errc() && end == zone.data() + zone.size()) {
        scope_id = index;
      } else {
        scope_id = ::if_nametoindex(zone.c_str());
      }
      if (scope_id == 0) return std::nullopt;
    }
    const std::string host_text(host);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (host_text.empty() || ::inet_pton(AF_INET6, host_text.c_str(), &in6->sin6_addr) != 1) return std::nullopt;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(*port);
    in6->sin6_scope_id = scope_id;
    return endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(in6), sizeof *in6);
  }
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto port = parse_port(text.substr(colon + 1));
  if (!port) return std::nullopt;
  const std::string host_text(text.substr(0, colon));
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  // inet_pton takes only dotted quads (no "1", no octal), which is what a config means.
  if (::inet_pton(AF_INET, host_text.c_str(), &in->sin_addr) != 1) return std::nullopt;
  in->sin_family = AF_INET;
  in->sin_port = htons(*port);
  return endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(in), sizeof *in);
}

std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) noexcept {
  const auto family = endpoint_family(endpoint);
  if (!family || out == nullptr) return 0;
  char text[kMaxEndpointTextSize + 1];
  char host[INET6_ADDRSTRLEN];
  int n = 0;
  const std::uint16_t port = endpoint_port(endpoint);
  if (*family == Family::ipv4) {
    if (::inet_ntop(AF_INET, endpoint.bytes, host, sizeof host) == nullptr) return 0;
    n = std::snprintf(text, sizeof text, "%s:%u", host, static_cast<unsigned>(port));
  } else {
    if (::inet_ntop(AF_INET6, endpoint.bytes, host, sizeof host) == nullptr) return 0;
    const std::uint32_t scope_id = get_u32(endpoint.bytes + kIPv6AddressSize + kPortSize);
    if (scope_id == 0) {
      n = std::snprintf(text, sizeof text, "[%s]:%u", host, static_cast<unsigned>(port));
    } else {
      char name[IF_NAMESIZE];
      if (::if_indextoname(scope_id, name) != nullptr) {
        n = std::snprintf(text, sizeof text, "[%s%%%s]:%u", host, name, static_cast<unsigned>(port));
      } else {
        n = std::snprintf(text, sizeof text, "[%s%%%u]:%u", host, scope_id, static_cast<unsigned>(port));
      }
    }
  }
  if (n <= 0 || static_cast<std::size_t>(n) > capacity) return 0;
  std::memcpy(out, text, static_cast<std::size_t>(n));
  return static_cast<std::size_t>(n);
}

std::string format_endpoint(const Endpoint& endpoint) {
  char text[kMaxEndpointTextSize];
  return std::string(text, format_endpoint(endpoint, text, sizeof text));
}

bool same_endpoint(const Endpoint& a, const Endpoint& b) noexcept {
  return a.kind == b.kind && a.size == b.size && std::memcmp(a.bytes, b.bytes, a.size) == 0;
}

}  // namespace mh::udp
