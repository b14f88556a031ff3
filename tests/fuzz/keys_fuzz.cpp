// Fuzz target for the identity text parsers, which read operator config and admin input:
// parse_public_key, parse_private_key_hex, parse_address and base32_decode. Any input must
// be refused cleanly or accepted in a form that prints back to itself.
#include <meshhost/base32.hpp>
#include <meshhost/keys.hpp>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const auto pub = mh::parse_public_key(text)) {
    // Only one spelling per key, up to the case cjdns also tolerates.
    const std::string printed = mh::format_public_key(*pub);
    check(printed == lower(text));
    const auto again = mh::parse_public_key(printed);
    check(again && std::memcmp(again->bytes, pub->bytes, sizeof pub->bytes) == 0);
    const mh::Address addr = mh::address_of(*pub);
    check(mh::address_matches_key(addr, *pub));
    check(mh::is_valid_node_key(*pub) == (addr.bytes[0] == mh::kAddressPrefix));
  }

  if (const auto priv = mh::parse_private_key_hex(text)) {
    check(mh::format_private_key_hex(*priv) == lower(text));
  }

  if (const auto addr = mh::parse_address(text)) {
    const std::string printed = mh::format_address(*addr);
    const auto again = mh::parse_address(printed);
    check(again && std::memcmp(again->bytes, addr->bytes, sizeof addr->bytes) == 0);
  }

  if (const auto bytes = mh::base32_decode(text)) {
    check(mh::base32_encode(mh::ByteSpan{bytes->data(), bytes->size()}) == lower(text));
  }
  return 0;
}
