// The session frames: sizes as docs/protocol.md draws them, parsers that refuse anything
// but the exact layout, and mac1.
#include "session_frames.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace mh;
using namespace mh::session;

TEST_CASE("session frames: the sizes docs/protocol.md gives") {
  CHECK(kInitiationSize == 130);
  CHECK(kResponseSize == 74);
  CHECK(kTransportHeaderSize == 14);
  CHECK(kTransportOverhead == 32);
  // A 1280-byte packet fits the smallest mesh payload with room to spare.
  CHECK(1280 + kTransportOverhead <= 1335);
}

TEST_CASE("session frames: each parser takes only its own type, version and size") {
  std::vector<std::uint8_t> init(kInitiationSize, 0);
  put_header(init.data(), FrameType::initiation);
  put_u32(init.data() + 2, 0x01020304);
  const auto v = parse_initiation(init);
  REQUIRE(v);
  CHECK(v->sender_index == 0x01020304);
  CHECK(v->noise_message.size() == kInitiationNoiseSize);
  CHECK(v->mac1.data() == init.data() + kInitiationSize - kMacSize);
  CHECK(v->mac1_covered.size() == kInitiationSize - kMacSize);
  CHECK_FALSE(parse_response(init));
  CHECK_FALSE(parse_transport(init));
  init.push_back(0);
  CHECK_FALSE(parse_initiation(init));  // one byte too long
  init.pop_back();
  init[0] = 2;
  CHECK_FALSE(parse_initiation(init));  // another version

  std::vector<std::uint8_t> resp(kResponseSize, 0);
  put_header(resp.data(), FrameType::response);
  put_u32(resp.data() + 2, 7);
  put_u32(resp.data() + 6, 9);
  const auto r = parse_response(resp);
  REQUIRE(r);
  CHECK(r->sender_index == 7);
  CHECK(r->receiver_index == 9);
  CHECK(r->noise_message.size() == 48);
  resp.pop_back();
  CHECK_FALSE(parse_response(resp));

  std::vector<std::uint8_t> t(kTransportMinSize - 1, 0);
  put_transport_header(t.data(), 5, 0x1122334455667788ull);
  CHECK_FALSE(parse_transport(t));  // shorter than a keepalive
  t.push_back(0);
  const auto tv = parse_transport(t);
  REQUIRE(tv);
  CHECK(tv->receiver_index == 5);
  CHECK(tv->counter == 0x1122334455667788ull);
  CHECK(tv->header.size() == 14);
  CHECK(tv->ciphertext.size() == 16);

  CHECK_FALSE(parse_header(ByteView(t.data(), 1)));
}

TEST_CASE("session frames: plaintext is keepalive, protocol and data, or malformed") {
  std::uint8_t bytes[8] = {0x80, 0x01, 'a', 'b'};
  CHECK(parse_plaintext(MutableByteView(bytes, 0))->keepalive);
  CHECK_FALSE(parse_plaintext(MutableByteView(bytes, 1)));
  const auto p = parse_plaintext(MutableByteView(bytes, 4));
  REQUIRE(p);
  CHECK_FALSE(p->keepalive);
  CHECK(p->protocol == 0x8001);
  CHECK(p->data.size() == 2);
  CHECK(p->data.data() == bytes + 2);

  const std::uint8_t no_receiver[] = {1, 0x00, 0x04};
  CHECK(parse_no_receiver(no_receiver) == std::optional<std::uint16_t>(4));
  const std::uint8_t unknown[] = {2, 0x00, 0x04};
  CHECK_FALSE(parse_no_receiver(unknown));
  CHECK_FALSE(parse_no_receiver(ByteView(no_receiver, 2)));
}

TEST_CASE("session frames: mac1 is keyed by the receiver's key") {
  const KeyPair a = generate_node_key(), b = generate_node_key();
  const std::uint8_t frame[] = {1, 2, 3, 4, 5};
  std::uint8_t mac[kMacSize];
  compute_mac1(mac1_key_for(a.pub), frame, mac);
  CHECK(check_mac1(mac1_key_for(a.pub), frame, ByteView(mac, kMacSize)));
  CHECK_FALSE(check_mac1(mac1_key_for(b.pub), frame, ByteView(mac, kMacSize)));
  CHECK_FALSE(check_mac1(mac1_key_for(a.pub), ByteView(frame, 4), ByteView(mac, kMacSize)));
  CHECK_FALSE(check_mac1(mac1_key_for(a.pub), frame, ByteView(mac, kMacSize - 1)));
}
