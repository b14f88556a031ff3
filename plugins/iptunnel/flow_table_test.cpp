// The flow table as the gateway relies on it: replies to what a client opened are
// recognised, nothing else is; flows expire, are evicted within bounds, and one client
// cannot crowd out the rest; the parser survives extension headers, fragments, ICMP
// errors and garbage.
#include "flow_table.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include <cstring>
#include <initializer_list>
#include <vector>

namespace {

using namespace mh;
using namespace mh::iptunnel;

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t kSecond = 1'000'000'000;

IpAddress ip(const char* text) { return *parse_ip(text); }

PublicKey key(std::uint8_t n) {
  PublicKey k;
  for (std::size_t i = 0; i < kPublicKeySize; ++i) k.bytes[i] = static_cast<std::uint8_t>(n * 37 + i);
  return k;
}

void put16(Bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// An IPv4 packet around `payload`; `fragment` is the flags/offset field.
Bytes ip4(const char* src, const char* dst, std::uint8_t protocol, const Bytes& payload, unsigned fragment = 0) {
  Bytes p(20, 0);
  p[0] = 0x45;
  put16(p, 2, static_cast<unsigned>(20 + payload.size()));
  put16(p, 6, fragment);
  p[8] = 64;
  p[9] = protocol;
  std::memcpy(p.data() + 12, ip(src).bytes, 4);
  std::memcpy(p.data() + 16, ip(dst).bytes, 4);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// An IPv6 packet whose first header after the fixed one is `next` (an extension header's
// type, or the upper layer's).
Bytes ip6(const char* src, const char* dst, std::uint8_t next, const Bytes& payload) {
  Bytes p(40, 0);
  p[0] = 0x60;
  put16(p, 4, static_cast<unsigned>(payload.size()));
  p[6] = next;
  p[7] = 64;
  std::memcpy(p.data() + 8, ip(src).bytes, 16);
  std::memcpy(p.data() + 24, ip(dst).bytes, 16);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

constexpr std::uint8_t kFragmentHeader = 44;  // IPv6 next-header value
// Hop-by-hop, routing or destination options: 8 bytes (PadN filling it), then `next`.
Bytes options(std::uint8_t next) { return Bytes{next, 0, 1, 4, 0, 0, 0, 0}; }
Bytes fragment6(std::uint8_t next, unsigned offset_units, bool more) {
  Bytes h{next, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
  put16(h, 2, offset_units << 3 | (more ? 1u : 0u));
  return h;
}

Bytes tcp(unsigned sport, unsigned dport) {
  Bytes t(20, 0);
  put16(t, 0, sport);
  put16(t, 2, dport);
  t[12] = 0x50;
  t[13] = 0x02;  // SYN
  return t;
}
Bytes udp(unsigned sport, unsigned dport, std::size_t data = 4) {
  Bytes u(8 + data, 0xab);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, static_cast<unsigned>(u.size()));
  return u;
}
Bytes icmp(std::uint8_t type, std::uint8_t code, unsigned id_or_rest, const Bytes& body = {}) {
  // Sized once and copied into: GCC 12 at -O3 warns falsely (array-bounds) on insert here.
  Bytes m(8 + body.size(), 0);
  m[0] = type;
  m[1] = code;
  put16(m, 4, id_or_rest);
  std::copy(body.begin(), body.end(), m.begin() + 8);
  return m;
}

FlowKey flow(const Bytes& packet) {
  FlowKey k;
  REQUIRE(parse_flow(ByteSpan{packet.data(), packet.size()}, &k));
  return k;
}
bool parses(const Bytes& packet) {
  FlowKey k;
  return parse_flow(ByteSpan{packet.data(), packet.size()}, &k);
}

// A client at 100.64.0.10 / 2001:db8:1::10 and servers on the Internet side.
constexpr const char* kClient4 = "100.64.0.10";
constexpr const char* kServer4 = "198.51.100.7";
constexpr const char* kClient6 = "2001:db8:1::10";
constexpr const char* kServer6 = "2001:db8:ffff::53";
constexpr const char* kRouter6 = "2001:db8:eeee::1";

const PublicKey kAlice = key(1);
const PublicKey kBob = key(2);

}  // namespace

TEST_CASE("parse_flow reads protocol, addresses and ports") {
  const FlowKey k = flow(ip4(kClient4, kServer4, kProtoTcp, tcp(40000, 443)));
  CHECK(k.protocol == kProtoTcp);
  CHECK(k.role == FlowRole::packet);
  CHECK(k.fragment == Fragment::none);
  CHECK(k.source == ip(kClient4));
  CHECK(k.destination == ip(kServer4));
  CHECK(k.source_port == 40000);
  CHECK(k.destination_port == 443);

  const FlowKey u = flow(ip6(kClient6, kServer6, kProtoUdp, udp(5353, 53)));
  CHECK(u.protocol == kProtoUdp);
  CHECK(u.source == ip(kClient6));
  CHECK(u.source_port == 5353);
  CHECK(u.destination_port == 53);

  Bytes sctp(12, 0);
  put16(sctp, 0, 7000);
  put16(sctp, 2, 7001);
  const FlowKey s = flow(ip4(kClient4, kServer4, kProtoSctp, sctp));
  CHECK(s.source_port == 7000);
  CHECK(s.destination_port == 7001);
  CHECK(flow(ip4(kClient4, kServer4, kProtoUdpLite, udp(1, 2))).destination_port == 2);

  // A protocol without ports is one flow per address pair.
  const FlowKey gre = flow(ip4(kClient4, kServer4, 47, Bytes(8, 0)));
  CHECK(gre.protocol == 47);
  CHECK(gre.source_port == 0);
  CHECK(gre.destination_port == 0);
}

TEST_CASE("flows a client opened are recognised downstream; others are not") {
  FlowTable table;
  const std::uint64_t t = 1000 * kSecond;

  SUBCASE("TCP over IPv4") {
    CHECK(table.note_upstream(kAlice, flow(ip4(kClient4, kServer4, kProtoTcp, tcp(40000, 443))), t));
    CHECK(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoTcp, tcp(443, 40000))), t + kSecond));
    // Another port, another server, another protocol: not opened.
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoTcp, tcp(443, 40001))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoTcp, tcp(80, 40000))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4("203.0.113.9", kClient4, kProtoTcp, tcp(443, 40000))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoUdp, udp(443, 40000))), t));
    // The client's own direction is not a reply.
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kClient4, kServer4, kProtoTcp, tcp(40000, 443))), t));
  }
  SUBCASE("UDP over IPv6") {
    CHECK(table.note_upstream(kAlice, flow(ip6(kClient6, kServer6, kProtoUdp, udp(5353, 53))), t));
    CHECK(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, kProtoUdp, udp(53, 5353))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, kProtoUdp, udp(53, 5354))), t));
    CHECK(table.size() == 1);
    CHECK(table.client_flows(kAlice) == 1);
  }
  SUBCASE("ICMP and ICMPv6 echo, by identifier") {
    CHECK(table.note_upstream(kAlice, flow(ip4(kClient4, kServer4, kProtoIcmp, icmp(8, 0, 0x1234))), t));
    CHECK(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoIcmp, icmp(0, 0, 0x1234))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoIcmp, icmp(0, 0, 0x1235))), t));
    // The server pinging the client with the same identifier did not come from the client.
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoIcmp, icmp(8, 0, 0x1234))), t));

    CHECK(table.note_upstream(kAlice, flow(ip6(kClient6, kServer6, kProtoIcmp6, icmp(128, 0, 7))), t));
    CHECK(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, kProtoIcmp6, icmp(129, 0, 7))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, kProtoIcmp6, icmp(129, 0, 8))), t));
  }
  SUBCASE("answering a ping opens nothing") {
    const FlowKey reply = flow(ip6(kClient6, kServer6, kProtoIcmp6, icmp(129, 0, 7)));
    CHECK(reply.role == FlowRole::answer);
    CHECK(table.note_upstream(kAlice, reply, t));
    CHECK(table.size() == 0);
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, kProtoIcmp6, icmp(128, 0, 7))), t));
  }
  SUBCASE("a protocol without ports: per address pair") {
    CHECK(table.note_upstream(kAlice, flow(ip6(kClient6, kServer6, 50, Bytes(16, 0))), t));  // ESP
    CHECK(table.opened_by_client(kAlice, flow(ip6(kServer6, kClient6, 50, Bytes(16, 1))), t));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip6(kRouter6, kClient6, 50, Bytes(16, 1))), t));
  }
}

