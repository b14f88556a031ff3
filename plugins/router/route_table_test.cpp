// The route table by plain calls: what it sends, what it installs, what it refuses.
#include "route_table.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <vector>

namespace {

using namespace mh::router;
using mh::Address;
using mh::NeighbourId;

constexpr std::uint64_t kT0 = 5'000'000'000;
constexpr std::uint64_t kSecond = 1'000'000'000;

struct Recorder final : Output {
  struct Sent {
    NeighbourId to;
    Message message;
  };
  std::vector<Sent> sent;
  std::map<Address, NeighbourId, AddressLess> fib;
  std::vector<std::uint16_t> seqnos;
  std::size_t sent_before_seqno = 0;

  void send(NeighbourId to, const Message& m) noexcept override { sent.push_back({to, m}); }
  void install_route(const Address& d, NeighbourId next) noexcept override { fib[d] = next; }
  void remove_route(const Address& d) noexcept override { fib.erase(d); }
  void own_seqno_changed(std::uint16_t seqno) noexcept override {
    seqnos.push_back(seqno);
    sent_before_seqno = sent.size();
  }

  // Updates sent to `to` about `address` (in order).
  std::vector<Update> updates(NeighbourId to, const Address& address) const {
    std::vector<Update> out;
    for (const auto& s : sent) {
      if (s.to == to && s.message.type == TlvType::update && same_address(s.message.update.address, address))
        out.push_back(s.message.update);
    }
    return out;
  }
  std::vector<SeqnoRequest> seqno_requests(NeighbourId to) const {
    std::vector<SeqnoRequest> out;
    for (const auto& s : sent) {
      if (s.to == to && s.message.type == TlvType::seqno_request) out.push_back(s.message.seqno_request);
    }
    return out;
  }
  NeighbourId next_hop(const Address& a) const {
    const auto it = fib.find(a);
    return it == fib.end() ? mh::kNoNeighbour : it->second;
  }
};

std::vector<std::uint8_t> packet_of(const std::vector<Message>& messages) {
  std::vector<std::uint8_t> out(kPacketHeaderSize);
  for (const auto& m : messages) {
    const std::size_t at = out.size();
    out.resize(at + encoded_size(m));
    write_tlv(m, MutableByteView(out.data() + at, out.size() - at));
  }
  write_packet_header(out.size() - kPacketHeaderSize, MutableByteView(out.data(), kPacketHeaderSize));
  return out;
}

Message update(const mh::KeyPair& k, std::uint16_t seqno, std::uint16_t metric) {
  Message m;
  m.type = TlvType::update;
  m.update = Update{1600, seqno, metric, k.addr, k.pub};
  return m;
}

Message seqno_request(const Address& a, std::uint16_t seqno, std::uint8_t hops = 64) {
  Message m;
  m.type = TlvType::seqno_request;
  m.seqno_request = SeqnoRequest{seqno, hops, a};
  return m;
}

// A table for this node plus two neighbours (ids 1 and 2) at cost 10.
struct Fixture {
  mh::KeyPair self = mh::generate_node_key();
  mh::KeyPair n1 = mh::generate_node_key();
  mh::KeyPair n2 = mh::generate_node_key();
  mh::KeyPair x = mh::generate_node_key();  // a destination beyond them
  Recorder out;
  RouteTable table;

  explicit Fixture(Limits limits = {}, std::uint16_t own_seqno = 100)
      : table(self.pub, self.addr, own_seqno, Timers{}, limits, out, kT0) {}

  void up_both(std::uint64_t now = kT0) {
    table.neighbour_up(1, n1.pub, 10, now);
    table.neighbour_up(2, n2.pub, 10, now);
    out.sent.clear();
  }
  void from1(const std::vector<Message>& m, std::uint64_t now = kT0) { table.receive(1, n1.addr, packet_of(m), now); }
  void from2(const std::vector<Message>& m, std::uint64_t now = kT0) { table.receive(2, n2.addr, packet_of(m), now); }
};

}  // namespace

