// Node identity as cjdns defines it (DESIGN §3): X25519 keys, fc00::/8 addresses derived
// by double SHA-512, and their text forms. Support library only, never across the ABI.
#pragma once

#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mh {

inline constexpr std::size_t kPrivateKeySize = 32;
inline constexpr std::size_t kPrivateKeyHexSize = 2 * kPrivateKeySize;  // 64
// A public key in text: 52 base32 characters (256 bits, 5 per character) and ".k".
inline constexpr std::string_view kPublicKeySuffix = ".k";
inline constexpr std::size_t kPublicKeyBase32Size = 52;
inline constexpr std::size_t kPublicKeyTextSize = kPublicKeyBase32Size + kPublicKeySuffix.size();
// Every valid node address begins with this byte (fc00::/8).
inline constexpr std::uint8_t kAddressPrefix = 0xfc;

// A node's X25519 private key, stored as cjdns stores it: 32 random bytes, unclamped
// (X25519 clamps when it uses them), so a cjdroute.conf key maps to the same public key.
// It lives only in the host and in tests; it never crosses the plugin boundary.
// Destruction wipes it; copies are wiped when they die too.
struct PrivateKey {
  std::uint8_t bytes[kPrivateKeySize] = {};
  ~PrivateKey();
};

// Overwrites `key` with zeros in a way the compiler may not drop.
void wipe(PrivateKey& key) noexcept;

struct KeyPair {
  PrivateKey priv;
  PublicKey pub;
  Address addr;
};

// X25519(private key, base point). Pure; never fails.
PublicKey public_key_of(const PrivateKey& priv) noexcept;

// The first 16 bytes of SHA-512(SHA-512(pub)). Pure; never fails. The result is a node
// address only if is_valid_node_key(pub).
Address address_of(const PublicKey& pub) noexcept;

// True when address_of(pub) lies in fc00::/8: the only keys a node may have or accept.
bool is_valid_node_key(const PublicKey& pub) noexcept;

// True when `addr` is the address of `pub`: check every address → key mapping with this
// before using it (DESIGN §3).
bool address_matches_key(const Address& addr, const PublicKey& pub) noexcept;

// A fresh random key whose address begins with 0xfc (about 256 tries on average).
// Uses libsodium's CSPRNG; never fails.
KeyPair generate_node_key();

// The key pair a private key determines (e.g. one read from a config). The address may
// be outside fc00::/8; check is_valid_node_key(result.pub).
KeyPair key_pair_of(const PrivateKey& priv) noexcept;

// X25519(priv, remote) into *out. False (and *out zeroed) when the result is all zero,
// i.e. `remote` is a low-order point; such a secret must not be used.
bool compute_shared_secret(const PrivateKey& priv, const PublicKey& remote, SharedSecret* out) noexcept;

// Lowercase hex of `bytes` (borrowed), two characters per byte.
std::string to_hex(ByteSpan bytes);

// Exactly 64 hex digits (either case), nothing around them; nullopt otherwise.
std::optional<PrivateKey> parse_private_key_hex(std::string_view text);

// 64 lowercase hex digits. The result holds the secret: keep it out of logs.
std::string format_private_key_hex(const PrivateKey& priv);

// The cjdns text form: 52 characters of cjdns base32 followed by ".k" (54 in all).
std::string format_public_key(const PublicKey& pub);

// Parses the cjdns text form: exactly 52 base32 characters then ".k", with the encoding's
// unused top bits zero. Syntax only: a key whose address is outside fc00::/8 parses, so
// callers accepting a node key also check is_valid_node_key().
std::optional<PublicKey> parse_public_key(std::string_view text);

// 8 groups of 4 lowercase hex digits separated by ':', no zero compression, as cjdns
// prints: "fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d".
std::string format_address(const Address& addr);

// Any IPv6 text form inet_pton accepts ("fc00::1", full form, mixed case). No brackets,
// zone index or prefix length; nullopt otherwise. Does not require fc00::/8.
std::optional<Address> parse_address(std::string_view text);

}  // namespace mh
