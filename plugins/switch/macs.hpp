// mac1 and mac2 on handshake messages, as WireGuard has them: mac1 proves the sender knows
// the receiver's public key (so junk is dropped before any DH); mac2 proves it can receive
// at its endpoint (a cookie from a cookie reply), required only under load.
#pragma once

#include "frames.hpp"

#include <meshhost/types.hpp>

namespace mh::sw {

inline constexpr std::size_t kMacKeySize = 32;  // BLAKE2b-256
inline constexpr std::string_view kMac1Label = "mac1----";
inline constexpr std::string_view kCookieLabel = "cookie--";

struct MacKey {
  std::uint8_t bytes[kMacKeySize] = {};
};
struct Cookie {
  std::uint8_t bytes[kCookieSize] = {};
};
struct Mac {
  std::uint8_t bytes[kMacSize] = {};
};

// BLAKE2b-256("mac1----" || receiver's public key): the key for mac1 on messages to it.
MacKey mac1_key_for(const PublicKey& receiver) noexcept;
// BLAKE2b-256("cookie--" || receiver's public key): the key for cookie replies from it.
MacKey cookie_key_for(const PublicKey& receiver) noexcept;

// mac1 = BLAKE2b-128 keyed by mac1_key over the frame up to mac1.
Mac compute_mac1(const MacKey& key, ByteView covered) noexcept;
// mac2 = BLAKE2b-128 keyed by the cookie over the frame up to mac2.
Mac compute_mac2(const Cookie& cookie, ByteView covered) noexcept;
// Constant-time comparison of a computed MAC with the 16 received bytes.
bool mac_equal(const Mac& expected, ByteView received) noexcept;

}  // namespace mh::sw
