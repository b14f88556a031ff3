// The routing wire format: what a node writes, another reads back; what is malformed is
// refused whole.
#include "messages.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

namespace {

using namespace mh::router;

std::vector<std::uint8_t> packet_of(const std::vector<Message>& messages) {
  std::vector<std::uint8_t> out(kPacketHeaderSize);
  for (const auto& m : messages) {
    const std::size_t at = out.size();
    out.resize(at + encoded_size(m));
    REQUIRE(write_tlv(m, MutableByteView(out.data() + at, out.size() - at)) == encoded_size(m));
  }
  write_packet_header(out.size() - kPacketHeaderSize, MutableByteView(out.data(), kPacketHeaderSize));
  return out;
}

Message update_message(std::uint16_t seqno, std::uint16_t metric) {
  const mh::KeyPair k = mh::generate_node_key();
  Message m;
  m.type = TlvType::update;
  m.update = Update{1600, seqno, metric, k.addr, k.pub};
  return m;
}

}  // namespace

TEST_CASE("routing messages: sizes are as docs/protocol.md draws them") {
  CHECK(kPacketHeaderSize == 4);
  CHECK(kUpdateSize == 56);
  CHECK(kWildcardRequestSize == 2);
  CHECK(kRouteRequestSize == 18);
  CHECK(kSeqnoRequestSize == 22);
  // A minimum-size mesh payload holds 23 updates.
  CHECK((mh::kMeshMinPayload - kPacketHeaderSize) / kUpdateSize == 23);
}

TEST_CASE("routing messages: every TLV type round-trips, in order, in one packet") {
  const Message update = update_message(0xfffe, 1234);
  Message wildcard;
  wildcard.type = TlvType::route_request;
  Message one;
  one.type = TlvType::route_request;
  one.route_request.wildcard = false;
  one.route_request.address = update.update.address;
  Message seqno;
  seqno.type = TlvType::seqno_request;
  seqno.seqno_request = SeqnoRequest{7, 64, update.update.address};

  const auto bytes = packet_of({update, wildcard, one, seqno});
  CHECK(bytes[0] == kRoutingVersion);
  std::size_t known = 0, unknown = 9;
  REQUIRE(check_packet(bytes, &known, &unknown) == PacketCheck::ok);
  CHECK(known == 4);
  CHECK(unknown == 0);

  TlvReader reader(bytes);
  Message m;
  REQUIRE(reader.next(&m));
  REQUIRE(m.type == TlvType::update);
  CHECK(m.update.interval_cs == 1600);
  CHECK(m.update.seqno == 0xfffe);
  CHECK(m.update.metric == 1234);
  CHECK(std::memcmp(m.update.address.bytes, update.update.address.bytes, mh::kAddressSize) == 0);
  CHECK(std::memcmp(m.update.key.bytes, update.update.key.bytes, mh::kPublicKeySize) == 0);
  REQUIRE(reader.next(&m));
  REQUIRE(m.type == TlvType::route_request);
  CHECK(m.route_request.wildcard);
  REQUIRE(reader.next(&m));
  REQUIRE(m.type == TlvType::route_request);
  CHECK_FALSE(m.route_request.wildcard);
  CHECK(std::memcmp(m.route_request.address.bytes, update.update.address.bytes, mh::kAddressSize) == 0);
  REQUIRE(reader.next(&m));
  REQUIRE(m.type == TlvType::seqno_request);
  CHECK(m.seqno_request.seqno == 7);
  CHECK(m.seqno_request.hop_count == 64);
  CHECK_FALSE(reader.next(&m));
}

TEST_CASE("routing messages: malformed packets are refused whole") {
  auto good = packet_of({update_message(1, 10)});
  REQUIRE(check_packet(good) == PacketCheck::ok);

  CHECK(check_packet(mh::router::ByteView(good.data(), 3)) == PacketCheck::too_short);
  auto bad_version = good;
  bad_version[0] = 2;
  CHECK(check_packet(bad_version) == PacketCheck::bad_version);
  auto longer = good;
  longer.push_back(0);
  CHECK(check_packet(longer) == PacketCheck::bad_length);
  // A body length that matches, but a TLV that runs past the end.
  auto truncated = good;
  truncated[kPacketHeaderSize + 1] = 200;
  CHECK(check_packet(truncated) == PacketCheck::truncated_tlv);
  // An update one byte short of its fields.
  std::vector<std::uint8_t> short_update(kPacketHeaderSize + kTlvHeaderSize + kUpdateBodySize - 1, 0);
  short_update[kPacketHeaderSize] = static_cast<std::uint8_t>(TlvType::update);
  short_update[kPacketHeaderSize + 1] = kUpdateBodySize - 1;
  write_packet_header(short_update.size() - kPacketHeaderSize, MutableByteView(short_update.data(), kPacketHeaderSize));
  CHECK(check_packet(short_update) == PacketCheck::malformed_tlv);
  // A lone TLV type byte.
  std::vector<std::uint8_t> lone = {kRoutingVersion, 0, 0, 1, 0x01};
  CHECK(check_packet(lone) == PacketCheck::truncated_tlv);
}

TEST_CASE("routing messages: unknown TLVs and longer bodies are skipped, not refused") {
  auto bytes = packet_of({update_message(5, 50)});
  // Append an unknown TLV (type 0x7f, 3 bytes) and fix the length.
  bytes.insert(bytes.end(), {0x7f, 3, 1, 2, 3});
  write_packet_header(bytes.size() - kPacketHeaderSize, MutableByteView(bytes.data(), kPacketHeaderSize));
  std::size_t known = 0, unknown = 0;
  REQUIRE(check_packet(bytes, &known, &unknown) == PacketCheck::ok);
  CHECK(known == 1);
  CHECK(unknown == 1);
  TlvReader reader(bytes);
  Message m;
  CHECK(reader.next(&m));
  CHECK(m.update.seqno == 5);
  CHECK_FALSE(reader.next(&m));

  // A seqno request with two trailing bytes a later version might add.
  std::vector<std::uint8_t> longer(kPacketHeaderSize + kTlvHeaderSize + kSeqnoRequestBodySize + 2, 0);
  longer[kPacketHeaderSize] = static_cast<std::uint8_t>(TlvType::seqno_request);
  longer[kPacketHeaderSize + 1] = kSeqnoRequestBodySize + 2;
  longer[kPacketHeaderSize + 2 + 1] = 9;  // seqno 9
  write_packet_header(longer.size() - kPacketHeaderSize, MutableByteView(longer.data(), kPacketHeaderSize));
  REQUIRE(check_packet(longer) == PacketCheck::ok);
  TlvReader reader2(longer);
  REQUIRE(reader2.next(&m));
  CHECK(m.type == TlvType::seqno_request);
  CHECK(m.seqno_request.seqno == 9);
}

TEST_CASE("routing messages: seqnos compare modulo 2^16") {
  CHECK(seqno_newer(1, 0));
  CHECK_FALSE(seqno_newer(0, 1));
  CHECK_FALSE(seqno_newer(5, 5));
  CHECK(seqno_newer(0, 0xffff));  // wrapped
  CHECK(seqno_newer(0x7fff, 0));
  CHECK_FALSE(seqno_newer(0x8000, 0));
}
