// cjdns's base32 (DESIGN §3): how public keys print. Support library only — these
// functions use std:: types and never cross the plugin boundary.
#pragma once

#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mh {

// cjdns's variant (after DNSCurve): alphabet "0123456789bcdfghjklmnpqrstuvwxyz", and bits
// are taken five at a time from the low end of a little-endian bit buffer, so the first
// character carries the low five bits of the first byte. There is no padding; the last
// character carries the leftover bits, zero-filled at the top.
inline constexpr std::string_view kBase32Alphabet = "0123456789bcdfghjklmnpqrstuvwxyz";

// Characters base32_encode writes for `byte_count` bytes: ceil(8 * byte_count / 5).
constexpr std::size_t base32_encoded_size(std::size_t byte_count) noexcept {
  return (byte_count * 8 + 4) / 5;
}

// Bytes that `char_count` characters decode to, when that is a length base32_encode
// produces: floor(5 * char_count / 8).
constexpr std::size_t base32_decoded_size(std::size_t char_count) noexcept {
  return char_count * 5 / 8;
}

// Encodes `bytes` (borrowed) as lowercase cjdns base32.
std::string base32_encode(ByteSpan bytes);

// Decodes `text` into exactly `out.size` bytes without allocating. Returns false (with
// `out` possibly partly written) when `text` is not the encoding of exactly that many
// bytes: a character outside the alphabet, a length base32_encode never produces, or
// non-zero leftover bits in the last character. Upper-case letters are accepted, as
// cjdns accepts them; base32_encode always writes lower case.
bool base32_decode_into(std::string_view text, MutableByteSpan out) noexcept;

// Decodes `text` of any length; nullopt under the same rules as base32_decode_into.
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

}  // namespace mh
