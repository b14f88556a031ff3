// iptunnel messages: every type round-trips, and malformed input is refused with a reason.
#include "iptunnel_messages.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

namespace {

using namespace mh;
using namespace mh::iptunnel;

IpAddress ip(const char* text) { return *parse_ip(text); }

ParseError parse(const std::vector<std::uint8_t>& bytes, Message* out) {
  return parse_message(ByteSpan{bytes.data(), bytes.size()}, out);
}

std::vector<std::uint8_t> encode_grant(const Grant& g) {
  std::vector<std::uint8_t> buf(kMaxControlSize);
  const std::size_t n = write_grant(g, MutableByteSpan{buf.data(), buf.size()});
  buf.resize(n);
  return buf;
}

Grant sample_grant() {
  Grant g;
  g.nonce = 0x01020304;
  g.mtu = 1280;
  g.lease_seconds = 3600;
  g.address_count = 2;
  g.addresses[0] = GrantedAddress{ip("100.64.0.10"), 0, 32};
  g.addresses[1] = GrantedAddress{ip("2001:db8:1::10"), 0, 64};
  g.dns_count = 2;
  g.dns[0] = ip("9.9.9.9");
  g.dns[1] = ip("2620:fe::fe");
  return g;
}

std::vector<std::uint8_t> ip4_packet(const char* src) {
  std::vector<std::uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  std::memcpy(p.data() + 12, ip(src).bytes, 4);
  return p;
}

std::vector<std::uint8_t> ip6_packet(const char* src, std::size_t payload) {
  std::vector<std::uint8_t> p(40 + payload, 0);
  p[0] = 0x60;
  p[4] = static_cast<std::uint8_t>(payload >> 8);
  p[5] = static_cast<std::uint8_t>(payload);
  std::memcpy(p.data() + 8, ip(src).bytes, 16);
  return p;
}

}  // namespace

TEST_CASE("a grant round-trips with both families and DNS servers") {
  const Grant g = sample_grant();
  const auto bytes = encode_grant(g);
  // 16 fixed + (4+4) + (4+16) + (1+4) + (1+16)
  CHECK(bytes.size() == 16 + 8 + 20 + 5 + 17);
  Message m;
  REQUIRE(parse(bytes, &m) == ParseError::ok);
  CHECK(m.type == MessageType::grant);
  CHECK(m.grant.nonce == 0x01020304);
  CHECK(m.grant.mtu == 1280);
  CHECK(m.grant.lease_seconds == 3600);
  REQUIRE(m.grant.address_count == 2);
  CHECK(m.grant.addresses[0].address == ip("100.64.0.10"));
  CHECK(m.grant.addresses[0].alloc == 32);
  CHECK(m.grant.addresses[1].address == ip("2001:db8:1::10"));
  CHECK(m.grant.addresses[1].alloc == 64);
  CHECK(m.grant.addresses[1].prefix == 0);
  REQUIRE(m.grant.dns_count == 2);
  CHECK(m.grant.dns[1] == ip("2620:fe::fe"));
}

TEST_CASE("request, renew and release round-trip and echo the nonce") {
  for (auto type : {MessageType::lease_request, MessageType::renew, MessageType::release}) {
    std::uint8_t buf[kControlSize];
    REQUIRE(write_control(type, ControlMessage{kWantIp4 | kWantIp6, 0xdeadbeef}, MutableByteSpan{buf, sizeof buf}) ==
            kControlSize);
    Message m;
    REQUIRE(parse_message(ByteSpan{buf, sizeof buf}, &m) == ParseError::ok);
    CHECK(m.type == type);
    CHECK(m.control.nonce == 0xdeadbeef);
    CHECK(m.control.families == (kWantIp4 | kWantIp6));
  }
  std::uint8_t small[kControlSize - 1];
  CHECK(write_control(MessageType::renew, {}, MutableByteSpan{small, sizeof small}) == 0);
}

TEST_CASE("a denial carries its reason and text") {
  Denial d;
  d.nonce = 7;
  d.reason = DenialReason::pool_exhausted;
  const char text[] = "ip4Pool exhausted";
  d.text_size = sizeof text - 1;
  std::memcpy(d.text, text, d.text_size);
  std::uint8_t buf[kDenialFixedSize + kMaxDenialText];
  const std::size_t n = write_denial(d, MutableByteSpan{buf, sizeof buf});
  REQUIRE(n == kDenialFixedSize + d.text_size);
  Message m;
  REQUIRE(parse_message(ByteSpan{buf, n}, &m) == ParseError::ok);
  CHECK(m.denial.reason == DenialReason::pool_exhausted);
  CHECK(std::string(m.denial.text, m.denial.text_size) == "ip4Pool exhausted");
  CHECK(m.denial.nonce == 7);
  // A text longer than the limit is not written.
  d.text_size = kMaxDenialText + 1;
  CHECK(write_denial(d, MutableByteSpan{buf, sizeof buf}) == 0);
}

