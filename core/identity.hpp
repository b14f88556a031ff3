// The node's identity (DESIGN §3): its X25519 key pair and fc00::/8 address. The private
// key stays in this object; plugins get the public key, the address and dh().
#pragma once

#include "config.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/types.hpp>

#include <optional>
#include <string>

namespace mh::core {

class Identity {
 public:
  explicit Identity(const PrivateKey& key);  // PrivateKey wipes itself when destroyed
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  const PublicKey& public_key() const { return public_key_; }
  const Address& address() const { return address_; }
  // X25519(private, remote); false when the result is all zero (a low-order point).
  bool dh(const PublicKey& remote, SharedSecret* out) const;

 private:
  PrivateKey private_key_;
  PublicKey public_key_;
  Address address_;
};

// Loads the identity the config names (privateKey, or privateKeyFile which must be mode
// 0600 or stricter), checks publicKey/ipv6 when given and that the address is in fc00::/8.
// Problems go to `errors` with the config path they concern.
std::optional<PrivateKey> load_private_key(const HostConfig& config, ConfigErrors& errors);

}  // namespace mh::core
