// Fuzz target for tun's IPv6 reading and ICMPv6 building (plugins/tun/ipv6.hpp), which see
// every packet the kernel routes into the TUN device and every packet a session hands in.
// Any input is refused cleanly, or parsed into a header consistent with its bytes; the
// errors built about it stay within 1280 bytes, parse back as IPv6 going to its source and
// carry a checksum that verifies.
#include "ipv6.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_error(const std::uint8_t* invoking, std::size_t invoking_size, const std::uint8_t* out, std::size_t n) {
  using namespace mh::tun;
  check(n == kIpv6HeaderSize + kIcmpv6ErrorHeaderSize + (invoking_size < kIcmpv6MaxQuote ? invoking_size : kIcmpv6MaxQuote));
  check(n <= kIcmpv6ErrorMaxSize);
  const auto header = parse_ipv6({out, n});
  check(header.has_value());
  check(header->next_header == kNextHeaderIcmpv6);
  check(std::memcmp(header->source.bytes, invoking + 24, 16) == 0);
  check(std::memcmp(header->destination.bytes, invoking + 8, 16) == 0);
  check(upper_layer_checksum(header->source, header->destination, kNextHeaderIcmpv6,
                             {out + kIpv6HeaderSize, n - kIpv6HeaderSize}) == 0);
  check(std::memcmp(out + kIpv6HeaderSize + kIcmpv6ErrorHeaderSize, invoking, n - kIpv6HeaderSize - kIcmpv6ErrorHeaderSize) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mh::tun;
  const auto header = parse_ipv6({data, size});
  if (header) {
    check(size >= kIpv6HeaderSize);
    check((data[0] >> 4) == kIpv6Version);
    check(header->payload_length + kIpv6HeaderSize == size);
    check(std::memcmp(header->source.bytes, data + 8, 16) == 0);
    check(std::memcmp(header->destination.bytes, data + 24, 16) == 0);
    (void)may_answer_with_error(*header, {data, size});
  }
  if (size >= kIpv6HeaderSize) {
    static std::uint8_t out[kIcmpv6ErrorMaxSize];
    const std::uint32_t mtu = size >= 4 ? (std::uint32_t{data[0]} << 24 | std::uint32_t{data[1]} << 16 | data[2] << 8 | data[3]) : 0;
    const std::size_t too_big = build_packet_too_big({data, size}, mtu, {out, sizeof out});
    check_error(data, size, out, too_big);
    std::uint32_t advertised = std::uint32_t{out[44]} << 24 | std::uint32_t{out[45]} << 16 | out[46] << 8 | out[47];
    check(advertised >= kIpv6MinMtu && (mtu < kIpv6MinMtu || advertised == mtu));
    const std::size_t unreachable = build_destination_unreachable({data, size}, data[1], {out, sizeof out});
    check_error(data, size, out, unreachable);
    check(build_packet_too_big({data, size}, mtu, {out, kIpv6HeaderSize}) == 0);  // no room: nothing written
  } else {
    std::uint8_t out[kIcmpv6ErrorMaxSize];
    check(build_packet_too_big({data, size}, 1280, {out, sizeof out}) == 0);
  }
  return 0;
}
