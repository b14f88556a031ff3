// The mesh header codec and the control messages: what a node on the other end reads.
#include "control.hpp"
#include "mesh_header.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

using namespace mh;
using namespace mh::sw;

namespace {

Address address_with(std::uint8_t fill) {
  Address a;
  std::memset(a.bytes, fill, kAddressSize);
  a.bytes[0] = 0xfc;
  return a;
}

}  // namespace

TEST_CASE("mesh header: written bytes are the documented layout and parse back") {
  MeshHeader h;
  h.hop_limit = 7;
  h.protocol = 0x8001;
  h.e2e_offset = 0x0102;
  h.source = address_with(0x11);
  h.destination = address_with(0x22);
  std::uint8_t bytes[kMeshHeaderSize + 3] = {};
  write_mesh_header(bytes, h);
  CHECK(bytes[0] == 1);
  CHECK(bytes[1] == 7);
  CHECK(bytes[2] == 0x80);
  CHECK(bytes[3] == 0x01);
  CHECK(bytes[4] == 0x01);
  CHECK(bytes[5] == 0x02);
  CHECK(bytes[6] == 0);
  CHECK(bytes[7] == 0);
  CHECK(bytes[8] == 0xfc);
  CHECK(bytes[9] == 0x11);
  CHECK(bytes[24] == 0xfc);
  CHECK(bytes[39] == 0x22);

  MeshHeader back;
  REQUIRE(parse_mesh_header(ByteView(bytes, sizeof bytes), &back) == MeshHeaderError::ok);
  CHECK(back.hop_limit == 7);
  CHECK(back.protocol == 0x8001);
  CHECK(back.e2e_offset == 0x0102);
  CHECK(same_address(back.source, h.source));
  CHECK(same_address(back.destination, h.destination));

  set_mesh_hop_limit(bytes, 6);
  CHECK(mesh_hop_limit(bytes) == 6);
}

TEST_CASE("mesh header: short, other version and non-zero reserved are refused") {
  std::uint8_t bytes[kMeshHeaderSize] = {};
  write_mesh_header(bytes, MeshHeader{});
  MeshHeader out;
  CHECK(parse_mesh_header(ByteView(bytes, kMeshHeaderSize - 1), &out) == MeshHeaderError::too_short);
  bytes[0] = 2;
  CHECK(parse_mesh_header(ByteView(bytes, kMeshHeaderSize), &out) == MeshHeaderError::bad_version);
  bytes[0] = 1;
  bytes[7] = 1;
  CHECK(parse_mesh_header(ByteView(bytes, kMeshHeaderSize), &out) == MeshHeaderError::reserved_not_zero);
}

TEST_CASE("control: an echo round-trips with its data") {
  std::uint8_t bytes[kEchoHeaderSize + 3];
  write_echo_header(bytes, false, 0x1234, 7);
  bytes[6] = 'a';
  bytes[7] = 'b';
  bytes[8] = 'c';
  const auto echo = parse_echo(ByteView(bytes, sizeof bytes));
  REQUIRE(echo);
  CHECK_FALSE(echo->reply);
  CHECK(echo->id == 0x1234);
  CHECK(echo->sequence == 7);
  CHECK(echo->data.size() == 3);
  CHECK_FALSE(is_control_error(ByteView(bytes, sizeof bytes)));
  write_echo_header(bytes, true, 1, 2);
  CHECK(parse_echo(ByteView(bytes, sizeof bytes))->reply);
  CHECK_FALSE(parse_echo(ByteView(bytes, kEchoHeaderSize - 1)));
}

TEST_CASE("control: an error quotes the header and at most 64 payload bytes") {
  std::vector<std::uint8_t> original(kMeshHeaderSize + 100, 0xab);
  MeshHeader h;
  h.protocol = kProtocolTun;
  h.source = address_with(1);
  h.destination = address_with(2);
  write_mesh_header(original.data(), h);
  std::uint8_t out[kErrorMaxSize];
  const std::size_t size = write_error(out, MeshError::Kind::too_big, 1300, ByteView(original.data(), original.size()));
  CHECK(size == kErrorMaxSize);
  CHECK(is_control_error(ByteView(out, size)));
  const auto error = parse_error(ByteView(out, size));
  REQUIRE(error);
  CHECK(error->kind == MeshError::Kind::too_big);
  CHECK(error->mtu == 1300);
  CHECK(error->original.protocol == kProtocolTun);
  CHECK(same_address(error->original.destination, h.destination));
  CHECK(error->quote.size() == kErrorQuoteMax);
  CHECK(error->quote[0] == 0xab);

  // A short original is quoted whole.
  const std::size_t short_size = write_error(out, MeshError::Kind::no_route, 0, ByteView(original.data(), kMeshHeaderSize + 5));
  CHECK(short_size == kErrorMinSize + 5);
  CHECK(parse_error(ByteView(out, short_size))->quote.size() == 5);

  // Unknown kinds and a set reserved byte are refused.
  out[2] = 9;
  CHECK_FALSE(parse_error(ByteView(out, short_size)));
  out[2] = 1;
  out[3] = 1;
  CHECK_FALSE(parse_error(ByteView(out, short_size)));
}
