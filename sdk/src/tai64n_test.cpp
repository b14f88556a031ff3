// Tests TAI64N stamps: the exact bytes WireGuard would send, ordering, and the clock helper.
#include <meshhost/tai64n.hpp>

#include <doctest/doctest.h>

#include <ctime>
#include <string>

namespace {
std::string hex(const mh::Tai64n& stamp) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : stamp.bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}
}  // namespace

TEST_CASE("tai64n: the label is 2^62 + 10 + seconds, then nanoseconds, big-endian") {
  CHECK(hex(mh::tai64n_from_unix(0, 0)) == "400000000000000a00000000");
  // 1700000000 = 0x6553f100; 123456789 = 0x075bcd15.
  CHECK(hex(mh::tai64n_from_unix(1700000000, 123456789)) == "400000006553f10a075bcd15");
  CHECK(hex(mh::tai64n_from_unix(-11, 999999999)) == "3fffffffffffffff3b9ac9ff");
}

TEST_CASE("tai64n: nanoseconds past a second carry into the seconds") {
  CHECK(mh::tai64n_from_unix(10, 1'500'000'000) == mh::tai64n_from_unix(11, 500'000'000));
}

TEST_CASE("tai64n: converts back to Unix time") {
  const mh::Tai64n stamp = mh::tai64n_from_unix(1700000000, 42);
  CHECK(mh::tai64n_unix_seconds(stamp) == 1700000000);
  CHECK(mh::tai64n_nanoseconds(stamp) == 42);
  CHECK(mh::tai64n_unix_seconds(mh::tai64n_from_unix(-5, 0)) == -5);
}

TEST_CASE("tai64n: newer means strictly later") {
  const mh::Tai64n base = mh::tai64n_from_unix(1700000000, 500);
  CHECK_FALSE(mh::tai64n_is_newer(base, base));
  CHECK(mh::tai64n_is_newer(mh::tai64n_from_unix(1700000000, 501), base));
  CHECK(mh::tai64n_is_newer(mh::tai64n_from_unix(1700000001, 0), base));
  CHECK_FALSE(mh::tai64n_is_newer(mh::tai64n_from_unix(1699999999, 999999999), base));
  CHECK_FALSE(mh::tai64n_is_newer(mh::tai64n_from_unix(1700000000, 499), base));
  CHECK(mh::tai64n_is_newer(base, mh::tai64n_from_unix(-1, 0)));  // before 1970 still orders
  CHECK(mh::tai64n_is_newer(base, mh::Tai64n{}));                 // "nothing accepted yet"
}

TEST_CASE("tai64n: now follows the wall clock, whitened to 2^24 ns") {
  // The same clock tai64n_now reads: time() is the kernel's coarse clock, which can still
  // say second N when CLOCK_REALTIME is already in N+1 (seen once in a CI-like run).
  const auto realtime_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec);
  };
  const std::int64_t before = realtime_s();
  const mh::Tai64n first = mh::tai64n_now();
  const mh::Tai64n second = mh::tai64n_now();
  const std::int64_t after = realtime_s();
  CHECK(mh::tai64n_unix_seconds(first) >= before);
  CHECK(mh::tai64n_unix_seconds(first) <= after);
  CHECK(mh::tai64n_nanoseconds(first) % (1u << 24) == 0);
  CHECK(mh::tai64n_nanoseconds(first) < 1'000'000'000u);
  CHECK_FALSE(mh::tai64n_is_newer(first, second));
}
