// mac1/mac2 with libsodium's BLAKE2b (crypto_generichash), as WireGuard's whitepaper §5.4.4.
#include "macs.hpp"

#include <sodium.h>

namespace mh::sw {

namespace {

static_assert(kMacKeySize >= crypto_generichash_KEYBYTES_MIN && kMacKeySize <= crypto_generichash_KEYBYTES_MAX);
static_assert(kMacSize >= crypto_generichash_BYTES_MIN);

MacKey labelled_key(std::string_view label, const PublicKey& key) noexcept {
  MacKey out;
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof out.bytes);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_generichash_update(&state, key.bytes, sizeof key.bytes);
  crypto_generichash_final(&state, out.bytes, sizeof out.bytes);
  return out;
}

Mac keyed_mac(const std::uint8_t* key, std::size_t key_size, ByteView covered) noexcept {
  Mac out;
  crypto_generichash(out.bytes, sizeof out.bytes, covered.data(), covered.size(), key, key_size);
  return out;
}

}  // namespace

MacKey mac1_key_for(const PublicKey& receiver) noexcept { return labelled_key(kMac1Label, receiver); }
MacKey cookie_key_for(const PublicKey& receiver) noexcept { return labelled_key(kCookieLabel, receiver); }

Mac compute_mac1(const MacKey& key, ByteView covered) noexcept { return keyed_mac(key.bytes, sizeof key.bytes, covered); }
Mac compute_mac2(const Cookie& cookie, ByteView covered) noexcept {
  return keyed_mac(cookie.bytes, sizeof cookie.bytes, covered);
}

bool mac_equal(const Mac& expected, ByteView received) noexcept {
  return received.size() == kMacSize && sodium_memcmp(expected.bytes, received.data(), kMacSize) == 0;
}

}  // namespace mh::sw
