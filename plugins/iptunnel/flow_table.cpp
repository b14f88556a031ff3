// The flow parser (IPv4, IPv6 extension headers, ICMP errors' quoted packets) and the
// bounded flow table behind "the client opened it".
#include "flow_table.hpp"

#include "iptunnel_messages.hpp"

#include <meshhost/byte_order.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace mh::iptunnel {

namespace {

// ---- IPv4 (RFC 791) ----
constexpr std::size_t kIp4TotalLengthAt = 2;
constexpr std::size_t kIp4FragmentAt = 6;  // flags (3 bits) | fragment offset (13 bits)
constexpr std::uint16_t kIp4MoreFragments = 0x2000;
constexpr std::uint16_t kIp4OffsetMask = 0x1fff;
constexpr std::size_t kIp4ProtocolAt = 9;
constexpr std::size_t kIp4SourceAt = 12;
constexpr std::size_t kIp4DestinationAt = 16;
constexpr unsigned kIhlUnitBytes = 4;

// ---- IPv6 (RFC 8200) ----
constexpr std::size_t kIp6PayloadLengthAt = 4;
constexpr std::size_t kIp6NextHeaderAt = 6;
constexpr std::size_t kIp6SourceAt = 8;
constexpr std::size_t kIp6DestinationAt = 24;
constexpr std::uint8_t kIp6HopByHop = 0;
constexpr std::uint8_t kIp6Routing = 43;
constexpr std::uint8_t kIp6Fragment = 44;
constexpr std::uint8_t kIp6DestinationOptions = 60;
// Hop-by-hop, routing, destination options: next header (1), length in 8-byte units not
// counting the first 8 (1), data.
constexpr std::size_t kIp6OptionsPrefix = 1 + 1;
constexpr std::size_t kIp6OptionsUnit = 8;
// Fragment header: next header (1), reserved (1), offset (13 bits) | res (2) | M (1), id (4).
constexpr std::size_t kIp6FragmentHeaderSize = 1 + 1 + 2 + 4;  // 8
constexpr std::size_t kIp6FragmentOffsetAt = 2;
constexpr unsigned kIp6FragmentOffsetShift = 3;
constexpr std::uint16_t kIp6MoreFragments = 0x0001;
// More than any sane packet carries (RFC 8200 §4.1 orders at most six kinds); a longer
// chain is refused rather than walked.
constexpr unsigned kMaxExtensionHeaders = 8;

// ---- transport headers: both ports in the first 4 bytes of each ----
constexpr std::size_t kPortsSize = 2 + 2;
constexpr std::size_t kTcpMinHeader = 20;
constexpr std::size_t kUdpHeader = 8;  // UDP-Lite too
constexpr std::size_t kSctpCommonHeader = 12;
// ICMP and ICMPv6: type (1), code (1), checksum (2), then 4 bytes (echo: id, sequence;
// errors: unused, MTU or pointer), then an error's quoted packet.
constexpr std::size_t kIcmpHeader = 1 + 1 + 2 + 4;  // 8
constexpr std::size_t kIcmpEchoIdAt = 4;
// An error quotes the original IP header and at least its first 64 bits of data (RFC 792;
// ICMPv6 quotes as much as fits, RFC 4443 §2.4): enough for ports or an echo id.
constexpr std::size_t kQuotedTransportBytes = 8;

constexpr std::uint8_t kIcmpEchoReply = 0;
constexpr std::uint8_t kIcmpDestinationUnreachable = 3;  // code 4: fragmentation needed
constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmpTimeExceeded = 11;
constexpr std::uint8_t kIcmpParameterProblem = 12;

constexpr std::uint8_t kIcmp6DestinationUnreachable = 1;
constexpr std::uint8_t kIcmp6PacketTooBig = 2;
constexpr std::uint8_t kIcmp6TimeExceeded = 3;
constexpr std::uint8_t kIcmp6ParameterProblem = 4;
constexpr std::uint8_t kIcmp6EchoRequest = 128;
constexpr std::uint8_t kIcmp6EchoReply = 129;

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// Larger than any gateway needs; keeps the power-of-two rounding defined.
constexpr std::size_t kMaxCapacity = std::size_t{1} << 24;

// One IP header read: addresses, upper-layer protocol, and the bytes after the headers.
struct IpHeader {
  IpAddress source;
  IpAddress destination;
  std::uint8_t protocol = 0;
  Fragment fragment = Fragment::none;
  ByteSpan transport;
};

// A packet quoted by an ICMP error is cut short: its length field bounds the walk but need
// not match the bytes present. An outer packet's length field must match exactly.
bool read_ip4(ByteSpan in, bool quoted, IpHeader* out) noexcept {
  if (in.size < kIp4MinHeader) return false;
  const std::size_t header = std::size_t{in.data[0] & 0x0fu} * kIhlUnitBytes;
  const std::size_t total = get_u16(in.data + kIp4TotalLengthAt);
  if (header < kIp4MinHeader || header > in.size || total < header) return false;
  if (!quoted && total != in.size) return false;
  if (total < in.size) in.size = total;  // a quote longer than its packet: ignore the rest
  out->source = IpAddress{};
  out->destination = IpAddress{};
  out->source.family = out->destination.family = Family::ip4;
  std::memcpy(out->source.bytes, in.data + kIp4SourceAt, kIp4Size);
  std::memcpy(out->destination.bytes, in.data + kIp4DestinationAt, kIp4Size);
  out->protocol = in.data[kIp4ProtocolAt];
  const std::uint16_t fragment = get_u16(in.data + kIp4FragmentAt);
  out->fragment = (fragment & kIp4OffsetMask) != 0       ? Fragment::later
                  : (fragment & kIp4MoreFragments) != 0 ? Fragment::first
                                                        : Fragment::none;
  out->transport = ByteSpan{in.data + header, in.size - header};
  return true;
}

bool read_ip6(ByteSpan in, bool quoted, IpHeader* out) noexcept {
  if (in.size < kIp6Header) return false;
  const std::size_t total = kIp6Header + get_u16(in.data + kIp6PayloadLengthAt);
  if (!quoted && total != in.size) return false;
  if (total < in.size) in.size = total;
  out->source.family = out->destination.family = Family::ip6;
  std::memcpy(out->source.bytes, in.data + kIp6SourceAt, kIp6Size);
  std::memcpy(out->destination.bytes, in.data + kIp6DestinationAt, kIp6Size);
  out->fragment = Fragment::none;
  std::uint8_t next = in.data[kIp6NextHeaderAt];
  std::size_t at = kIp6Header;
  for (unsigned seen = 0;; ++seen) {
    const bool options = next == kIp6HopByHop || next == kIp6Routing || next == kIp6DestinationOptions;
    if (!options && next != kIp6Fragment) break;
    if (seen == kMaxExtensionHeaders) return false;
    if (options) {
      if (in.size - at < kIp6OptionsPrefix) return false;
      const std::size_t length = (std::size_t{in.data[at + 1]} + 1) * kIp6OptionsUnit;
      if (in.size - at < length) return false;
      next = in.data[at];
      at += length;
      continue;
    }
    if (in.size - at < kIp6FragmentHeaderSize) return false;
    const std::uint16_t field = get_u16(in.data + at + kIp6FragmentOffsetAt);
    next = in.data[at];
    at += kIp6FragmentHeaderSize;
    if ((field >> kIp6FragmentOffsetShift) != 0) {
      // What follows is the middle of the original payload, not a header.
      out->fragment = Fragment::later;
      break;
    }
    if ((field & kIp6MoreFragments) != 0) out->fragment = Fragment::first;
  }
  out->protocol = next;
  out->transport = ByteSpan{in.data + at, in.size - at};
  return true;
}

bool read_ip(ByteSpan in, bool quoted, IpHeader* out) noexcept {
  if (in.size == 0) return false;
  switch (in.data[0] >> 4) {
    case 4: return read_ip4(in, quoted, out);
    case 6: return read_ip6(in, quoted, out);
    default: return false;
  }
}

std::size_t ported_header_size(std::uint8_t protocol) noexcept {
  switch (protocol) {
    case kProtoTcp: return kTcpMinHeader;
    case kProtoUdp:
    case kProtoUdpLite: return kUdpHeader;
    case kProtoSctp: return kSctpCommonHeader;
    default: return 0;  // no ports to read
  }
}

bool is_icmp_error(Family family, std::uint8_t type) noexcept {
  if (family == Family::ip4) {
    return type == kIcmpDestinationUnreachable || type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
  }
  return type == kIcmp6DestinationUnreachable || type == kIcmp6PacketTooBig || type == kIcmp6TimeExceeded ||
         type == kIcmp6ParameterProblem;
}

bool parse_packet(ByteSpan in, bool quoted, FlowKey* out) noexcept;

// The flow of the packet an error quotes, turned round to travel the error's way.
bool parse_quoted(const IpHeader& outer, ByteSpan quote, FlowKey* out) noexcept {
  FlowKey original;
  if (!parse_packet(quote, true, &original) || original.source.family != outer.source.family) return false;
  out->protocol = original.protocol;
  out->role = FlowRole::error;
  out->fragment = original.fragment;
  out->source = original.destination;
  out->destination = original.source;
  out->source_port = original.destination_port;
  out->destination_port = original.source_port;
  return true;
}

bool parse_packet(ByteSpan in, bool quoted, FlowKey* out) noexcept {
  IpHeader ip;
  if (!read_ip(in, quoted, &ip)) return false;
  *out = FlowKey{};
  out->protocol = ip.protocol;
  out->fragment = ip.fragment;
  out->source = ip.source;
  out->destination = ip.destination;
  if (ip.fragment == Fragment::later) return true;  // no transport header here

  const ByteSpan t = ip.transport;
  const bool icmp = (ip.protocol == kProtoIcmp && ip.source.family == Family::ip4) ||
                    (ip.protocol == kProtoIcmp6 && ip.source.family == Family::ip6);
  if (icmp) {
    if (t.size < (quoted ? kQuotedTransportBytes : kIcmpHeader)) return false;
    const std::uint8_t type = t.data[0];
    const bool v4 = ip.source.family == Family::ip4;
    if (is_icmp_error(ip.source.family, type)) {
      // An error about an error is never sent (RFC 792, RFC 4443 §2.4 e.1).
      if (quoted) return false;
      return parse_quoted(ip, ByteSpan{t.data + kIcmpHeader, t.size - kIcmpHeader}, out);
    }
    if (type == (v4 ? kIcmpEchoRequest : kIcmp6EchoRequest)) {
      out->source_port = get_u16(t.data + kIcmpEchoIdAt);
    } else if (type == (v4 ? kIcmpEchoReply : kIcmp6EchoReply)) {
      out->destination_port = get_u16(t.data + kIcmpEchoIdAt);
      out->role = FlowRole::answer;
    }
    return true;
  }
  const std::size_t header = ported_header_size(ip.protocol);
  if (header == 0) return true;
  if (t.size < (quoted ? kQuotedTransportBytes : header)) return false;
  static_assert(kPortsSize <= kQuotedTransportBytes && kPortsSize <= kUdpHeader);
  out->source_port = get_u16(t.data);
  out->destination_port = get_u16(t.data + 2);
  return true;
}

// A multiply-xorshift step (Fibonacci hashing): cheap, and spreads every input bit over
// the high half, which the xorshift folds back into the low bits the index uses.
constexpr std::uint64_t kHashMultiplier = 0x9e3779b97f4a7c15ull;  // 2^64 / golden ratio, odd

std::uint64_t mix(std::uint64_t h, std::uint64_t word) noexcept {
  h = (h ^ word) * kHashMultiplier;
  return h ^ (h >> 32);
}

std::uint64_t load64(const std::uint8_t* at) noexcept {
  std::uint64_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

bool same_key(const PublicKey& a, const PublicKey& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

// Public keys are uniformly random: their first 8 bytes place a client well enough.
std::size_t client_home(const PublicKey& key, std::size_t mask) noexcept {
  return static_cast<std::size_t>(mix(0, load64(key.bytes))) & mask;
}

}  // namespace

bool parse_flow(ByteSpan ip_packet, FlowKey* out) noexcept { return parse_packet(ip_packet, false, out); }

FlowTable::FlowTable(const FlowTableLimits& limits)
    : seed_(limits.hash_seed),
      per_client_(std::max<std::size_t>(limits.per_client, 1)),
      tcp_ns_(std::uint64_t{std::max<std::uint32_t>(limits.timeouts.tcp_s, 1)} * kNsPerSecond),
      udp_ns_(std::uint64_t{std::max<std::uint32_t>(limits.timeouts.udp_s, 1)} * kNsPerSecond),
      icmp_ns_(std::uint64_t{std::max<std::uint32_t>(limits.timeouts.icmp_s, 1)} * kNsPerSecond),
      other_ns_(std::uint64_t{std::max<std::uint32_t>(limits.timeouts.other_s, 1)} * kNsPerSecond) {
  const std::size_t capacity = std::bit_ceil(std::clamp(limits.capacity, kProbeWindow, kMaxCapacity));
  heads_.resize(capacity);
  entries_.resize(capacity);
  mask_ = capacity - 1;
  // Every client with a record holds an entry, so there are never more than capacity.
  max_clients_ = std::clamp<std::size_t>(limits.max_clients, 1, capacity);
  // At most half full, so a probe always meets an empty slot.
  clients_.resize(std::bit_ceil(2 * max_clients_));
  client_mask_ = clients_.size() - 1;
}

std::uint64_t FlowTable::hash_of(const PublicKey& client, const Flow& f) const noexcept {
  std::uint64_t h = mix(seed_, load64(client.bytes));
  h = mix(h, load64(f.client_address.bytes));
  h = mix(h, load64(f.client_address.bytes + 8));
  h = mix(h, load64(f.remote_address.bytes));
  h = mix(h, load64(f.remote_address.bytes + 8));
  return mix(h, std::uint64_t{f.client_port} << 32 | std::uint64_t{f.remote_port} << 16 |
                    std::uint64_t{f.protocol} << 8 | static_cast<std::uint8_t>(f.client_address.family));
}

std::uint64_t FlowTable::timeout_ns(std::uint8_t protocol) const noexcept {
  switch (protocol) {
    case kProtoTcp: return tcp_ns_;
    case kProtoUdp:
    case kProtoUdpLite: return udp_ns_;
    case kProtoIcmp:
    case kProtoIcmp6: return icmp_ns_;
    default: return other_ns_;
  }
}

std::ptrdiff_t FlowTable::find(const PublicKey& client, const Flow& f, std::uint64_t hash,
                               std::uint64_t now_ns) const noexcept {
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    const std::size_t s = (hash + i) & mask_;
    const Head& head = heads_[s];
    if (head.expires_ns > now_ns && head.tag == tag && entries_[s].flow == f && same_key(entries_[s].client, client)) {
      return static_cast<std::ptrdiff_t>(s);
    }
  }
  return -1;
}

bool FlowTable::insert(const PublicKey& client, const Flow& f, std::uint64_t now_ns) noexcept {
  const std::uint64_t hash = hash_of(client, f);
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const std::uint64_t expires_ns = saturating_add(now_ns, timeout_ns(f.protocol));
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t empty = kNone, expired = kNone, own = kNone, soonest = kNone;
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    const std::size_t s = (hash + i) & mask_;
    Head& head = heads_[s];
    if (head.expires_ns == 0) {
      if (empty == kNone) empty = s;
      continue;
    }
    const bool mine = same_key(entries_[s].client, client);
    if (mine && head.tag == tag && entries_[s].flow == f) {
      // Known (even if it lapsed): refresh in place, so a flow never sits in two slots.
      head.expires_ns = expires_ns;
      return true;
    }
    if (mine && (own == kNone || head.expires_ns < heads_[own].expires_ns)) own = s;
    if (head.expires_ns <= now_ns && expired == kNone) expired = s;
    if (soonest == kNone || head.expires_ns < heads_[soonest].expires_ns) soonest = s;
  }

