// The frame parsers accept exactly the documented sizes and refuse everything else.
#include "frames.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mh::sw;

namespace {
std::vector<std::uint8_t> frame_of(mh::FrameType type, std::size_t size) {
  std::vector<std::uint8_t> f(size, 0xab);
  if (size >= 2) put_header(f.data(), type);
  return f;
}
}  // namespace

TEST_CASE("frame sizes match the documented arithmetic") {
  CHECK(kInitiationMinSize == 147);
  CHECK(kInitiationMaxSize == 179);
  CHECK(kResponseSize == 90);
  CHECK(kCookieReplySize == 62);
  CHECK(kTransportOverhead == 31);
}

TEST_CASE("initiation parses at every legal size and no other") {
  for (std::size_t size = 0; size < kInitiationMaxSize + 8; ++size) {
    const auto f = frame_of(mh::FrameType::handshake_initiation, size);
    const auto v = parse_initiation(f);
    CHECK(v.has_value() == (size >= kInitiationMinSize && size <= kInitiationMaxSize));
    if (v) {
      CHECK(v->mac1.data() == f.data() + size - 32);
      CHECK(v->mac2_covered.size() == size - 16);
      CHECK(v->noise_message.size() == size - 6 - 32);
    }
  }
  auto f = frame_of(mh::FrameType::handshake_initiation, kInitiationMinSize);
  f[0] = 2;
  CHECK_FALSE(parse_initiation(f));
  f[0] = 1;
  f[1] = 2;
  CHECK_FALSE(parse_initiation(f));
}

TEST_CASE("response, cookie reply and transport check type and size") {
  CHECK(parse_response(frame_of(mh::FrameType::handshake_response, kResponseSize)));
  CHECK_FALSE(parse_response(frame_of(mh::FrameType::handshake_response, kResponseSize + 1)));
  CHECK(parse_cookie_reply(frame_of(mh::FrameType::cookie_reply, kCookieReplySize)));
  CHECK_FALSE(parse_cookie_reply(frame_of(mh::FrameType::cookie_reply, kCookieReplySize - 1)));
  CHECK_FALSE(parse_transport(frame_of(mh::FrameType::transport, kTransportMinSize - 1)));
  auto t = frame_of(mh::FrameType::transport, 100);
  put_u32(t.data() + 2, 0x01020304);
  put_u64(t.data() + 6, 0x1122334455667788ull);
  const auto v = parse_transport(t);
  REQUIRE(v);
  CHECK(v->receiver_index == 0x01020304);
  CHECK(v->counter == 0x1122334455667788ull);
  CHECK(v->ciphertext.size() == 100 - kTransportHeaderSize);
  CHECK_FALSE(parse_header(std::vector<std::uint8_t>{1}));
}

TEST_CASE("initiation payload round-trips and refuses inconsistent lengths") {
  std::uint8_t buffer[kInitiationPayloadMaxSize];
  const mh::Tai64n stamp = mh::tai64n_from_unix(1700000000, 5);
  const std::size_t size = write_initiation_payload(stamp, "alice", buffer);
  REQUIRE(size == kInitiationPayloadMinSize + 5);
  const auto p = parse_initiation_payload(ByteView(buffer, size));
  REQUIRE(p);
  CHECK(p->login == "alice");
  CHECK(p->timestamp == stamp);
  CHECK_FALSE(parse_initiation_payload(ByteView(buffer, size - 1)));
  CHECK(write_initiation_payload(stamp, std::string(33, 'x'), buffer) == 0);
  buffer[mh::kTai64nSize] = 40;  // longer than kMaxLoginSize
  CHECK_FALSE(parse_initiation_payload(ByteView(buffer, sizeof buffer)));
}