TEST_CASE("one client's flows are not another's") {
  FlowTable table;
  CHECK(table.note_upstream(kAlice, flow(ip4(kClient4, kServer4, kProtoUdp, udp(4000, 53))), 0));
  const FlowKey reply = flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, 4000)));
  CHECK(table.opened_by_client(kAlice, reply, 0));
  CHECK_FALSE(table.opened_by_client(kBob, reply, 0));
  CHECK(table.client_flows(kBob) == 0);
}

TEST_CASE("idle flows expire after their protocol's timeout; traffic both ways keeps them") {
  const std::uint64_t t = 5 * kSecond;
  const FlowKey up = flow(ip4(kClient4, kServer4, kProtoUdp, udp(4000, 53)));
  const FlowKey down = flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, 4000)));

  SUBCASE("defaults: UDP 180 s, a reply refreshes") {
    FlowTable table;
    table.note_upstream(kAlice, up, t);
    CHECK(table.opened_by_client(kAlice, down, t + 179 * kSecond));
    CHECK(table.opened_by_client(kAlice, down, t + 358 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, down, t + 539 * kSecond));
  }
  SUBCASE("defaults: TCP 3600 s, ICMP 30 s, others 600 s") {
    FlowTable table;
    const FlowKey tcp_up = flow(ip4(kClient4, kServer4, kProtoTcp, tcp(40000, 443)));
    const FlowKey tcp_down = flow(ip4(kServer4, kClient4, kProtoTcp, tcp(443, 40000)));
    const FlowKey echo_up = flow(ip4(kClient4, kServer4, kProtoIcmp, icmp(8, 0, 9)));
    const FlowKey echo_down = flow(ip4(kServer4, kClient4, kProtoIcmp, icmp(0, 0, 9)));
    const FlowKey gre_up = flow(ip4(kClient4, kServer4, 47, Bytes(8, 0)));
    const FlowKey gre_down = flow(ip4(kServer4, kClient4, 47, Bytes(8, 0)));
    table.note_upstream(kAlice, tcp_up, t);
    table.note_upstream(kAlice, echo_up, t);
    table.note_upstream(kAlice, gre_up, t);
    CHECK(table.opened_by_client(kAlice, echo_down, t + 29 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, echo_down, t + 60 * kSecond));
    CHECK(table.opened_by_client(kAlice, gre_down, t + 599 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, gre_down, t + 1200 * kSecond));
    CHECK(table.opened_by_client(kAlice, tcp_down, t + 3599 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, tcp_down, t + 7200 * kSecond));
  }
  SUBCASE("configured timeouts") {
    FlowTableLimits limits;
    limits.timeouts.udp_s = 10;
    FlowTable table(limits);
    table.note_upstream(kAlice, up, t);
    CHECK(table.opened_by_client(kAlice, down, t + 9 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, down, t + 20 * kSecond));
    // Noting it again brings it back, in the same slot.
    table.note_upstream(kAlice, up, t + 21 * kSecond);
    CHECK(table.opened_by_client(kAlice, down, t + 22 * kSecond));
    CHECK(table.size() == 1);
    CHECK(table.client_flows(kAlice) == 1);
  }
}