  const ClientSlot* record = find_client(client);
  std::size_t slot;
  if (record && record->flows >= per_client_) {
    // At its cap a client recycles its own entries and never takes another client's.
    if (own == kNone) {
      ++stats_.refused_client_cap;
      return false;
    }
    slot = own;
    if (heads_[slot].expires_ns > now_ns) ++stats_.evicted;
  } else {
    if (!record && client_count_ >= max_clients_) {
      ++stats_.refused_clients;
      return false;
    }
    slot = empty != kNone ? empty : expired != kNone ? expired : soonest;
    if (heads_[slot].expires_ns != 0) {
      if (heads_[slot].expires_ns > now_ns) ++stats_.evicted;
      free_slot(slot);  // may move client records: look ours up afterwards
    }
    ClientSlot* c = find_client(client);
    if (!c) c = add_client(client);
    ++c->flows;
    ++used_;
  }
  entries_[slot] = Entry{client, f};
  heads_[slot] = Head{expires_ns, tag};
  return true;
}

void FlowTable::free_slot(std::size_t slot) noexcept {
  if (ClientSlot* c = find_client(entries_[slot].client)) {
    if (--c->flows == 0) remove_client(c);
  }
  heads_[slot] = Head{};
  --used_;
}

bool FlowTable::note_upstream(const PublicKey& client, const FlowKey& k, std::uint64_t now_ns) noexcept {
  if (k.role != FlowRole::packet || k.fragment == Fragment::later) return true;
  return insert(client, Flow{k.source, k.destination, k.source_port, k.destination_port, k.protocol}, now_ns);
}

