// libFuzzer target for iptunnel's flow parser and table (plugins/iptunnel/flow_table.hpp):
// every input is one IP packet as the gateway's TUN or a client's session hands it over.
// Nothing may read out of bounds; a flow noted upstream must be recognised at once in
// reverse; a key never noted is never recognised; the table keeps its bounds while one
// small table lives across inputs (eviction, expiry, sweeping and forgetting included).
#include "flow_table.hpp"

#include <cstddef>
#include <cstdint>

using namespace mh::iptunnel;

namespace {

constexpr std::size_t kClients = 4;
constexpr std::size_t kPerClient = 32;
constexpr std::uint64_t kNsPerInput = 1'000'000'000;  // one second between packets
constexpr std::uint64_t kSweepEvery = 64;             // inputs
constexpr std::uint64_t kForgetEvery = 1024;          // inputs

mh::PublicKey client_key(std::size_t n) {
  mh::PublicKey k;
  for (std::uint8_t& b : k.bytes) b = static_cast<std::uint8_t>(0x40 + n);
  return k;
}

// Small, so eviction and the per-client cap are reached quickly; short ICMP timeouts so
// entries expire within a run.
FlowTableLimits small_limits() {
  FlowTableLimits limits;
  limits.capacity = 256;
  limits.per_client = kPerClient;
  limits.max_clients = kClients;
  limits.timeouts.icmp_s = 5;
  return limits;
}

FlowKey reversed(const FlowKey& k) {
  FlowKey r;
  r.protocol = k.protocol;
  r.source = k.destination;
  r.destination = k.source;
  r.source_port = k.destination_port;
  r.destination_port = k.source_port;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FlowKey k;
  if (!parse_flow(mh::ByteSpan{data, size}, &k)) return 0;
  if (k.source.family != k.destination.family) __builtin_trap();
  if (k.fragment == Fragment::later && (k.source_port != 0 || k.destination_port != 0)) __builtin_trap();

  static FlowTable table(small_limits());
  static std::uint64_t inputs = 0;
  ++inputs;
  const std::uint64_t now = inputs * kNsPerInput;
  const mh::PublicKey client = client_key(size % kClients);
  const mh::PublicKey stranger = client_key(kClients);

  const bool recordable = k.role == FlowRole::packet && k.fragment != Fragment::later;
  if (table.note_upstream(client, k, now) && recordable && !table.opened_by_client(client, reversed(k), now)) {
    __builtin_trap();
  }
  table.opened_by_client(client, k, now);  // the same packet seen downstream: errors, fragments
  if (table.opened_by_client(stranger, reversed(k), now)) __builtin_trap();

  if (table.size() > table.capacity() || table.client_flows(client) > kPerClient) __builtin_trap();
  if (inputs % kSweepEvery == 0) table.sweep(now, table.capacity() / 4);
  if (inputs % kForgetEvery == 0) {
    table.forget_client(client);
    if (table.client_flows(client) != 0) __builtin_trap();
  }
  return 0;
}