TEST_CASE("a full table reuses expired slots first, then evicts what expires soonest") {
  // 16 slots: one probe window covers the whole table, so placement cannot hide anything.
  FlowTableLimits limits;
  limits.capacity = FlowTable::kProbeWindow;
  FlowTable table(limits);
  REQUIRE(table.capacity() == FlowTable::kProbeWindow);
  auto up = [](unsigned port) { return flow(ip4(kClient4, kServer4, kProtoUdp, udp(port, 53))); };
  auto down = [](unsigned port) { return flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, port))); };

  for (unsigned i = 0; i < FlowTable::kProbeWindow; ++i) CHECK(table.note_upstream(kAlice, up(1000 + i), i * kSecond));
  CHECK(table.size() == FlowTable::kProbeWindow);

  SUBCASE("eviction") {
    CHECK(table.note_upstream(kBob, up(2000), 20 * kSecond));
    CHECK(table.stats().evicted == 1);
    CHECK(table.size() == FlowTable::kProbeWindow);
    CHECK_FALSE(table.opened_by_client(kAlice, down(1000), 20 * kSecond));  // noted first, expired first
    CHECK(table.opened_by_client(kAlice, down(1001), 20 * kSecond));
    CHECK(table.opened_by_client(kBob, down(2000), 20 * kSecond));
    CHECK(table.client_flows(kAlice) == FlowTable::kProbeWindow - 1);
    CHECK(table.client_flows(kBob) == 1);
  }
  SUBCASE("expired slots are reused without evicting anything") {
    const std::uint64_t later = 1000 * kSecond;  // past every UDP timeout
    for (unsigned i = 0; i < FlowTable::kProbeWindow; ++i) CHECK(table.note_upstream(kBob, up(3000 + i), later));
    CHECK(table.stats().evicted == 0);
    CHECK(table.size() == FlowTable::kProbeWindow);
    CHECK(table.client_flows(kAlice) == 0);
    CHECK(table.client_flows(kBob) == FlowTable::kProbeWindow);
  }
}

