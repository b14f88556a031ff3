// Fuzz target for the udp driver's address code (plugins/udp/udp_endpoint.hpp): the
// "host:port" parser that reads operator config, and the endpoint packing that the switch
// hands back on every send. Text that parses prints back to an address that parses to the
// same endpoint; any 32 bytes as an endpoint are refused or round-trip through sockaddr.
#include "udp_endpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mh::udp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto endpoint = parse_host_port(text)) {
    check(endpoint_family(*endpoint).has_value());
    char printed[kMaxEndpointTextSize];
    const std::size_t n = format_endpoint(*endpoint, printed, sizeof printed);
    check(n > 0);
    const auto again = parse_host_port(std::string_view(printed, n));
    check(again && same_endpoint(*again, *endpoint));
  }

  // The same bytes as a packed endpoint of each kind.
  if (size < 2) return 0;
  mh::Endpoint endpoint;
  endpoint.kind = data[0];
  endpoint.size = data[1];
  std::memcpy(endpoint.bytes, data + 2, std::min(size - 2, sizeof endpoint.bytes));
  sockaddr_storage storage;
  const socklen_t length = endpoint_to_sockaddr(endpoint, &storage);
  check((length != 0) == endpoint_family(endpoint).has_value());
  if (length != 0) {
    const auto back = endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
    check(back && std::memcmp(back->bytes, endpoint.bytes, endpoint.size) == 0 && back->kind == endpoint.kind);
    char printed[kMaxEndpointTextSize];
    check(format_endpoint(endpoint, printed, sizeof printed) > 0);
  }
  return 0;
}
