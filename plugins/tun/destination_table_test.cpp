// The table of troubled destinations: marks hold for their time and no longer.
#include "destination_table.hpp"
#include "tun_test_support.hpp"

#include <doctest/doctest.h>

namespace {

using namespace mh;
using namespace mh::tun;

constexpr std::uint64_t kSecond = 1'000'000'000;
const DestinationTable::Hold kHold{3 * kSecond, 600 * kSecond};

}  // namespace

TEST_CASE("an unreachable mark holds for its time, with its code") {
  DestinationTable table(kHold);
  const Address a = fakes::address_with(0xfc, 1), b = fakes::address_with(0xfc, 2);
  table.mark_unreachable(a, kIcmpv6CodeAddressUnreachable, 10 * kSecond);
  std::uint8_t code = 0;
  CHECK(table.unreachable(a, 10 * kSecond, &code));
  CHECK(code == kIcmpv6CodeAddressUnreachable);
  CHECK(table.unreachable(a, 13 * kSecond - 1));
  CHECK_FALSE(table.unreachable(a, 13 * kSecond));
  CHECK_FALSE(table.unreachable(b, 10 * kSecond));
  CHECK(table.live(10 * kSecond) == 1);
  CHECK(table.live(13 * kSecond) == 0);
}

TEST_CASE("a path MTU is never below 1280, follows the newest hint and expires") {
  DestinationTable table(kHold);
  const Address a = fakes::address_with(0xfc, 1);
  CHECK(table.path_mtu(a, 0) == 0);
  table.set_path_mtu(a, 900, kSecond);
  CHECK(table.path_mtu(a, kSecond) == 1280);
  table.set_path_mtu(a, 1400, 2 * kSecond);
  CHECK(table.path_mtu(a, 2 * kSecond) == 1400);
  CHECK_FALSE(table.unreachable(a, 2 * kSecond));  // an MTU is not a failure
  CHECK(table.path_mtu(a, 602 * kSecond) == 0);
}

TEST_CASE("a full table gives way to the entry closest to expiry, never grows") {
  DestinationTable table(kHold);
  for (std::size_t i = 0; i < DestinationTable::kCapacity; ++i) {
    table.mark_unreachable(fakes::address_with(0xfc, static_cast<std::uint8_t>(i)), 0, kSecond + i);
  }
  CHECK(table.live(kSecond + 100) == DestinationTable::kCapacity);
  const Address newcomer = fakes::address_with(0xfd, 0);
  table.mark_unreachable(newcomer, 0, 2 * kSecond);
  CHECK(table.unreachable(newcomer, 2 * kSecond));
  CHECK_FALSE(table.unreachable(fakes::address_with(0xfc, 0), 2 * kSecond));  // the oldest went
  CHECK(table.unreachable(fakes::address_with(0xfc, 1), 2 * kSecond));
  CHECK(table.live(2 * kSecond) == DestinationTable::kCapacity);
}