TEST_CASE("a client at its cap recycles its own flows and leaves others' alone") {
  auto up = [](unsigned port) { return flow(ip4(kClient4, kServer4, kProtoUdp, udp(port, 53))); };
  auto down = [](unsigned port) { return flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, port))); };

  SUBCASE("own entries in the window are replaced, the oldest first") {
    FlowTableLimits limits;
    limits.capacity = FlowTable::kProbeWindow;
    limits.per_client = 4;
    FlowTable table(limits);
    CHECK(table.note_upstream(kBob, flow(ip6(kClient6, kServer6, kProtoUdp, udp(1, 2))), 0));
    for (unsigned i = 0; i < 10; ++i) CHECK(table.note_upstream(kAlice, up(1000 + i), (1 + i) * kSecond));
    CHECK(table.client_flows(kAlice) == 4);
    CHECK(table.opened_by_client(kAlice, down(1009), 11 * kSecond));
    CHECK(table.opened_by_client(kAlice, down(1006), 11 * kSecond));
    CHECK_FALSE(table.opened_by_client(kAlice, down(1005), 11 * kSecond));
    CHECK(table.opened_by_client(kBob, flow(ip6(kServer6, kClient6, kProtoUdp, udp(2, 1))), 11 * kSecond));
  }
  SUBCASE("in a large table the cap holds however the flows fall") {
    FlowTableLimits limits;
    limits.per_client = 4;
    FlowTable table(limits);
    CHECK(table.note_upstream(kBob, up(1), 0));
    unsigned refused = 0;
    for (unsigned i = 0; i < 100; ++i) refused += table.note_upstream(kAlice, up(1000 + i), kSecond) ? 0 : 1;
    CHECK(table.client_flows(kAlice) == 4);
    CHECK(refused > 0);
    CHECK(table.stats().refused_client_cap == refused);
    CHECK(table.opened_by_client(kBob, down(1), kSecond));
  }
  SUBCASE("sweeping reclaims expired flows, so they stop counting against the cap") {
    FlowTableLimits limits;
    limits.capacity = 1024;
    limits.per_client = 4;
    FlowTable table(limits);
    for (unsigned i = 0; i < 4; ++i) CHECK(table.note_upstream(kAlice, up(1000 + i), 0));
    const std::uint64_t later = 1000 * kSecond;
    CHECK(table.sweep(later, table.capacity() / 2) + table.sweep(later, table.capacity() / 2) == 4);
    CHECK(table.client_flows(kAlice) == 0);
    CHECK(table.size() == 0);
    for (unsigned i = 0; i < 4; ++i) CHECK(table.note_upstream(kAlice, up(2000 + i), later));
    CHECK(table.client_flows(kAlice) == 4);
    CHECK(table.sweep(later, table.capacity()) == 0);  // live flows stay
  }
  SUBCASE("beyond max_clients a new client is refused, not given others' slots") {
    FlowTableLimits limits;
    limits.max_clients = 2;
    FlowTable table(limits);
    CHECK(table.note_upstream(kAlice, up(1), 0));
    CHECK(table.note_upstream(kBob, up(2), 0));
    CHECK_FALSE(table.note_upstream(key(3), up(3), 0));
    CHECK(table.stats().refused_clients == 1);
    table.forget_client(kBob);
    CHECK(table.note_upstream(key(3), up(3), 0));
  }
}

