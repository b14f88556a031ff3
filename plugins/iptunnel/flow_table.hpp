// The gateway's bounded flow table (DESIGN §6): which flows each client opened, so billing
// learns whether a downstream packet was solicited and the gateway can drop unsolicited
// inbound IPv6. No sockets, no clocks: time is passed in, in nanoseconds.
#pragma once

#include "ip_block.hpp"

#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mh::iptunnel {

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") parse_flow looks into.
inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmp6 = 58;
inline constexpr std::uint8_t kProtoSctp = 132;
inline constexpr std::uint8_t kProtoUdpLite = 136;

// What a parsed packet is to its flow.
enum class FlowRole : std::uint8_t {
  packet = 0,  // one of the flow's own packets
  answer = 1,  // an ICMP/ICMPv6 echo reply: part of the flow its request opened, never opens one
  error = 2,   // an ICMP/ICMPv6 error about a packet of the flow
};

enum class Fragment : std::uint8_t {
  none = 0,   // a whole packet
  first = 1,  // offset 0, more to come: carries the ports
  later = 2,  // offset > 0: no transport header, so no ports
};

// One packet's flow, oriented as the packet travels (source → destination). An error's key
// is the flow of the packet it quotes, turned round to travel the way the error does: a
// Packet Too Big sent towards a client about its packet to R has source R, so it is looked
// up exactly as R's replies are.
struct FlowKey {
  std::uint8_t protocol = 0;  // IPv6: the upper-layer header after the extension headers
  FlowRole role = FlowRole::packet;
  Fragment fragment = Fragment::none;
  IpAddress source;
  IpAddress destination;
  // TCP, UDP, UDP-Lite, SCTP: the ports. ICMP/ICMPv6 echo: the identifier, as the source
  // port of a request and the destination port of a reply, so a reply is the reverse of
  // its request. Otherwise, and for later fragments, both 0.
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
};

// Reads the flow of one whole IPv4 or IPv6 packet (the IP header's length must match the
// span). False for anything else, for a first fragment too short to hold the transport
// header, and for an ICMP error whose quoted packet cannot be read. Never reads outside
// `ip_packet`.
bool parse_flow(ByteSpan ip_packet, FlowKey* out) noexcept;

// How long an idle flow is remembered, per protocol (docs/protocol.md, timer registry).
struct FlowTimeouts {
  std::uint32_t tcp_s = 3600;
  std::uint32_t udp_s = 180;    // UDP and UDP-Lite
  std::uint32_t icmp_s = 30;    // ICMP and ICMPv6
  std::uint32_t other_s = 600;  // SCTP and every other protocol
};

struct FlowTableLimits {
  std::size_t capacity = 65536;      // entries; rounded up to a power of two, at least one probe window
  std::size_t per_client = 4096;     // entries one client may hold
  std::size_t max_clients = 4096;    // clients holding entries at once; at least the pinned keys
  FlowTimeouts timeouts;
  // Mixed into every slot's hash. The plugin draws it at random, so a client cannot work
  // out which probe window another client's flow falls in and crowd it out.
  std::uint64_t hash_seed = 0;
};

// What the table had to do or refuse, for the plugin's counters.
struct FlowTableStats {
  std::uint64_t evicted = 0;             // a live flow lost its slot to a newer one
  std::uint64_t refused_client_cap = 0;  // a client at per_client, none of its own in the window
  std::uint64_t refused_clients = 0;     // max_clients clients hold entries already
};

// Open addressing over a fixed array: a flow lives in one of the kProbeWindow slots from
// its hash, so every operation reads at most that many. Allocates only in the constructor.
// A client's flows are keyed by its PublicKey (the lease's authenticated key). Entries
// expire lazily: an expired entry keeps its slot (and counts for its client) until a new
// flow reuses it, or sweep() reclaims it.
class FlowTable {
 public:
  static constexpr std::size_t kProbeWindow = 16;

  explicit FlowTable(const FlowTableLimits& limits = {});

