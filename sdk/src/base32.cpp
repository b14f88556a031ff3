// cjdns base32: little-endian bit order over the DNSCurve alphabet (see base32.hpp).
#include <meshhost/base32.hpp>

#include <array>

namespace mh {
namespace {

constexpr std::uint8_t kInvalidDigit = 0xff;
constexpr unsigned kBitsPerDigit = 5;
constexpr std::uint32_t kDigitMask = (1u << kBitsPerDigit) - 1;

// ASCII → digit value; kInvalidDigit for anything outside the alphabet (either case).
constexpr std::array<std::uint8_t, 256> make_digit_table() {
  std::array<std::uint8_t, 256> table{};
  for (auto& entry : table) entry = kInvalidDigit;
  for (std::size_t value = 0; value < kBase32Alphabet.size(); ++value) {
    const auto c = static_cast<unsigned char>(kBase32Alphabet[value]);
    table[c] = static_cast<std::uint8_t>(value);
    if (c >= 'a' && c <= 'z') table[c - 'a' + 'A'] = static_cast<std::uint8_t>(value);
  }
  return table;
}
constexpr std::array<std::uint8_t, 256> kDigitOf = make_digit_table();

}  // namespace

std::string base32_encode(ByteSpan bytes) {
  std::string out;
  out.reserve(base32_encoded_size(bytes.size));
  std::uint32_t pending = 0;  // bits not yet written, lowest first
  unsigned pending_bits = 0;
  for (std::size_t i = 0; i < bytes.size; ++i) {
    pending |= std::uint32_t{bytes.data[i]} << pending_bits;
    pending_bits += 8;
    while (pending_bits >= kBitsPerDigit) {
      out.push_back(kBase32Alphabet[pending & kDigitMask]);
      pending >>= kBitsPerDigit;
      pending_bits -= kBitsPerDigit;
    }
  }
  if (pending_bits > 0) out.push_back(kBase32Alphabet[pending & kDigitMask]);
  return out;
}

bool base32_decode_into(std::string_view text, MutableByteSpan out) noexcept {
  // Exactly the lengths base32_encode produces for out.size bytes; this also bounds the
  // loop below so it never writes past `out`.
  if (text.size() != base32_encoded_size(out.size)) return false;
  std::uint32_t pending = 0;
  unsigned pending_bits = 0;
  std::size_t written = 0;
  for (const char c : text) {
    const std::uint8_t digit = kDigitOf[static_cast<unsigned char>(c)];
    if (digit == kInvalidDigit) return false;
    pending |= std::uint32_t{digit} << pending_bits;
    pending_bits += kBitsPerDigit;
    if (pending_bits >= 8) {
      out.data[written++] = static_cast<std::uint8_t>(pending & 0xff);
      pending >>= 8;
      pending_bits -= 8;
    }
  }
  // A canonical encoding zero-fills the last character's unused top bits; anything else
  // would let two texts name one key.
  return written == out.size && pending == 0;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
  const std::size_t byte_count = base32_decoded_size(text.size());
  if (text.size() != base32_encoded_size(byte_count)) return std::nullopt;
  std::vector<std::uint8_t> bytes(byte_count);
  if (!base32_decode_into(text, MutableByteSpan{bytes.data(), bytes.size()})) return std::nullopt;
  return bytes;
}

}  // namespace mh