TEST_CASE("forget_client drops exactly that client's flows") {
  FlowTable table;
  for (unsigned i = 0; i < 50; ++i) {
    table.note_upstream(kAlice, flow(ip4(kClient4, kServer4, kProtoTcp, tcp(40000 + i, 443))), 0);
    table.note_upstream(kBob, flow(ip4("100.64.0.11", kServer4, kProtoTcp, tcp(40000 + i, 443))), 0);
  }
  CHECK(table.size() == 100);
  table.forget_client(kAlice);
  CHECK(table.size() == 50);
  CHECK(table.client_flows(kAlice) == 0);
  CHECK(table.client_flows(kBob) == 50);
  CHECK_FALSE(table.opened_by_client(kAlice, flow(ip4(kServer4, kClient4, kProtoTcp, tcp(443, 40000))), 0));
  CHECK(table.opened_by_client(kBob, flow(ip4(kServer4, "100.64.0.11", kProtoTcp, tcp(443, 40049))), 0));
  table.forget_client(kAlice);  // again: nothing to do
  CHECK(table.size() == 50);
}

TEST_CASE("many clients come and go: every client keeps finding its own flows") {
  // Exercises the client records' deletion (records move when a neighbour leaves).
  FlowTableLimits limits;
  limits.max_clients = 64;
  FlowTable table(limits);
  const FlowKey up = flow(ip4(kClient4, kServer4, kProtoUdp, udp(4000, 53)));
  const FlowKey down = flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, 4000)));
  for (std::uint8_t n = 0; n < 64; ++n) CHECK(table.note_upstream(key(n), up, 0));
  for (std::uint8_t n = 0; n < 64; n += 3) table.forget_client(key(n));
  for (std::uint8_t n = 0; n < 64; ++n) {
    CHECK(table.opened_by_client(key(n), down, 0) == (n % 3 != 0));
    CHECK(table.client_flows(key(n)) == (n % 3 != 0 ? 1u : 0u));
  }
}

TEST_CASE("IPv6 extension headers are walked to the upper layer") {
  FlowTable table;
  // Hop-by-hop, then routing, then destination options.
  const Bytes up = ip6(kClient6, kServer6, 0, concat({options(43), options(60), options(kProtoUdp), udp(5353, 53)}));
  const FlowKey k = flow(up);
  CHECK(k.protocol == kProtoUdp);
  CHECK(k.source_port == 5353);
  CHECK(table.note_upstream(kAlice, k, 0));
  // The reply with destination options and an atomic fragment header (offset 0, no more).
  const Bytes down = ip6(kServer6, kClient6, 60, concat({options(44), fragment6(kProtoUdp, 0, false), udp(53, 5353)}));
  const FlowKey r = flow(down);
  CHECK(r.fragment == Fragment::none);
  CHECK(table.opened_by_client(kAlice, r, 0));

  // A chain longer than any real packet's is refused, and so is a header that runs past the end.
  Bytes chain;
  for (int i = 0; i < 9; ++i) chain = concat({chain, options(60)});
  chain[chain.size() - 8] = kProtoUdp;
  CHECK_FALSE(parses(ip6(kClient6, kServer6, 60, concat({chain, udp(1, 2)}))));
  Bytes long_options = options(kProtoUdp);
  long_options[1] = 3;  // claims 32 bytes
  CHECK_FALSE(parses(ip6(kClient6, kServer6, 60, concat({long_options, udp(1, 2)}))));
}

