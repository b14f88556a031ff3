// Node identity: X25519 keys and cjdns addresses with libsodium, and their text forms.
#include <meshhost/keys.hpp>

#include <meshhost/base32.hpp>

#include <arpa/inet.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace mh {
namespace {

static_assert(crypto_scalarmult_BYTES == kPublicKeySize);
static_assert(crypto_scalarmult_SCALARBYTES == kPrivateKeySize);
static_assert(crypto_scalarmult_BYTES == kSharedSecretSize);
static_assert(crypto_hash_sha512_BYTES >= kAddressSize);

// libsodium must be initialised once before its CSPRNG and its fastest implementations
// are used; sodium_init() is idempotent and thread-safe, the static only saves the lock.
void ensure_sodium() noexcept {
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) std::abort();  // no safe randomness: nothing sensible to continue with
}

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

PrivateKey::~PrivateKey() { wipe(*this); }

void wipe(PrivateKey& key) noexcept { sodium_memzero(key.bytes, sizeof key.bytes); }

PublicKey public_key_of(const PrivateKey& priv) noexcept {
  ensure_sodium();
  PublicKey pub;
  // Fails only for an all-zero output, which the base point cannot produce for a clamped
  // scalar; X25519 clamps internally, so cjdns's unclamped stored keys work unchanged.
  (void)crypto_scalarmult_base(pub.bytes, priv.bytes);
  return pub;
}

Address address_of(const PublicKey& pub) noexcept {
  std::uint8_t first[crypto_hash_sha512_BYTES];
  std::uint8_t second[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(first, pub.bytes, sizeof pub.bytes);
  crypto_hash_sha512(second, first, sizeof first);
  Address addr;
  std::memcpy(addr.bytes, second, sizeof addr.bytes);
  return addr;
}

bool is_valid_node_key(const PublicKey& pub) noexcept { return address_of(pub).bytes[0] == kAddressPrefix; }

bool address_matches_key(const Address& addr, const PublicKey& pub) noexcept {
  const Address derived = address_of(pub);
  return std::memcmp(derived.bytes, addr.bytes, sizeof addr.bytes) == 0;
}

KeyPair key_pair_of(const PrivateKey& priv) noexcept {
  KeyPair pair;
  pair.priv = priv;
  pair.pub = public_key_of(priv);
  pair.addr = address_of(pair.pub);
  return pair;
}

KeyPair generate_node_key() {
  ensure_sodium();
  KeyPair pair;
  // As cjdns does: draw 32 random bytes and keep them as they are (unclamped) until the
  // address lands in fc00::/8; one try in 256 does.
  do {
    randombytes_buf(pair.priv.bytes, sizeof pair.priv.bytes);
    pair.pub = public_key_of(pair.priv);
    pair.addr = address_of(pair.pub);
  } while (pair.addr.bytes[0] != kAddressPrefix);
  return pair;
}

bool compute_shared_secret(const PrivateKey& priv, const PublicKey& remote, SharedSecret* out) noexcept {
  ensure_sodium();
  // libsodium returns -1 when the result is all zero (a low-order remote point).
  if (crypto_scalarmult(out->bytes, priv.bytes, remote.bytes) != 0) {
    sodium_memzero(out->bytes, sizeof out->bytes);
    return false;
  }
  return true;
}

std::string to_hex(ByteSpan bytes) {
  std::string out;
  out.reserve(2 * bytes.size);
  for (std::size_t i = 0; i < bytes.size; ++i) {
    out.push_back(kHexDigits[bytes.data[i] >> 4]);
    out.push_back(kHexDigits[bytes.data[i] & 0x0f]);
  }
  return out;
}

std::optional<PrivateKey> parse_private_key_hex(std::string_view text) {
  if (text.size() != kPrivateKeyHexSize) return std::nullopt;
  PrivateKey key;
  for (std::size_t i = 0; i < kPrivateKeySize; ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;  // `key` wipes itself
    key.bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return key;
}

std::string format_private_key_hex(const PrivateKey& priv) { return to_hex(ByteSpan{priv.bytes, sizeof priv.bytes}); }

std::string format_public_key(const PublicKey& pub) {
  std::string text = base32_encode(ByteSpan{pub.bytes, sizeof pub.bytes});
  text.append(kPublicKeySuffix);
  return text;
}

std::optional<PublicKey> parse_public_key(std::string_view text) {
  if (text.size() != kPublicKeyTextSize) return std::nullopt;
  if (!text.ends_with(kPublicKeySuffix)) return std::nullopt;
  PublicKey pub;
  if (!base32_decode_into(text.substr(0, kPublicKeyBase32Size), MutableByteSpan{pub.bytes, sizeof pub.bytes})) {
    return std::nullopt;
  }
  return pub;
}

std::string format_address(const Address& addr) {
  // 8 groups × 4 digits + 7 colons.
  std::string out;
  out.reserve(kAddressSize * 2 + kAddressSize / 2 - 1);
  for (std::size_t i = 0; i < kAddressSize; ++i) {
    if (i > 0 && i % 2 == 0) out.push_back(':');
    out.push_back(kHexDigits[addr.bytes[i] >> 4]);
    out.push_back(kHexDigits[addr.bytes[i] & 0x0f]);
  }
  return out;
}

std::optional<Address> parse_address(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text (with an embedded
  // IPv4 tail) fits in INET6_ADDRSTRLEN including its NUL.
  char buffer[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof buffer) return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  Address addr;
  static_assert(sizeof addr.bytes == sizeof(struct in6_addr));
  if (inet_pton(AF_INET6, buffer, addr.bytes) != 1) return std::nullopt;
  return addr;
}

}  // namespace mh
