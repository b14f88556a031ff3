// Tests for cjdns base32: its bit order, round trips at every length, and strict decoding.
#include <meshhost/base32.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

std::string encode(const std::vector<std::uint8_t>& bytes) {
  return mh::base32_encode(mh::ByteSpan{bytes.data(), bytes.size()});
}

}  // namespace

TEST_CASE("base32 takes five bits at a time from the low end, little-endian") {
  CHECK(encode({}) == "");
  // 0x01: low five bits 00001 → '1', then the remaining three bits 000 → '0'.
  CHECK(encode({0x01}) == "10");
  // 0xff: 11111 → 'z', then 111 → '7'.
  CHECK(encode({0xff}) == "z7");
  // 0x20 = 001 00000: low five bits are zero, the next three carry 001 → '1'.
  CHECK(encode({0x20}) == "01");
  // Two bytes 0x00 0x01: bit 8 is set, which is bit 3 of the second character → '8'.
  CHECK(encode({0x00, 0x01}) == "0800");
  CHECK(encode({0xff, 0xff, 0xff, 0xff, 0xff}) == "zzzzzzzz");
}

TEST_CASE("base32 round-trips every length and byte value") {
  for (std::size_t length = 0; length <= 40; ++length) {
    std::vector<std::uint8_t> bytes(length);
    for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + length * 11 + 5);
    const std::string text = encode(bytes);
    CHECK(text.size() == mh::base32_encoded_size(length));
    CHECK(mh::base32_decoded_size(text.size()) == length);
    const auto decoded = mh::base32_decode(text);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == bytes);
  }
  std::vector<std::uint8_t> all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  const auto decoded = mh::base32_decode(encode(all));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == all);
}

TEST_CASE("base32 accepts upper case as cjdns does, and writes lower case") {
  const auto lower = mh::base32_decode("z7");
  const auto upper = mh::base32_decode("Z7");
  REQUIRE(lower.has_value());
  REQUIRE(upper.has_value());
  CHECK(*lower == *upper);
  CHECK(encode(*upper) == "z7");
}

TEST_CASE("base32 rejects characters outside the alphabet") {
  // The alphabet leaves out the letters a, e, i and o (in either case).
  for (const char bad : {'a', 'e', 'i', 'o', 'A', 'E', 'I', 'O', '-', '=', ' ', '.', '\0', '\x80', '\xff'}) {
    std::string text = "0000";
    text[1] = bad;
    CHECK_FALSE(mh::base32_decode(text).has_value());
  }
}

TEST_CASE("base32 rejects lengths it never writes and stray high bits") {
  // 1, 3 and 6 characters leave 5 or more bits over: no encoding has those lengths.
  CHECK_FALSE(mh::base32_decode("0").has_value());
  CHECK_FALSE(mh::base32_decode("000").has_value());
  CHECK_FALSE(mh::base32_decode("000000").has_value());
  // One byte is two characters; the second holds three bits, so its top two must be zero.
  CHECK(mh::base32_decode("z7").has_value());
  CHECK_FALSE(mh::base32_decode("z8").has_value());
  CHECK_FALSE(mh::base32_decode("zz").has_value());
}

TEST_CASE("base32_decode_into wants exactly the encoding of out.size bytes") {
  std::uint8_t out[2] = {};
  CHECK(mh::base32_decode_into("0800", mh::MutableByteSpan{out, 2}));
  CHECK(out[0] == 0x00);
  CHECK(out[1] == 0x01);
  CHECK_FALSE(mh::base32_decode_into("z7", mh::MutableByteSpan{out, 2}));        // too short
  CHECK_FALSE(mh::base32_decode_into("080000", mh::MutableByteSpan{out, 2}));    // too long
  CHECK_FALSE(mh::base32_decode_into("08000", mh::MutableByteSpan{out, 2}));     // 5 chars = 3 bytes
  CHECK(mh::base32_decode_into("", mh::MutableByteSpan{nullptr, 0}));
}