TEST_CASE("route table: a new neighbour is asked for its table and is sent ours") {
  Fixture f;
  f.table.neighbour_up(1, f.n1.pub, 10, kT0);
  bool asked = false;
  for (const auto& s : f.out.sent) asked |= s.to == 1 && s.message.type == TlvType::route_request && s.message.route_request.wildcard;
  CHECK(asked);
  const auto own = f.out.updates(1, f.self.addr);
  REQUIRE(own.size() == 1);
  CHECK(own[0].metric == 0);
  CHECK(own[0].seqno == 100);
  CHECK(std::memcmp(own[0].key.bytes, f.self.pub.bytes, mh::kPublicKeySize) == 0);
}

TEST_CASE("route table: an update installs its next hop; the address must be its key's hash, hashed once") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  CHECK(f.out.next_hop(f.x.addr) == 1);
  mh::PublicKey key;
  REQUIRE(f.table.lookup_key(f.x.addr, &key));
  CHECK(std::memcmp(key.bytes, f.x.pub.bytes, mh::kPublicKeySize) == 0);
  // Passed on to the other neighbour with the link cost added.
  const auto onward = f.out.updates(2, f.x.addr);
  REQUIRE(!onward.empty());
  CHECK(onward.back().metric == 30);
  CHECK(onward.back().seqno == 5);
  const std::uint64_t checks = f.table.stats().key_checks;

  // An address that is not the hash of the key it comes with.
  const mh::KeyPair other = mh::generate_node_key();
  Message forged = update(f.x, 6, 10);
  forged.update.address = other.addr;
  f.from2({forged});
  CHECK(f.table.stats().bad_key == 1);
  CHECK(f.out.next_hop(other.addr) == mh::kNoNeighbour);
  CHECK_FALSE(f.table.lookup_key(other.addr, nullptr));

  // Refreshes of a checked key, and repeats of the forgery, do not hash again.
  for (int i = 0; i < 5; ++i) {
    f.from1({update(f.x, 5, 20)});
    f.from2({forged});
  }
  CHECK(f.table.stats().key_checks == checks + 1);
  CHECK(f.table.stats().bad_key == 6);
}

TEST_CASE("route table: only a neighbour's own, well-formed packets are read") {
  Fixture f;
  f.up_both();
  const auto bytes = packet_of({update(f.x, 5, 20)});
  f.table.receive(1, f.n2.addr, bytes, kT0);  // relayed from further away
  f.table.receive(7, f.n1.addr, bytes, kT0);  // no such neighbour
  CHECK(f.table.stats().not_neighbour == 2);
  auto broken = bytes;
  broken[0] = 9;
  f.table.receive(1, f.n1.addr, broken, kT0);
  CHECK(f.table.stats().bad_message == 1);
  CHECK(f.out.next_hop(f.x.addr) == mh::kNoNeighbour);
  // Our own route coming back is no route.
  f.from1({update(f.self, 100, 10)});
  CHECK(f.table.destinations().empty());
}

TEST_CASE("route table: an unfeasible update is refused and a newer seqno asked for when the route is lost") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});  // selected at 30; FD becomes (5, 30)
  f.from2({update(f.x, 5, 40)});  // 40 >= 30: could loop through us
  CHECK(f.table.stats().unfeasible == 1);
  CHECK(f.out.next_hop(f.x.addr) == 1);
  f.out.sent.clear();

  f.table.neighbour_down(1, kT0 + kSecond);
  CHECK(f.out.next_hop(f.x.addr) == mh::kNoNeighbour);  // retracted at once
  const auto retraction = f.out.updates(2, f.x.addr);
  REQUIRE(retraction.size() == 1);
  CHECK(retraction[0].metric == kInfiniteMetric);
  const auto requests = f.out.seqno_requests(2);
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].seqno == 6);
  CHECK(requests[0].hop_count == kSeqnoRequestHopCount);

  // The newer seqno makes the longer route feasible.
  f.from2({update(f.x, 6, 40)}, kT0 + 2 * kSecond);
  CHECK(f.out.next_hop(f.x.addr) == 2);
  const auto& d = f.table.destinations().at(f.x.addr);
  CHECK(f.table.metric(*d.find(2)) == 50);
  // Poison reverse: the next hop hears our route through it as retracted.
  CHECK(f.out.updates(2, f.x.addr).back().metric == kInfiniteMetric);
}

