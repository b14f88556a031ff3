// Address arithmetic for iptunnel's blocks and pools.
#include "ip_block.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace mh::iptunnel {

namespace {

// True when the first `bits` bits of a and b agree.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
  const unsigned whole = bits / 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (a[i] != b[i]) return false;
  }
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool contains(const IpBlock& block, const IpAddress& a) noexcept {
  return block.address.family == a.family && same_prefix(block.address.bytes, a.bytes, block.length);
}

bool overlaps(const IpBlock& a, const IpBlock& b) noexcept {
  if (a.address.family != b.address.family) return false;
  const unsigned shorter = a.length < b.length ? a.length : b.length;
  return same_prefix(a.address.bytes, b.address.bytes, shorter);
}

IpAddress network_of(const IpBlock& block) noexcept {
  IpAddress out = block.address;
  for (unsigned bit = block.length; bit < max_length(out.family); ++bit) {
    out.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return out;
}

IpAddress add_offset(const IpAddress& base, std::uint64_t offset) noexcept {
  IpAddress out = base;
  unsigned carry = 0;
  for (std::size_t i = address_size(out.family); i-- > 0;) {
    const unsigned sum = out.bytes[i] + static_cast<unsigned>(offset & 0xff) + carry;
    out.bytes[i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
    offset >>= 8;
  }
  return out;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
    a.family = Family::ip4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.family = Family::ip6;
    return a;
  }
  return std::nullopt;
}

std::optional<IpAddress> parse_ip(std::string_view text, Family family) {
  auto a = parse_ip(text);
  if (!a || a->family != family) return std::nullopt;
  return a;
}

std::optional<IpBlock> parse_block(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = parse_ip(text.substr(0, slash));
  if (!a) return std::nullopt;
  const auto digits = text.substr(slash + 1);
  unsigned length = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || length > max_length(a->family)) {
    return std::nullopt;
  }
  return IpBlock{*a, static_cast<std::uint8_t>(length)};
}

std::string format_ip(const IpAddress& a) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.family == Family::ip4 ? AF_INET : AF_INET6, a.bytes, text, sizeof text);
  return text;
}

std::string format_block(const IpBlock& b) { return format_ip(b.address) + "/" + std::to_string(b.length); }

}  // namespace mh::iptunnel