TEST_CASE("fragments: the first carries the ports, later ones match by address pair") {
  FlowTable table;
  CHECK(table.note_upstream(kAlice, flow(ip4(kClient4, kServer4, kProtoUdp, udp(4000, 53))), 0));
  CHECK(table.note_upstream(kAlice, flow(ip6(kClient6, kServer6, kProtoUdp, udp(4000, 53))), 0));

  SUBCASE("IPv4") {
    const FlowKey first = flow(ip4(kServer4, kClient4, kProtoUdp, udp(53, 4000, 1472), 0x2000));
    CHECK(first.fragment == Fragment::first);
    const FlowKey later = flow(ip4(kServer4, kClient4, kProtoUdp, Bytes(100, 0), 185));  // offset 1480 bytes
    CHECK(later.fragment == Fragment::later);
    CHECK(later.source_port == 0);
    CHECK(table.opened_by_client(kAlice, first, kSecond));
    CHECK(table.opened_by_client(kAlice, later, kSecond));
    // The same from a host the client never talked to is not let in.
    const FlowKey stranger = flow(ip4("203.0.113.1", kClient4, kProtoUdp, Bytes(100, 0), 185));
    CHECK_FALSE(table.opened_by_client(kAlice, stranger, kSecond));
  }
  SUBCASE("IPv6") {
    const FlowKey later =
        flow(ip6(kServer6, kClient6, kFragmentHeader, concat({fragment6(kProtoUdp, 185, false), Bytes(64, 0)})));
    CHECK(later.fragment == Fragment::later);
    CHECK(later.protocol == kProtoUdp);
    CHECK_FALSE(table.opened_by_client(kAlice, later, kSecond));  // no first fragment seen yet
    const FlowKey first =
        flow(ip6(kServer6, kClient6, kFragmentHeader, concat({fragment6(kProtoUdp, 0, true), udp(53, 4000, 1200)})));
    CHECK(first.fragment == Fragment::first);
    CHECK(first.source_port == 53);
    CHECK(table.opened_by_client(kAlice, first, kSecond));
    CHECK(table.opened_by_client(kAlice, later, kSecond));
  }
  SUBCASE("a first fragment too short for its transport header is refused") {
    CHECK_FALSE(parses(ip4(kServer4, kClient4, kProtoTcp, Bytes(8, 0), 0x2000)));
  }
}