TEST_CASE("route table: a route request is answered with that route, or its retraction, or our own") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  f.out.sent.clear();
  Message request;
  request.type = TlvType::route_request;
  request.route_request.wildcard = false;
  request.route_request.address = f.x.addr;
  f.from2({request});
  REQUIRE(f.out.updates(2, f.x.addr).size() == 1);
  CHECK(f.out.updates(2, f.x.addr)[0].metric == 30);
  request.route_request.address = f.self.addr;
  f.from2({request});
  REQUIRE(f.out.updates(2, f.self.addr).size() == 1);
  CHECK(f.out.updates(2, f.self.addr)[0].metric == 0);
  // Lost: a retraction.
  f.from1({update(f.x, 5, kInfiniteMetric)});
  f.out.sent.clear();
  request.route_request.address = f.x.addr;
  f.from2({request});
  REQUIRE(f.out.updates(2, f.x.addr).size() == 1);
  CHECK(f.out.updates(2, f.x.addr)[0].metric == kInfiniteMetric);
  // Unknown: nothing.
  request.route_request.address = mh::generate_node_key().addr;
  f.out.sent.clear();
  f.from2({request});
  CHECK(f.out.sent.empty());
}

TEST_CASE("route table: an unfeasible route is counted once, not at each refresh") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  for (int i = 0; i < 4; ++i) f.from2({update(f.x, 5, 40)});
  CHECK(f.table.stats().unfeasible == 1);
  f.from2({update(f.x, 5, 45)});
  CHECK(f.table.stats().unfeasible == 2);
}

TEST_CASE("route table: hysteresis keeps the selected route against a marginally better one") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 90)});  // 100 via 1
  f.from2({update(f.x, 5, 88)});  // 98 via 2: within 1/16
  CHECK(f.out.next_hop(f.x.addr) == 1);
  f.from2({update(f.x, 5, 80)});  // 90 via 2: clearly better
  CHECK(f.out.next_hop(f.x.addr) == 2);
}

TEST_CASE("route table: a link cost change moves the route") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});  // 30
  f.from2({update(f.x, 5, 25)});  // 35
  CHECK(f.out.next_hop(f.x.addr) == 1);
  f.table.neighbour_cost(1, 100, kT0 + kSecond);  // 120 via 1
  CHECK(f.out.next_hop(f.x.addr) == 2);
  // The switch's infinite cost makes a neighbour unusable.
  f.table.neighbour_cost(2, mh::kInfiniteLinkCost, kT0 + 2 * kSecond);
  CHECK(f.out.next_hop(f.x.addr) != 2);
}

TEST_CASE("route table: retraction, hold-down, then garbage collection") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  f.out.sent.clear();
  f.from1({update(f.x, 5, kInfiniteMetric)}, kT0 + kSecond);
  CHECK(f.out.next_hop(f.x.addr) == mh::kNoNeighbour);
  CHECK_FALSE(f.table.lookup_key(f.x.addr, nullptr));
  REQUIRE(!f.out.updates(2, f.x.addr).empty());
  CHECK(f.out.updates(2, f.x.addr).back().metric == kInfiniteMetric);

  // During hold-down, periodic dumps repeat the retraction.
  const Timers t;
  f.out.sent.clear();
  f.table.tick(kT0 + t.update_interval_ns + kSecond);
  REQUIRE(!f.out.updates(2, f.x.addr).empty());
  CHECK(f.out.updates(2, f.x.addr).back().metric == kInfiniteMetric);

  // After hold-down the retracted entry goes; the destination stays while its
  // feasibility distance must (source GC), then goes too.
  f.table.tick(kT0 + kSecond + t.hold_down_ns + 1);
  REQUIRE(f.table.destinations().count(f.x.addr) == 1);
  CHECK(f.table.destinations().at(f.x.addr).routes.empty());
  f.out.sent.clear();
  f.table.tick(kT0 + 2 * t.update_interval_ns + t.hold_down_ns + 1);
  CHECK(f.out.updates(2, f.x.addr).empty());  // no longer advertised
  f.table.tick(kT0 + t.source_gc_ns + 1);
  CHECK(f.table.destinations().count(f.x.addr) == 0);
}

