// IPv4/IPv6 addresses and CIDR blocks as iptunnel uses them: one type for both families,
// so config, grants and the anti-spoof check share one containment rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mh::iptunnel {

enum class Family : std::uint8_t { ip4 = 4, ip6 = 6 };

inline constexpr std::size_t kIp4Size = 4;
inline constexpr std::size_t kIp6Size = 16;

constexpr std::size_t address_size(Family f) noexcept { return f == Family::ip4 ? kIp4Size : kIp6Size; }
constexpr std::uint8_t max_length(Family f) noexcept { return f == Family::ip4 ? 32 : 128; }

// An IPv4 address uses bytes[0..3]; the rest stay zero so == compares whole values.
struct IpAddress {
  Family family = Family::ip4;
  std::uint8_t bytes[kIp6Size] = {};

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// `address` with a prefix length; the block is every address sharing the first `length`
// bits. `address` need not be the block's first address (a client's own address inside
// its Alloc).
struct IpBlock {
  IpAddress address;
  std::uint8_t length = 0;

  friend bool operator==(const IpBlock&, const IpBlock&) = default;
};

// True when `a` lies in `block` (same family, first block.length bits equal).
bool contains(const IpBlock& block, const IpAddress& a) noexcept;
// True when two blocks share any address.
bool overlaps(const IpBlock& a, const IpBlock& b) noexcept;
// The block's first address (host bits cleared).
IpAddress network_of(const IpBlock& block) noexcept;
// `base` plus `offset` (big-endian add over the family's bytes, wrapping).
IpAddress add_offset(const IpAddress& base, std::uint64_t offset) noexcept;

// "100.64.0.10" or any IPv6 text inet_pton accepts; nullopt otherwise.
std::optional<IpAddress> parse_ip(std::string_view text);
std::optional<IpAddress> parse_ip(std::string_view text, Family family);
// "100.64.0.0/24", "2001:db8::/64"; nullopt on a bad address or length.
std::optional<IpBlock> parse_block(std::string_view text);
std::string format_ip(const IpAddress& a);
std::string format_block(const IpBlock& b);

}  // namespace mh::iptunnel
