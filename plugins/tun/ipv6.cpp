// IPv6 headers and ICMPv6 errors: see ipv6.hpp.
#include "ipv6.hpp"

#include <meshhost/byte_order.hpp>

#include <algorithm>
#include <cstring>

namespace mh::tun {

namespace {

constexpr std::size_t kPayloadLengthOffset = 4;
constexpr std::size_t kNextHeaderOffset = 6;
constexpr std::size_t kHopLimitOffset = 7;
constexpr std::size_t kSourceOffset = 8;
constexpr std::size_t kDestinationOffset = kSourceOffset + kAddressSize;  // 24
constexpr std::size_t kIcmpv6ChecksumOffset = 2;


// Adds big-endian 16-bit words to a 32-bit accumulator (an odd last byte is padded with 0).
std::uint32_t add_words(std::uint32_t sum, const std::uint8_t* p, std::size_t n) noexcept {
  for (; n >= 2; p += 2, n -= 2) sum += get_u16(p);
  if (n == 1) sum += static_cast<std::uint32_t>(p[0]) << 8;
  // Folds now and then: a 64 KiB message cannot overflow 32 bits, but keep it obviously safe.
  return (sum & 0xffffu) + (sum >> 16);
}

bool is_multicast(const Address& a) noexcept { return a.bytes[0] == 0xff; }

bool is_unspecified(const Address& a) noexcept {
  return std::all_of(a.bytes, a.bytes + kAddressSize, [](std::uint8_t b) { return b == 0; });
}

std::size_t build_error(std::uint8_t type, std::uint8_t code, std::uint32_t word, ByteSpan invoking,
                        MutableByteSpan out) noexcept {
  if (invoking.data == nullptr || invoking.size < kIpv6HeaderSize) return 0;
  const std::size_t quote = std::min(invoking.size, kIcmpv6MaxQuote);
  const std::size_t message = kIcmpv6ErrorHeaderSize + quote;
  const std::size_t total = kIpv6HeaderSize + message;
  if (out.data == nullptr || out.size < total) return 0;

  Address source, destination;  // swapped: the error goes back to the invoking packet's source
  std::memcpy(source.bytes, invoking.data + kDestinationOffset, kAddressSize);
  std::memcpy(destination.bytes, invoking.data + kSourceOffset, kAddressSize);

  std::uint8_t* ip = out.data;
  std::memset(ip, 0, kIpv6HeaderSize);
  ip[0] = kIpv6Version << 4;
  put_u16(ip + kPayloadLengthOffset, static_cast<std::uint16_t>(message));
  ip[kNextHeaderOffset] = kNextHeaderIcmpv6;
  ip[kHopLimitOffset] = kIcmpv6ErrorHopLimit;
  std::memcpy(ip + kSourceOffset, source.bytes, kAddressSize);
  std::memcpy(ip + kDestinationOffset, destination.bytes, kAddressSize);

  std::uint8_t* icmp = ip + kIpv6HeaderSize;
  icmp[0] = type;
  icmp[1] = code;
  put_u16(icmp + kIcmpv6ChecksumOffset, 0);
  put_u32(icmp + 4, word);
  // memmove: `invoking` may overlap `out` when a caller reuses one buffer.
  std::memmove(icmp + kIcmpv6ErrorHeaderSize, invoking.data, quote);
  put_u16(icmp + kIcmpv6ChecksumOffset,
          upper_layer_checksum(source, destination, kNextHeaderIcmpv6, ByteSpan{icmp, message}));
  return total;
}

}  // namespace

std::optional<Ipv6Header> parse_ipv6(ByteSpan packet) noexcept {
  if (packet.data == nullptr || packet.size < kIpv6HeaderSize) return std::nullopt;
  const std::uint8_t* p = packet.data;
  if ((p[0] >> 4) != kIpv6Version) return std::nullopt;
  Ipv6Header header;
  header.payload_length = get_u16(p + kPayloadLengthOffset);
  if (static_cast<std::size_t>(header.payload_length) + kIpv6HeaderSize != packet.size) return std::nullopt;
  header.next_header = p[kNextHeaderOffset];
  header.hop_limit = p[kHopLimitOffset];
  std::memcpy(header.source.bytes, p + kSourceOffset, kAddressSize);
  std::memcpy(header.destination.bytes, p + kDestinationOffset, kAddressSize);
  return header;
}

bool same_address(const Address& a, const Address& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0;
}

std::uint16_t upper_layer_checksum(const Address& source, const Address& destination, std::uint8_t next_header,
                                   ByteSpan message) noexcept {
  std::uint32_t sum = 0;
  sum = add_words(sum, source.bytes, kAddressSize);
  sum = add_words(sum, destination.bytes, kAddressSize);
  const std::uint32_t length = static_cast<std::uint32_t>(message.size);
  sum += length >> 16;
  sum += length & 0xffffu;
  sum += next_header;  // after three zero bytes: the low byte of the last 32-bit word
  sum = add_words(sum, message.data, message.data == nullptr ? 0 : message.size);
  while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffffu);
}

bool may_answer_with_error(const Ipv6Header& header, ByteSpan invoking) noexcept {
  if (is_multicast(header.source) || is_unspecified(header.source)) return false;
  if (is_multicast(header.destination)) return false;
  if (header.next_header == kNextHeaderIcmpv6) {
    // An ICMPv6 message too short to carry a type is answered by no one either.
    if (invoking.size <= kIpv6HeaderSize) return false;
    if (invoking.data[kIpv6HeaderSize] < kIcmpv6FirstInformational) return false;
  }
  return true;
}

std::size_t build_packet_too_big(ByteSpan invoking, std::uint32_t mtu, MutableByteSpan out) noexcept {
  return build_error(kIcmpv6PacketTooBig, 0, std::max(mtu, kIpv6MinMtu), invoking, out);
}

std::size_t build_destination_unreachable(ByteSpan invoking, std::uint8_t code, MutableByteSpan out) noexcept {
  return build_error(kIcmpv6DestinationUnreachable, code, 0, invoking, out);
}

}  // namespace mh::tun
