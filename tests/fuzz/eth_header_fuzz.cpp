// Fuzz target for the eth header parser (plugins/eth/ether_frame.hpp), which reads the
// payload of every Ethernet frame with meshhost's EtherType that anyone on the segment
// sends, and for the endpoint unpacking. Any input is refused cleanly, or accepted with a
// length inside the payload whose header writes back to the same four bytes.
#include "ether_frame.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mh::ether;
  const std::optional<std::uint16_t> length = parse_header({data, size});
  if (length) {
    check(size >= kHeaderSize);
    check(*length >= 1 && *length <= size - kHeaderSize);
    std::uint8_t again[kHeaderSize];
    write_header(again, *length);
    check(std::memcmp(again, data, kHeaderSize) == 0);
  }

  // The same bytes as an endpoint: only kind 0x45 with size 10 unpacks, and packs back.
  mh::Endpoint endpoint;
  endpoint.kind = size > 0 ? data[0] : 0;
  endpoint.size = size > 1 ? data[1] : 0;
  const std::size_t body = size > 2 ? std::min(size - 2, mh::Endpoint::kMaxSize) : 0;
  if (body > 0) std::memcpy(endpoint.bytes, data + 2, body);
  MacAddress mac;
  std::uint32_t ifindex = 0;
  if (parse_endpoint(endpoint, &mac, &ifindex)) {
    check(endpoint.kind == kEndpointKind && endpoint.size == kEndpointSize);
    const mh::Endpoint packed = make_endpoint(mac, ifindex);
    check(std::memcmp(packed.bytes, endpoint.bytes, kEndpointSize) == 0);
    char text[kMacTextSize];
    check(format_mac(mac, text, sizeof text) == kMacTextSize);
  }
  return 0;
}