  // `k` is an upstream packet's key (source = the client's side). Records its flow, or
  // refreshes it. Echo replies, errors and later fragments open nothing and are ignored.
  // A new flow takes a free or expired slot in its window; when there is none, the entry
  // that expires first there is evicted. A client at its per_client cap may only replace
  // its own entries. False when the flow was refused (counted in stats()).
  bool note_upstream(const PublicKey& client, const FlowKey& k, std::uint64_t now_ns) noexcept;

  // True when `downstream_key` (source = the Internet side) is the reverse of a live flow
  // `client` opened: its protocol, both addresses and both ports. A later fragment matches
  // when an earlier first fragment between the same addresses and protocol did. A hit
  // refreshes the flow, unless the key is an error (a forged error must not keep a flow
  // alive).
  bool opened_by_client(const PublicKey& client, const FlowKey& downstream_key, std::uint64_t now_ns) noexcept;

  // Drops every flow of `client` (its lease ended). O(capacity): not for the data path.
  void forget_client(const PublicKey& client) noexcept;

  // Reclaims the expired entries among the next `max_slots` slots (a cursor goes round the
  // table), so expired flows stop counting against their client's cap; returns how many.
  // The plugin calls it from a timer: capacity / 8 slots a second sweeps the table every
  // 8 seconds.
  std::size_t sweep(std::uint64_t now_ns, std::size_t max_slots) noexcept;

  // Occupied entries, expired ones not yet reclaimed included.
  std::size_t size() const noexcept { return used_; }
  std::size_t capacity() const noexcept { return heads_.size(); }
  // Entries `client` holds, expired ones not yet reclaimed included.
  std::size_t client_flows(const PublicKey& client) const noexcept;
  const FlowTableStats& stats() const noexcept { return stats_; }

 private:
  // A flow as the client sees it.
  struct Flow {
    IpAddress client_address;
    IpAddress remote_address;
    std::uint16_t client_port = 0;
    std::uint16_t remote_port = 0;
    std::uint8_t protocol = 0;

    friend bool operator==(const Flow&, const Flow&) = default;
  };
  // The hot half of a slot, scanned first: expires_ns 0 is an empty slot.
  struct Head {
    std::uint64_t expires_ns = 0;
    std::uint32_t tag = 0;  // high bits of the hash, to skip most mismatches
  };
  struct Entry {
    PublicKey client;
    Flow flow;
  };
  struct ClientSlot {
    PublicKey key;
    std::uint32_t flows = 0;  // 0: an empty slot
  };

  std::uint64_t hash_of(const PublicKey& client, const Flow& f) const noexcept;
  std::uint64_t timeout_ns(std::uint8_t protocol) const noexcept;
  // The slot holding a live `f` of `client`, or -1.
  std::ptrdiff_t find(const PublicKey& client, const Flow& f, std::uint64_t hash, std::uint64_t now_ns) const noexcept;
  bool insert(const PublicKey& client, const Flow& f, std::uint64_t now_ns) noexcept;
  void free_slot(std::size_t slot) noexcept;

  ClientSlot* find_client(const PublicKey& key) noexcept;
  const ClientSlot* find_client(const PublicKey& key) const noexcept;
  ClientSlot* add_client(const PublicKey& key) noexcept;
  void remove_client(ClientSlot* c) noexcept;

  std::vector<Head> heads_;
  std::vector<Entry> entries_;
  std::size_t mask_ = 0;
  std::size_t used_ = 0;
  std::size_t sweep_cursor_ = 0;

  std::vector<ClientSlot> clients_;  // linear probing, at most half full
  std::size_t client_mask_ = 0;
  std::size_t client_count_ = 0;

  std::uint64_t seed_;

  std::size_t per_client_;
  std::size_t max_clients_;
  std::uint64_t tcp_ns_;
  std::uint64_t udp_ns_;
  std::uint64_t icmp_ns_;
  std::uint64_t other_ns_;
  FlowTableStats stats_;
};

}  // namespace mh::iptunnel