TEST_CASE("ICMP errors map to the flow of the packet they quote") {
  FlowTable table;
  const Bytes sent6 = ip6(kClient6, kServer6, kProtoTcp, concat({tcp(40000, 443), Bytes(1400, 0)}));
  CHECK(table.note_upstream(kAlice, flow(sent6), 0));

  SUBCASE("ICMPv6 Packet Too Big from a router on the way") {
    const Bytes quote(sent6.begin(), sent6.begin() + 1232);  // as much as fits in 1280
    const FlowKey k = flow(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(2, 0, 1280, quote)));
    CHECK(k.role == FlowRole::error);
    CHECK(k.protocol == kProtoTcp);
    CHECK(k.source == ip(kServer6));  // turned round: travels as the server's replies do
    CHECK(k.source_port == 443);
    CHECK(table.opened_by_client(kAlice, k, kSecond));
    CHECK_FALSE(table.opened_by_client(kBob, k, kSecond));
    // An error does not keep the flow alive: TCP's 3600 s run from the last real packet.
    CHECK_FALSE(table.opened_by_client(kAlice, k, 3600 * kSecond + kSecond / 2));
  }
  SUBCASE("about a flow the client never opened") {
    const Bytes other = ip6(kClient6, kServer6, kProtoTcp, tcp(40001, 443));
    CHECK_FALSE(table.opened_by_client(kAlice, flow(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(2, 0, 1280, other))), 0));
  }
  SUBCASE("ICMPv4 fragmentation needed, time exceeded for an echo (traceroute -I)") {
    const Bytes sent4 = ip4(kClient4, kServer4, kProtoUdp, udp(33434, 33435, 32));
    const Bytes ping = ip4(kClient4, kServer4, kProtoIcmp, icmp(8, 0, 0x4242));
    CHECK(table.note_upstream(kAlice, flow(sent4), 0));
    CHECK(table.note_upstream(kAlice, flow(ping), 0));
    const Bytes quote4(sent4.begin(), sent4.begin() + 28);  // IP header + 64 bits
    CHECK(table.opened_by_client(kAlice, flow(ip4("192.0.2.1", kClient4, kProtoIcmp, icmp(3, 4, 1400, quote4))), 0));
    CHECK(table.opened_by_client(kAlice, flow(ip4("192.0.2.1", kClient4, kProtoIcmp, icmp(11, 0, 0, ping))), 0));
  }
  SUBCASE("a client's own errors open nothing") {
    const Bytes inbound = ip6(kServer6, kClient6, kProtoUdp, udp(53, 9999));
    const FlowKey unreachable = flow(ip6(kClient6, kServer6, kProtoIcmp6, icmp(1, 4, 0, inbound)));
    CHECK(unreachable.role == FlowRole::error);
    const std::size_t before = table.size();
    CHECK(table.note_upstream(kAlice, unreachable, 0));
    CHECK(table.size() == before);
  }
  SUBCASE("quotes that cannot be read") {
    const Bytes ports_cut_off(sent6.begin(), sent6.begin() + 44);
    CHECK_FALSE(parses(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(2, 0, 1280, ports_cut_off))));
    CHECK_FALSE(parses(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(2, 0, 1280, Bytes(30, 0x60)))));
    CHECK_FALSE(parses(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(2, 0, 1280))));
    // An IPv4 packet quoted in ICMPv6, and an error quoting an error.
    const Bytes quoted4 = ip4(kClient4, kServer4, kProtoUdp, udp(1, 2));
    CHECK_FALSE(parses(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(1, 0, 0, quoted4))));
    const Bytes error =
        ip6(kClient6, kServer6, kProtoIcmp6, icmp(1, 4, 0, ip6(kServer6, kClient6, kProtoUdp, udp(1, 2))));
    CHECK_FALSE(parses(ip6(kRouter6, kClient6, kProtoIcmp6, icmp(3, 0, 0, error))));
  }
}

TEST_CASE("truncated and malformed packets are refused") {
  const Bytes good4 = ip4(kClient4, kServer4, kProtoTcp, tcp(40000, 443));
  const Bytes good6 = ip6(kClient6, kServer6, 0, concat({options(kProtoUdp), udp(1, 2)}));
  for (std::size_t n = 0; n < good4.size(); ++n) CHECK_FALSE(parses(Bytes(good4.begin(), good4.begin() + n)));
  for (std::size_t n = 0; n < good6.size(); ++n) CHECK_FALSE(parses(Bytes(good6.begin(), good6.begin() + n)));

  Bytes bad = good4;
  bad[0] = 0x44;  // header length 16 bytes
  CHECK_FALSE(parses(bad));
  bad[0] = 0x4f;  // 60 bytes: longer than the packet
  CHECK_FALSE(parses(bad));
  bad = good4;
  bad.push_back(0);  // one byte the total length does not cover
  CHECK_FALSE(parses(bad));
  bad = good4;
  bad[0] = 0x55;  // version 5
  CHECK_FALSE(parses(bad));
  bad = good6;
  bad[5] += 1;  // payload length past the end
  CHECK_FALSE(parses(bad));
  CHECK_FALSE(parses(Bytes(64, 0)));
  CHECK_FALSE(parses(Bytes(64, 0xff)));
  CHECK_FALSE(parses(ip4(kClient4, kServer4, kProtoUdp, Bytes(7, 0))));        // short UDP header
  CHECK_FALSE(parses(ip4(kClient4, kServer4, kProtoIcmp, Bytes(4, 8))));       // short ICMP header
  CHECK_FALSE(parses(ip6(kClient6, kServer6, kProtoTcp, Bytes(19, 0))));       // short TCP header
}