TEST_CASE("route table: a route not refreshed expires") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  const Timers t;
  CHECK(f.table.next_wake_ns() <= kT0 + t.route_expiry_ns);
  f.table.tick(kT0 + t.route_expiry_ns - 1);
  CHECK(f.out.next_hop(f.x.addr) == 1);
  f.table.tick(kT0 + t.route_expiry_ns);
  CHECK(f.out.next_hop(f.x.addr) == mh::kNoNeighbour);
}

TEST_CASE("route table: maxRoutes and maxRoutesPerNeighbour drop and count what is beyond them") {
  Fixture f(Limits{3, 2});
  f.up_both();
  std::vector<mh::KeyPair> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(mh::generate_node_key());
  f.from1({update(keys[0], 1, 10), update(keys[1], 1, 10), update(keys[2], 1, 10)});
  CHECK(f.table.route_count() == 2);
  CHECK(f.table.stats().table_full == 1);
  f.from2({update(keys[3], 1, 10), update(keys[4], 1, 10)});
  CHECK(f.table.route_count() == 3);
  CHECK(f.table.stats().table_full == 2);
  CHECK(f.table.destinations().size() == 3);
}

TEST_CASE("route table: a seqno request for our own address raises our seqno, made durable before it is sent") {
  Fixture f(Limits{}, 100);
  f.up_both();
  f.from1({seqno_request(f.self.addr, 150)});
  CHECK(f.table.own_seqno() == 150);
  REQUIRE(f.out.seqnos.size() == 1);
  CHECK(f.out.seqnos[0] == 150);
  CHECK(f.out.sent_before_seqno == 0);  // nothing carried it before it was noted
  for (NeighbourId n : {1u, 2u}) {
    const auto own = f.out.updates(n, f.self.addr);
    REQUIRE(own.size() == 1);
    CHECK(own[0].seqno == 150);
  }
  // An older request is answered with what we have, to the asker only.
  f.out.sent.clear();
  f.from2({seqno_request(f.self.addr, 120)});
  CHECK(f.table.own_seqno() == 150);
  CHECK(f.out.updates(1, f.self.addr).empty());
  REQUIRE(f.out.updates(2, f.self.addr).size() == 1);
  CHECK(f.out.seqnos.size() == 1);
}

TEST_CASE("route table: a neighbour cannot make us raise our seqno in a loop") {
  Fixture f(Limits{}, 100);
  f.up_both();
  f.from1({seqno_request(f.self.addr, 150)});
  f.from1({seqno_request(f.self.addr, 200)}, kT0 + 1);
  CHECK(f.table.own_seqno() == 150);
  CHECK(f.out.seqnos.size() == 1);
  // The asker's resend after the request timeout is honoured.
  f.from1({seqno_request(f.self.addr, 200)}, kT0 + Timers{}.request_timeout_ns);
  CHECK(f.table.own_seqno() == 200);
  CHECK(f.out.seqnos.size() == 2);
}

TEST_CASE("route table: seqno requests for others are answered or forwarded towards the originator once") {
  Fixture f;
  f.up_both();
  f.from1({update(f.x, 5, 20)});
  f.out.sent.clear();
  // Asked for what we have: answered directly.
  f.from2({seqno_request(f.x.addr, 5)});
  REQUIRE(f.out.updates(2, f.x.addr).size() == 1);
  CHECK(f.out.seqno_requests(1).empty());
  // Asked for newer: forwarded along the selected route, one hop less, once.
  f.from2({seqno_request(f.x.addr, 6, 10)});
  f.from2({seqno_request(f.x.addr, 6, 10)});
  const auto forwarded = f.out.seqno_requests(1);
  REQUIRE(forwarded.size() == 1);
  CHECK(forwarded[0].seqno == 6);
  CHECK(forwarded[0].hop_count == 9);
  // Hop count exhausted: dropped.
  f.from2({seqno_request(f.x.addr, 7, 1)});
  CHECK(f.out.seqno_requests(1).size() == 1);
}