bool FlowTable::opened_by_client(const PublicKey& client, const FlowKey& downstream_key,
                                 std::uint64_t now_ns) noexcept {
  const FlowKey& k = downstream_key;
  const Flow f{k.destination, k.source, k.destination_port, k.source_port, k.protocol};
  const std::ptrdiff_t s = find(client, f, hash_of(client, f), now_ns);
  if (s < 0) return false;
  if (k.role == FlowRole::error) return true;
  heads_[static_cast<std::size_t>(s)].expires_ns = saturating_add(now_ns, timeout_ns(f.protocol));
  if (k.fragment == Fragment::first && (f.client_port != 0 || f.remote_port != 0)) {
    // Later fragments carry no ports: remember the address pair for them.
    Flow pair = f;
    pair.client_port = pair.remote_port = 0;
    insert(client, pair, now_ns);
  }
  return true;
}

void FlowTable::forget_client(const PublicKey& client) noexcept {
  ClientSlot* c = find_client(client);
  if (!c) return;
  std::size_t left = c->flows;
  for (std::size_t s = 0; s < heads_.size() && left > 0; ++s) {
    if (heads_[s].expires_ns != 0 && same_key(entries_[s].client, client)) {
      heads_[s] = Head{};
      --used_;
      --left;
    }
  }
  remove_client(c);
}

