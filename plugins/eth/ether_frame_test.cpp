// The pure parts of meshhost on Ethernet: the eth header, endpoints, MACs and the MTU rule.
#include "ether_frame.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace mh::ether;

TEST_CASE("the EtherType is the registry's and the header is four bytes") {
  CHECK(kEtherType == 0x88B5);
  CHECK(kHeaderSize == 4);
  CHECK(kMinLinkMtu == 1280 + 128);
  CHECK(kMinInterfaceMtu == 1280 + 128 + 4);
}

TEST_CASE("a written header parses back, and Ethernet padding after the frame is ignored") {
  std::vector<std::uint8_t> payload(60, 0);  // a short frame padded to Ethernet's minimum
  write_header(payload.data(), 30);
  CHECK(payload[0] == 1);
  CHECK(payload[1] == 0);
  CHECK(payload[2] == 0);
  CHECK(payload[3] == 30);
  const auto length = parse_header({payload.data(), payload.size()});
  REQUIRE(length.has_value());
  CHECK(*length == 30);

  write_header(payload.data(), 0x0102);
  CHECK(payload[2] == 0x01);
  CHECK(payload[3] == 0x02);
}

TEST_CASE("a header is refused when short, of another version, reserved bits set, empty or too long") {
  std::uint8_t payload[8] = {1, 0, 0, 4, 9, 9, 9, 9};
  CHECK(parse_header({payload, 8}) == std::optional<std::uint16_t>(4));
  CHECK_FALSE(parse_header({payload, 3}).has_value());
  CHECK_FALSE(parse_header({nullptr, 0}).has_value());
  payload[3] = 5;  // one byte more than follows
  CHECK_FALSE(parse_header({payload, 8}).has_value());
  payload[3] = 0;
  CHECK_FALSE(parse_header({payload, 8}).has_value());
  payload[3] = 4;
  payload[0] = 2;
  CHECK_FALSE(parse_header({payload, 8}).has_value());
  payload[0] = 1;
  payload[1] = 1;
  CHECK_FALSE(parse_header({payload, 8}).has_value());
}

TEST_CASE("an endpoint packs the MAC and the interface index and unpacks them") {
  const MacAddress mac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
  const mh::Endpoint endpoint = make_endpoint(mac, 0x01020304);
  CHECK(endpoint.kind == kEndpointKind);
  CHECK(endpoint.size == 10);
  CHECK(std::memcmp(endpoint.bytes, mac.bytes, 6) == 0);
  CHECK(endpoint.bytes[6] == 0x01);
  CHECK(endpoint.bytes[9] == 0x04);

  MacAddress back;
  std::uint32_t ifindex = 0;
  REQUIRE(parse_endpoint(endpoint, &back, &ifindex));
  CHECK(back == mac);
  CHECK(ifindex == 0x01020304);

  mh::Endpoint other = endpoint;
  other.kind = 0x4c;
  CHECK_FALSE(parse_endpoint(other, &back, &ifindex));
  other = endpoint;
  other.size = 6;
  CHECK_FALSE(parse_endpoint(other, &back, &ifindex));
}

TEST_CASE("a MAC prints in lower-case colon form, only where it fits") {
  const MacAddress mac = {{0x02, 0x00, 0x00, 0xab, 0xcd, 0xef}};
  CHECK(format_mac(mac) == "02:00:00:ab:cd:ef");
  CHECK(format_mac(kBroadcastMac) == "ff:ff:ff:ff:ff:ff");
  char out[17];
  CHECK(format_mac(mac, out, sizeof out) == 17);
  CHECK(std::string(out, 17) == "02:00:00:ab:cd:ef");
  CHECK(format_mac(mac, out, 16) == 0);
}

TEST_CASE("an interface MTU under 1412 is refused with a message naming it and both numbers") {
  CHECK_FALSE(mtu_refusal("eth0", 1500).has_value());
  CHECK_FALSE(mtu_refusal("eth0", 1412).has_value());
  const auto refusal = mtu_refusal("veth-small", 1000);
  REQUIRE(refusal.has_value());
  CHECK(refusal->rfind("veth-small: ", 0) == 0);
  CHECK(refusal->find("MTU 1000") != std::string::npos);
  CHECK(refusal->find("at least 1412") != std::string::npos);
  CHECK(mtu_refusal("eth0", 1411).has_value());
}

TEST_CASE("a link's MTU is the interface's less the header, capped by the packet buffers") {
  CHECK(link_mtu(1500, 1792) == 1496);
  CHECK(link_mtu(9000, 1792) == 1788);
  CHECK(link_mtu(2, 1792) == 0);
}
