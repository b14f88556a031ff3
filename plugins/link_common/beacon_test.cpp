// The beacon codec: what a driver sends is what another driver accepts, and nothing else is.
#include "beacon.hpp"

#include <doctest/doctest.h>

#include <meshhost/keys.hpp>

#include <array>
#include <cstring>

namespace {

using mh::link_common::Beacon;
using mh::link_common::encode_beacon;
using mh::link_common::is_beacon_frame;
using mh::link_common::kBeaconFlagRequiresPassword;
using mh::link_common::kBeaconSize;
using mh::link_common::parse_beacon;

mh::PublicKey invalid_node_key() {
  // A key whose address is outside fc00::/8: most are; find one deterministically.
  mh::PublicKey key;
  for (std::uint8_t i = 0;; ++i) {
    key.bytes[0] = i;
    if (!mh::is_valid_node_key(key)) return key;
  }
}

}  // namespace

TEST_CASE("a beacon is 36 bytes: version, type, flags, reserved, key") {
  CHECK(kBeaconSize == 36);
  const mh::KeyPair node = mh::generate_node_key();
  std::array<std::uint8_t, 64> buffer{};
  const std::size_t n = encode_beacon(node.pub, kBeaconFlagRequiresPassword, {buffer.data(), buffer.size()});
  REQUIRE(n == kBeaconSize);
  CHECK(buffer[0] == mh::kFrameVersion);
  CHECK(buffer[1] == static_cast<std::uint8_t>(mh::FrameType::beacon));
  CHECK(buffer[2] == kBeaconFlagRequiresPassword);
  CHECK(buffer[3] == 0);
  CHECK(std::memcmp(buffer.data() + 4, node.pub.bytes, 32) == 0);

  const auto beacon = parse_beacon({buffer.data(), n});
  REQUIRE(beacon);
  CHECK(std::memcmp(beacon->key.bytes, node.pub.bytes, 32) == 0);
  CHECK(beacon->requires_password());
  CHECK(is_beacon_frame({buffer.data(), n}));
}

TEST_CASE("encode_beacon refuses a buffer that is too small") {
  const mh::KeyPair node = mh::generate_node_key();
  std::array<std::uint8_t, kBeaconSize - 1> small{};
  CHECK(encode_beacon(node.pub, 0, {small.data(), small.size()}) == 0);
  CHECK(encode_beacon(node.pub, 0, {nullptr, 100}) == 0);
}

TEST_CASE("parse_beacon rejects every malformed beacon") {
  const mh::KeyPair node = mh::generate_node_key();
  std::array<std::uint8_t, kBeaconSize + 1> buffer{};
  REQUIRE(encode_beacon(node.pub, 0, {buffer.data(), buffer.size()}) == kBeaconSize);
  auto with = [&](std::size_t at, std::uint8_t value) {
    auto copy = buffer;
    copy[at] = value;
    return parse_beacon({copy.data(), kBeaconSize});
  };
  CHECK(parse_beacon({buffer.data(), kBeaconSize}));
  CHECK_FALSE(parse_beacon({buffer.data(), kBeaconSize - 1}));  // short
  CHECK_FALSE(parse_beacon({buffer.data(), kBeaconSize + 1}));  // long
  CHECK_FALSE(parse_beacon({nullptr, 0}));
  CHECK_FALSE(with(0, 2));                                                          // version
  CHECK_FALSE(with(1, static_cast<std::uint8_t>(mh::FrameType::transport)));       // type
  CHECK_FALSE(with(3, 1));                                                          // reserved
  CHECK(with(2, 0x80));  // unknown flag bits are carried, not refused
  CHECK(with(2, 0x80)->flags == 0x80);
  CHECK_FALSE(with(2, 0x80)->requires_password());

  const mh::PublicKey bad = invalid_node_key();
  REQUIRE(encode_beacon(bad, 0, {buffer.data(), buffer.size()}) == kBeaconSize);
  CHECK_FALSE(parse_beacon({buffer.data(), kBeaconSize}));
}

TEST_CASE("is_beacon_frame looks only at version and type") {
  const std::uint8_t beacon_start[] = {1, 0x10};
  const std::uint8_t transport[] = {1, 0x04, 0, 0};
  const std::uint8_t one_byte[] = {1};
  CHECK(is_beacon_frame({beacon_start, sizeof beacon_start}));
  CHECK_FALSE(is_beacon_frame({transport, sizeof transport}));
  CHECK_FALSE(is_beacon_frame({one_byte, sizeof one_byte}));
}