std::size_t FlowTable::sweep(std::uint64_t now_ns, std::size_t max_slots) noexcept {
  std::size_t reclaimed = 0;
  for (std::size_t n = std::min(max_slots, heads_.size()); n > 0; --n) {
    const std::size_t s = sweep_cursor_;
    sweep_cursor_ = (sweep_cursor_ + 1) & mask_;
    if (heads_[s].expires_ns != 0 && heads_[s].expires_ns <= now_ns) {
      free_slot(s);
      ++reclaimed;
    }
  }
  return reclaimed;
}

std::size_t FlowTable::client_flows(const PublicKey& client) const noexcept {
  const ClientSlot* c = find_client(client);
  return c ? c->flows : 0;
}

const FlowTable::ClientSlot* FlowTable::find_client(const PublicKey& key) const noexcept {
  for (std::size_t i = client_home(key, client_mask_);; i = (i + 1) & client_mask_) {
    const ClientSlot& c = clients_[i];
    if (c.flows == 0) return nullptr;
    if (same_key(c.key, key)) return &c;
  }
}

FlowTable::ClientSlot* FlowTable::find_client(const PublicKey& key) noexcept {
  return const_cast<ClientSlot*>(static_cast<const FlowTable*>(this)->find_client(key));
}

FlowTable::ClientSlot* FlowTable::add_client(const PublicKey& key) noexcept {
  std::size_t i = client_home(key, client_mask_);
  while (clients_[i].flows != 0) i = (i + 1) & client_mask_;
  clients_[i].key = key;
  ++client_count_;
  return &clients_[i];  // flows still 0: the caller counts the entry it adds
}

void FlowTable::remove_client(ClientSlot* c) noexcept {
  // Backward-shift deletion keeps every later record reachable from its home slot without
  // tombstones.
  auto hole = static_cast<std::size_t>(c - clients_.data());
  clients_[hole].flows = 0;
  --client_count_;
  for (std::size_t j = (hole + 1) & client_mask_; clients_[j].flows != 0; j = (j + 1) & client_mask_) {
    const std::size_t home = client_home(clients_[j].key, client_mask_);
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    clients_[hole] = clients_[j];
    clients_[j].flows = 0;
    hole = j;
  }
}

}  // namespace mh::iptunnel
