// libFuzzer target for the router's wire format (plugins/router/messages.hpp) and the
// route table's receive path behind it: every input is checked as a routing packet, its
// TLVs read back, and the packet handed to a fresh table as if a neighbour sent it, then
// time runs on. Nothing may read out of bounds, the reader must agree with the checker,
// and the table must never install a route through no neighbour.
#include "messages.hpp"
#include "route_table.hpp"

#include <meshhost/keys.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using namespace mh::router;

struct CheckingOutput final : Output {
  void send(mh::NeighbourId to, const Message& m) noexcept override {
    if (to == mh::kNoNeighbour || encoded_size(m) == 0 || encoded_size(m) > kMaxTlvSize) __builtin_trap();
  }
  void install_route(const mh::Address&, mh::NeighbourId next_hop) noexcept override {
    if (next_hop != kNeighbour) __builtin_trap();
  }
  void remove_route(const mh::Address&) noexcept override {}
  void own_seqno_changed(std::uint16_t) noexcept override {}
  static constexpr mh::NeighbourId kNeighbour = 0x10001;
};

// Fixed identities. Our own address is a simple one the fuzzer can find by comparison.
mh::PublicKey key_of(std::uint8_t fill) {
  mh::PublicKey k;
  std::memset(k.bytes, fill, sizeof k.bytes);
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  std::size_t known = 0, unknown = 0;
  const PacketCheck check = check_packet(input, &known, &unknown);
  if (check == PacketCheck::ok) {
    if (size < kPacketHeaderSize || (known + unknown) * kTlvHeaderSize > size) __builtin_trap();
    TlvReader reader(input);
    Message m;
    std::size_t read = 0;
    while (reader.next(&m)) {
      ++read;
      std::uint8_t out[kMaxTlvSize];
      if (write_tlv(m, MutableByteView(out, sizeof out)) != encoded_size(m)) __builtin_trap();
    }
    if (read != known) __builtin_trap();
  } else if (known != 0 || unknown != 0) {
    __builtin_trap();
  }

  static const mh::PublicKey own_key = key_of(1);
  static const mh::PublicKey neighbour_key = key_of(2);
  static const mh::Address neighbour_address = mh::address_of(neighbour_key);
  mh::Address own_address;
  own_address.bytes[0] = 0xfc;
  own_address.bytes[15] = 1;
  CheckingOutput output;
  Limits limits;
  limits.max_routes = 64;
  limits.max_routes_per_neighbour = 32;
  constexpr std::uint64_t kStart = 1'000'000'000;
  RouteTable table(own_key, own_address, 1000, Timers{}, limits, output, kStart);
  table.neighbour_up(CheckingOutput::kNeighbour, neighbour_key, 10, kStart);
  table.receive(CheckingOutput::kNeighbour, neighbour_address, input, kStart);
  table.receive(CheckingOutput::kNeighbour, neighbour_address, input, kStart + 1);  // again: refreshes, duplicates
  if (table.route_count() > limits.max_routes) __builtin_trap();
  table.neighbour_cost(CheckingOutput::kNeighbour, 500, kStart + 2);
  table.tick(kStart + 60'000'000'000ull);
  table.neighbour_down(CheckingOutput::kNeighbour, kStart + 61'000'000'000ull);
  if (table.selected_count() != 0) __builtin_trap();
  // Long after: requests given up, hold-downs and feasibility distances expired.
  for (std::uint64_t s = 600; s < 700; s += 10) table.tick(kStart + s * 1'000'000'000ull);
  if (!table.destinations().empty()) __builtin_trap();
  return 0;
}