TEST_CASE("IP data carries one whole IPv4 or IPv6 packet after a 2-byte header") {
  for (const auto& packet : {ip4_packet("100.64.0.10"), ip6_packet("2001:db8:1::10", 8)}) {
    std::vector<std::uint8_t> frame(kIpDataHeaderSize);
    write_ip_data_header(frame.data());
    frame.insert(frame.end(), packet.begin(), packet.end());
    Message m;
    REQUIRE(parse(frame, &m) == ParseError::ok);
    CHECK(m.type == MessageType::ip_data);
    CHECK(m.packet.size == packet.size());
    CHECK(m.packet.data == frame.data() + 2);
  }
  // Length fields that disagree with the size, a bad version nibble, a short IHL.
  std::vector<std::uint8_t> frame{kVersion, 0x10};
  auto bad4 = ip4_packet("1.2.3.4");
  bad4[3] = 27;
  frame.insert(frame.end(), bad4.begin(), bad4.end());
  Message m;
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  frame.resize(2);
  auto short_ihl = ip4_packet("1.2.3.4");
  short_ihl[0] = 0x44;
  frame.insert(frame.end(), short_ihl.begin(), short_ihl.end());
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  frame.resize(2);
  auto bad6 = ip6_packet("2001:db8::1", 8);
  bad6.push_back(0);
  frame.insert(frame.end(), bad6.begin(), bad6.end());
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  CHECK(parse({kVersion, 0x10, 0x50}, &m) == ParseError::bad_packet);
}

TEST_CASE("malformed messages are refused with their reason") {
  Message m;
  CHECK(parse({}, &m) == ParseError::truncated);
  CHECK(parse({kVersion}, &m) == ParseError::truncated);
  CHECK(parse({2, 0x01, 0, 0, 0, 0, 0, 0}, &m) == ParseError::bad_version);
  CHECK(parse({kVersion, 0x7f}, &m) == ParseError::unknown_type);
  CHECK(parse({kVersion, 0x01, 0x04, 0, 0, 0, 0, 0}, &m) == ParseError::bad_field);  // unknown family bit
  CHECK(parse({kVersion, 0x01, 0x01, 0, 0, 0, 0}, &m) == ParseError::truncated);
  CHECK(parse({kVersion, 0x01, 0x01, 0, 0, 0, 0, 0, 0}, &m) == ParseError::trailing_bytes);

  const auto good = encode_grant(sample_grant());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<std::uint8_t> shorter(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK(parse(shorter, &m) != ParseError::ok);
  }
  auto longer = good;
  longer.push_back(0);
  CHECK(parse(longer, &m) == ParseError::trailing_bytes);
  auto too_many = good;
  too_many[2] = kMaxGrantAddresses + 1;
  CHECK(parse(too_many, &m) == ParseError::bad_field);
  auto prefix_over_alloc = good;
  prefix_over_alloc[16 + 1] = 33;  // first entry: prefix 33 > alloc 32
  CHECK(parse(prefix_over_alloc, &m) == ParseError::bad_field);
  auto bad_family = good;
  bad_family[16] = 5;
  CHECK(parse(bad_family, &m) == ParseError::bad_field);
  auto unknown_reason = std::vector<std::uint8_t>{kVersion, 0x03, 9, 0, 0, 0, 0, 0};
  CHECK(parse(unknown_reason, &m) == ParseError::bad_field);
  auto text_past_end = std::vector<std::uint8_t>{kVersion, 0x03, 1, 4, 0, 0, 0, 0, 'a'};
  CHECK(parse(text_past_end, &m) == ParseError::truncated);
}

TEST_CASE("a grant that cannot be encoded is not written") {
  Grant g = sample_grant();
  g.addresses[0].alloc = 33;  // over IPv4's 32 bits
  CHECK(encode_grant(g).empty());
  g = sample_grant();
  g.addresses[0].prefix = 32;
  g.addresses[0].alloc = 24;  // the route narrower than the block
  CHECK(encode_grant(g).empty());
  g = sample_grant();
  std::uint8_t small[20];
  CHECK(write_grant(g, MutableByteSpan{small, sizeof small}) == 0);
}

TEST_CASE("blocks contain addresses up to their boundaries") {
  const IpBlock b4 = *parse_block("100.64.0.8/29");
  CHECK(contains(b4, ip("100.64.0.8")));
  CHECK(contains(b4, ip("100.64.0.15")));
  CHECK_FALSE(contains(b4, ip("100.64.0.7")));
  CHECK_FALSE(contains(b4, ip("100.64.0.16")));
  CHECK_FALSE(contains(b4, ip("::ffff:100.64.0.8")));
  const IpBlock b6 = *parse_block("2001:db8:1::/63");
  CHECK(contains(b6, ip("2001:db8:1:1:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(contains(b6, ip("2001:db8:1:2::")));
  CHECK(overlaps(*parse_block("10.0.0.0/8"), *parse_block("10.1.2.3/32")));
  CHECK_FALSE(overlaps(*parse_block("10.0.0.0/16"), *parse_block("10.1.0.0/16")));
  CHECK(format_ip(add_offset(ip("10.0.0.255"), 2)) == "10.0.1.1");
  CHECK(format_ip(network_of(*parse_block("2001:db8:1::10/64"))) == "2001:db8:1::");
  CHECK_FALSE(parse_block("10.0.0.0/33"));
  CHECK_FALSE(parse_block("10.0.0.0/"));
  CHECK_FALSE(parse_block("10.0.0.0"));
}
