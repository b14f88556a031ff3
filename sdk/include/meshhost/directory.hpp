// Address → key: the router's directory (service "router", kDirectoryInterface). Every
// route the router accepts carries its originator's public key, checked against the
// address (DESIGN §3), so a key found here hashes to the address asked for.
#pragma once

#include <meshhost/types.hpp>

namespace mh {

class Directory {
 public:
  // The key of the node whose address is `address`, if the router has a usable route to
  // it; false otherwise. Cheap: no hashing, no allocation.
  virtual bool lookup_key(const Address& address, PublicKey* key) noexcept = 0;

 protected:
  ~Directory() = default;
};

inline constexpr InterfaceId kDirectoryInterface = interface_id("meshhost.directory.v1");

}  // namespace mh
