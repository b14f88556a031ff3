// TAI64N timestamps (12 bytes) as WireGuard puts them in a handshake initiation: the
// responder drops an initiation whose timestamp is not newer than the last one it accepted.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mh {

inline constexpr std::size_t kTai64nSize = 12;  // 8 bytes seconds + 4 bytes nanoseconds

// 2^62 + TAI seconds, big-endian, then nanoseconds, big-endian. Big-endian fields make
// byte order equal time order, so comparison is memcmp.
struct Tai64n {
  std::uint8_t bytes[kTai64nSize] = {};

  friend bool operator==(const Tai64n& a, const Tai64n& b) noexcept;
};

// The label for Unix time `unix_seconds` + `nanoseconds` (nanoseconds >= 10^9 carry into
// the seconds). Uses a fixed TAI − UTC offset of 10 s, as wireguard-go does: only the order
// of a node's own timestamps matters, not their agreement with real TAI. Pure function.
Tai64n tai64n_from_unix(std::int64_t unix_seconds, std::uint32_t nanoseconds) noexcept;

// The current wall clock (CLOCK_REALTIME) as TAI64N, with the nanoseconds rounded down to a
// multiple of 2^24 ns (about 16.8 ms), as wireguard-go does, so the stamp does not leak a
// precise clock reading. Two calls within one such step return the same value.
Tai64n tai64n_now() noexcept;

// True if `candidate` is strictly later than `last` — what a responder requires of a new
// initiation from a key (DESIGN §4).
bool tai64n_is_newer(const Tai64n& candidate, const Tai64n& last) noexcept;

// The Unix seconds and nanoseconds a timestamp stands for (for logs); the inverse of
// tai64n_from_unix.
std::int64_t tai64n_unix_seconds(const Tai64n& stamp) noexcept;
std::uint32_t tai64n_nanoseconds(const Tai64n& stamp) noexcept;

}  // namespace mh
