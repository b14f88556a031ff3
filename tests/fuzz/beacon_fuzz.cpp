// Fuzz target for the link drivers' beacon parser (plugins/link_common/beacon.hpp), which
// reads frames from anyone on a LAN. Any input is refused cleanly, or accepted as a beacon
// that encodes back to exactly the same bytes.
#include "beacon.hpp"

#include <meshhost/keys.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mh::link_common;
  const mh::ByteSpan frame{data, size};
  const auto beacon = parse_beacon(frame);
  if (!beacon) return 0;
  check(size == kBeaconSize);
  check(is_beacon_frame(frame));
  check(mh::is_valid_node_key(beacon->key));
  std::uint8_t again[kBeaconSize];
  check(encode_beacon(beacon->key, beacon->flags, {again, sizeof again}) == kBeaconSize);
  check(std::memcmp(again, data, kBeaconSize) == 0);
  return 0;
}
