// TAI64N labels (https://cr.yp.to/libtai/tai64.html), computed the way wireguard-go's
// tai64n package does so that meshhost's initiations order the same way.
#include <meshhost/tai64n.hpp>

#include <cstring>
#include <ctime>

namespace mh {

namespace {

constexpr std::uint64_t kTai64Base = std::uint64_t{1} << 62;  // TAI64 label of 1970 TAI
constexpr std::uint64_t kTaiMinusUtcSeconds = 10;             // wireguard-go's fixed offset
constexpr std::uint32_t kNanosecondsPerSecond = 1'000'000'000;
// wireguard-go's whitener: drops the low 24 bits of the nanoseconds from "now".
constexpr std::uint32_t kWhitenerMask = (std::uint32_t{1} << 24) - 1;

void put_be64(std::uint8_t* out, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<std::uint8_t>(v);
}
void put_be32(std::uint8_t* out, std::uint32_t v) noexcept {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<std::uint8_t>(v);
}
std::uint64_t get_be64(const std::uint8_t* in) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}
std::uint32_t get_be32(const std::uint8_t* in) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

bool operator==(const Tai64n& a, const Tai64n& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kTai64nSize) == 0;
}

Tai64n tai64n_from_unix(std::int64_t unix_seconds, std::uint32_t nanoseconds) noexcept {
  unix_seconds += nanoseconds / kNanosecondsPerSecond;
  nanoseconds %= kNanosecondsPerSecond;
  Tai64n stamp;
  // Unsigned arithmetic wraps the same way two's complement does, so times before 1970
  // land below the base as TAI64 wants.
  put_be64(stamp.bytes, kTai64Base + kTaiMinusUtcSeconds + static_cast<std::uint64_t>(unix_seconds));
  put_be32(stamp.bytes + 8, nanoseconds);
  return stamp;
}

Tai64n tai64n_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const auto nanoseconds = static_cast<std::uint32_t>(ts.tv_nsec) & ~kWhitenerMask;
  return tai64n_from_unix(static_cast<std::int64_t>(ts.tv_sec), nanoseconds);
}

bool tai64n_is_newer(const Tai64n& candidate, const Tai64n& last) noexcept {
  return std::memcmp(candidate.bytes, last.bytes, kTai64nSize) > 0;
}

std::int64_t tai64n_unix_seconds(const Tai64n& stamp) noexcept {
  return static_cast<std::int64_t>(get_be64(stamp.bytes) - kTai64Base - kTaiMinusUtcSeconds);
}

std::uint32_t tai64n_nanoseconds(const Tai64n& stamp) noexcept { return get_be32(stamp.bytes + 8); }

}  // namespace mh
