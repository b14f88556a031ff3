// The plain-old-data types that cross the plugin boundary (DESIGN §2): nothing here has a
// layout that a compiler or standard library chooses.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mh {

// A borrowed string: not NUL-terminated, never owned by the receiver. The receiver copies
// what it wants to keep before the call returns.
struct Str {
  const char* data = nullptr;
  std::size_t size = 0;

  constexpr Str() noexcept = default;
  constexpr Str(const char* d, std::size_t n) noexcept : data(d), size(n) {}
  // From a NUL-terminated C string (a literal, usually).
  constexpr Str(const char* s) noexcept : data(s), size(s ? __builtin_strlen(s) : 0) {}
  // From anything with data()/size() over chars (std::string, std::string_view), without
  // naming any std:: type in this header.
  template <class S>
  static constexpr Str of(const S& s) noexcept {
    return Str(s.data(), s.size());
  }
  constexpr bool empty() const noexcept { return size == 0; }
};

// A borrowed byte range.
struct ByteSpan {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// A borrowed writable byte range.
struct MutableByteSpan {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

enum class StatusCode : std::int32_t {
  ok = 0,
  invalid_argument = 1,
  not_found = 2,
  already_exists = 3,
  again = 4,  // try later: a queue is full, a resource is busy
  io_error = 5,
  permission_denied = 6,
  unavailable = 7,
  unsupported = 8,
  internal = 9,
};

// The result of every fallible SDK call. `message` points at a string literal or at storage
// owned by the host (Host::fail copies a message there); it stays valid at least until the
// caller returns to the event loop, and the host copies it before then.
struct Status {
  StatusCode code = StatusCode::ok;
  Str message;

  constexpr bool ok() const noexcept { return code == StatusCode::ok; }
  static constexpr Status success() noexcept { return {}; }
  static constexpr Status error(StatusCode c, Str m) noexcept { return {c, m}; }
};

inline constexpr std::size_t kPublicKeySize = 32;
inline constexpr std::size_t kAddressSize = 16;
inline constexpr std::size_t kSharedSecretSize = 32;

// A node's X25519 public key (DESIGN §3).
struct PublicKey {
  std::uint8_t bytes[kPublicKeySize] = {};
};

// A node's fc00::/8 address: the first 16 bytes of SHA-512(SHA-512(public key)).
struct Address {
  std::uint8_t bytes[kAddressSize] = {};
};

// The output of an X25519 agreement.
struct SharedSecret {
  std::uint8_t bytes[kSharedSecretSize] = {};
};

enum class LogLevel : std::int32_t { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

// Names an SDK interface version. Interfaces are frozen within an ABI major; a new
// capability is a new interface with a new id, asked for with query().
struct InterfaceId {
  std::uint64_t value = 0;
  friend constexpr bool operator==(InterfaceId a, InterfaceId b) noexcept { return a.value == b.value; }
};

// FNV-1a over the interface's name, e.g. interface_id("meshhost.link.v1").
constexpr InterfaceId interface_id(const char* name) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (; *name != '\0'; ++name) {
    h ^= static_cast<std::uint8_t>(*name);
    h *= 1099511628211ull;
  }
  return InterfaceId{h};
}

}  // namespace mh
