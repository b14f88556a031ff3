// IPv6 headers and the ICMPv6 errors tun writes back to the kernel.
#include "ipv6.hpp"
#include "tun_test_support.hpp"

#include <doctest/doctest.h>

#include <cstring>

namespace {

using namespace mh;
using namespace mh::tun;
using fakes::Bytes;

ByteSpan span(const Bytes& b) { return {b.data(), b.size()}; }

std::uint16_t u16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]); }
std::uint32_t u32(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}
Address address_at(const Bytes& b, std::size_t at) {
  Address a;
  std::memcpy(a.bytes, b.data() + at, 16);
  return a;
}

const Address kSelf = fakes::address_with(0xfc, 1);
const Address kPeer = fakes::address_with(0xfc, 2);

}  // namespace

TEST_CASE("parse_ipv6 accepts exactly one whole IPv6 packet") {
  const Bytes packet = fakes::udp6(kSelf, kPeer, 5, 6, Bytes(100, 1), 33);
  const auto header = parse_ipv6(span(packet));
  REQUIRE(header);
  CHECK(same_address(header->source, kSelf));
  CHECK(same_address(header->destination, kPeer));
  CHECK(header->payload_length == 108);
  CHECK(header->next_header == 17);
  CHECK(header->hop_limit == 33);

  Bytes truncated = packet;
  truncated.pop_back();
  CHECK_FALSE(parse_ipv6(span(truncated)));
  Bytes padded = packet;
  padded.push_back(0);
  CHECK_FALSE(parse_ipv6(span(padded)));
  Bytes ipv4 = packet;
  ipv4[0] = 0x45;
  CHECK_FALSE(parse_ipv6(span(ipv4)));
  CHECK_FALSE(parse_ipv6(ByteSpan{packet.data(), 39}));
  CHECK_FALSE(parse_ipv6(ByteSpan{}));
}

TEST_CASE("the upper-layer checksum matches an independent computation and verifies to zero") {
  for (std::size_t size : {0, 1, 7, 8, 99, 1232, 65000}) {
    Bytes message(size);
    for (std::size_t i = 0; i < size; ++i) message[i] = static_cast<std::uint8_t>(i * 7 + 3);
    const std::uint16_t ours = upper_layer_checksum(kSelf, kPeer, kNextHeaderIcmpv6, span(message));
    CHECK(ours == fakes::reference_checksum(kSelf, kPeer, kNextHeaderIcmpv6, message));
    if (size >= 4) {
      message[2] = static_cast<std::uint8_t>(ours >> 8);
      message[3] = static_cast<std::uint8_t>(ours);
      // (the bytes replaced were part of the sum: recompute the reference with them zero)
      Bytes zeroed = message;
      zeroed[2] = zeroed[3] = 0;
      const std::uint16_t fixed = fakes::reference_checksum(kSelf, kPeer, kNextHeaderIcmpv6, zeroed);
      message[2] = static_cast<std::uint8_t>(fixed >> 8);
      message[3] = static_cast<std::uint8_t>(fixed);
      CHECK(upper_layer_checksum(kSelf, kPeer, kNextHeaderIcmpv6, span(message)) == 0);
    }
  }
}

TEST_CASE("Packet Too Big goes back to the sender, quotes what fits in 1280 and carries a correct checksum") {
  for (std::size_t size : {48, 600, 1281, 1400, 9000}) {
    CAPTURE(size);
    const Bytes invoking = fakes::udp6_of_size(kSelf, kPeer, size);
    Bytes out(2000, 0xee);
    const std::size_t n = build_packet_too_big(span(invoking), 1300, {out.data(), out.size()});
    const std::size_t quoted = std::min<std::size_t>(size, 1232);
    REQUIRE(n == 48 + quoted);
    CHECK(n <= 1280);
    out.resize(n);
    const auto header = parse_ipv6(span(out));
    REQUIRE(header);
    CHECK(same_address(header->source, kPeer));  // from where the packet was going
    CHECK(same_address(header->destination, kSelf));
    CHECK(header->next_header == 58);
    CHECK(out[40] == 2);  // Packet Too Big
    CHECK(out[41] == 0);
    CHECK(u32(out, 44) == 1300);
    CHECK(std::memcmp(out.data() + 48, invoking.data(), quoted) == 0);
    Bytes icmp(out.begin() + 40, out.end());
    const std::uint16_t written = u16(icmp, 2);
    icmp[2] = icmp[3] = 0;
    CHECK(written == fakes::reference_checksum(kPeer, kSelf, 58, icmp));
  }
}

TEST_CASE("Packet Too Big never advertises less than 1280") {
  const Bytes invoking = fakes::udp6_of_size(kSelf, kPeer, 1400);
  Bytes out(1280);
  REQUIRE(build_packet_too_big(span(invoking), 576, {out.data(), out.size()}) == 1280);
  CHECK(u32(out, 44) == 1280);
}

TEST_CASE("Destination Unreachable carries its code, the quote and a correct checksum") {
  const Bytes invoking = fakes::udp6_of_size(kSelf, kPeer, 200);
  Bytes out(1280);
  const std::size_t n = build_destination_unreachable(span(invoking), kIcmpv6CodeNoRoute, {out.data(), out.size()});
  REQUIRE(n == 248);
  out.resize(n);
  CHECK(out[40] == 1);
  CHECK(out[41] == 0);
  CHECK(u32(out, 44) == 0);
  CHECK(same_address(address_at(out, 8), kPeer));
  CHECK(same_address(address_at(out, 24), kSelf));
  CHECK(upper_layer_checksum(kPeer, kSelf, 58, ByteSpan{out.data() + 40, n - 40}) == 0);
}

TEST_CASE("an error is not built without room or from less than an IPv6 header") {
  const Bytes invoking = fakes::udp6_of_size(kSelf, kPeer, 200);
  Bytes out(247);
  CHECK(build_packet_too_big(span(invoking), 1300, {out.data(), out.size()}) == 0);
  CHECK(build_packet_too_big(ByteSpan{invoking.data(), 39}, 1300, {out.data(), out.size()}) == 0);
}

TEST_CASE("no error answers an ICMPv6 error, a multicast or an unspecified source") {
  Bytes error_packet = fakes::udp6_of_size(kSelf, kPeer, 100);
  error_packet[6] = 58;
  error_packet[40] = 1;  // Destination Unreachable
  CHECK_FALSE(may_answer_with_error(*parse_ipv6(span(error_packet)), span(error_packet)));
  error_packet[40] = 128;  // Echo Request
  CHECK(may_answer_with_error(*parse_ipv6(span(error_packet)), span(error_packet)));

  Bytes multicast = fakes::udp6(fakes::address_with(0xff, 1), kPeer, 1, 2, {});
  CHECK_FALSE(may_answer_with_error(*parse_ipv6(span(multicast)), span(multicast)));
  Bytes unspecified = fakes::udp6(Address{}, kPeer, 1, 2, {});
  CHECK_FALSE(may_answer_with_error(*parse_ipv6(span(unspecified)), span(unspecified)));
  Bytes normal = fakes::udp6(kSelf, kPeer, 1, 2, {});
  CHECK(may_answer_with_error(*parse_ipv6(span(normal)), span(normal)));
}
