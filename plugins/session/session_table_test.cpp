// Session tables talking through an in-memory wire with a manual clock: what the session
// layer promises, from the first packet to rekey, restart, expiry and floods.
#include "session_table.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/packet_pool.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace mh;
using namespace mh::session;

namespace {

constexpr std::uint64_t kS = kNsPerSecond;

struct Net;

struct FakeClock final : WallClock {
  std::int64_t unix_ns() const noexcept override { return value; }
  std::int64_t value = 1'700'000'000LL * 1'000'000'000LL;
};

struct Received {
  PublicKey from;
  Address from_address;
  std::uint16_t protocol;
  std::string data;
};

// One node: a table, its key, and what reached it.
struct Node final : Output {
  Node(Net& net, const KeyPair& identity, SessionTableConfig config);
  KeyPair id;
  noise::LocalStaticKey key;
  FakeClock clock;
  FixedPacketPool pool{512, 2048, 192};  // before the table: it releases its queue into the pool
  std::unique_ptr<SessionTable> table;
  Net& net;
  std::vector<Received> received;
  std::vector<SessionError> errors;

  void send_frame(const Address& to, ByteView frame, std::uint16_t e2e_offset) noexcept override;
  void send_packets(const Address& to, Packet* const* packets, std::size_t count) noexcept override;
  void on_error(const SessionError& error) noexcept override { errors.push_back(error); }

  // Makes a fresh table with the same key (a restart).
  void restart(SessionTableConfig config) {
    table.reset();
    config.wall_clock = &clock;
    table = std::make_unique<SessionTable>(key, config);
  }
  Packet* packet(const std::string& text) {
    Packet* p = pool.acquire();
    REQUIRE(p != nullptr);
    std::memcpy(p->append(static_cast<std::uint32_t>(text.size())), text.data(), text.size());
    return p;
  }
  std::size_t send(Node& to, const std::string& text, std::uint16_t protocol = 0x8001);
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& r : received) out.push_back(r.data);
    return out;
  }
};

struct Frame {
  Address to;
  std::vector<std::uint8_t> bytes;
  std::uint16_t e2e_offset;
  NeighbourId via = kNoNeighbour;  // the neighbour it arrives through, as the mesh says
};

// Frames wait on the wire until deliver(); a test may look at, change, drop or copy them.
struct Net {
  std::uint64_t now_ns = 1000 * kS;
  std::deque<Frame> wire;
  std::vector<Node*> nodes;
  std::vector<Frame> seen;  // every frame delivered, for replay tests

  Node* by_address(const Address& a) {
    for (Node* n : nodes)
      if (std::memcmp(n->id.addr.bytes, a.bytes, kAddressSize) == 0) return n;
    return nullptr;
  }
  // Delivers until the wire is empty; `filter` may change a frame or return false to drop it.
  void deliver(const std::function<bool(Frame&)>& filter = {}) {
    while (!wire.empty()) {
      Frame f = std::move(wire.front());
      wire.pop_front();
      if (filter && !filter(f)) continue;
      inject(f);
    }
  }
  void inject(Frame f) {
    seen.push_back(f);
    Node* n = by_address(f.to);
    if (n == nullptr) return;
    auto d = n->table->receive(MutableByteView(f.bytes.data(), f.bytes.size()), now_ns, *n, f.via);
    if (d) {
      n->received.push_back({d->from->peer.key, d->from->peer.address, d->protocol,
                             std::string(reinterpret_cast<const char*>(d->data.data()), d->data.size())});
    }
  }
  // Moves time on and runs every table's timers, delivering what they send.
  void advance(std::uint64_t ns, std::uint64_t step = kS) {
    const std::uint64_t end = now_ns + ns;
    deliver();
    while (now_ns < end) {
      now_ns = std::min(end, now_ns + step);
      for (Node* n : nodes) n->table->tick(now_ns, *n);
      deliver();
    }
  }
};

Node::Node(Net& n, const KeyPair& identity, SessionTableConfig config)
    : id(identity), key(std::span<const std::uint8_t, 32>(identity.priv.bytes, 32)), net(n) {
  config.wall_clock = &clock;
  table = std::make_unique<SessionTable>(key, config);
  net.nodes.push_back(this);
}

void Node::send_frame(const Address& to, ByteView frame, std::uint16_t e2e_offset) noexcept {
  net.wire.push_back({to, std::vector<std::uint8_t>(frame.begin(), frame.end()), e2e_offset});
}
void Node::send_packets(const Address& to, Packet* const* packets, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    net.wire.push_back({to, std::vector<std::uint8_t>(packets[i]->data(), packets[i]->data() + packets[i]->length),
                        static_cast<std::uint16_t>(kTransportHeaderSize)});
    packets[i]->release();
  }
}
std::size_t Node::send(Node& to, const std::string& text, std::uint16_t protocol) {
  Packet* p = packet(text);
  return table->send(to.id.pub, protocol, &p, 1, net.now_ns, *this);
}

bool same(const PublicKey& a, const PublicKey& b) { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }
bool same(const Address& a, const Address& b) { return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0; }

// Node keys are slow to mint (≈256 tries each): a few, shared by every test.
const KeyPair& key(std::size_t i) {
  static std::vector<KeyPair> keys;
  while (keys.size() <= i) keys.push_back(generate_node_key());
  return keys[i];
}

}  // namespace

TEST_CASE("session table: the first packet starts a handshake; queued packets arrive in order, from the right key") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  CHECK(a.send(b, "one") == 1);
  CHECK(a.send(b, "two") == 1);
  CHECK(a.send(b, "three", 0x8002) == 1);
  REQUIRE(net.wire.size() == 1);  // one initiation, nothing sealed yet
  CHECK(net.wire.front().bytes.size() == kInitiationSize);
  CHECK(net.wire.front().e2e_offset == kNoEndToEnd);
  CHECK(a.table->find(b.id.pub)->queued == 3);

  net.deliver();
  REQUIRE(b.received.size() == 3);
  CHECK(b.texts() == std::vector<std::string>{"one", "two", "three"});
  CHECK(b.received[2].protocol == 0x8002);
  CHECK(same(b.received[0].from, a.id.pub));
  CHECK(same(b.received[0].from_address, a.id.addr));  // derived from the key, not a header
  CHECK(a.table->find(b.id.pub)->established());
  CHECK(b.table->find(a.id.pub)->established());
  CHECK(a.table->find(b.id.pub)->queued == 0);
  CHECK(a.table->stats().established == 1);
  CHECK(b.table->stats().established == 1);
  CHECK(a.pool.in_use() == 0);

  // Established: sent at once, sealed, e2e offset = the cleartext header.
  a.send(b, "four");
  REQUIRE(net.wire.size() == 1);
  CHECK(net.wire.front().e2e_offset == kTransportHeaderSize);
  CHECK(net.wire.front().bytes.size() == 4 + kTransportOverhead);
  net.deliver();
  CHECK(b.received.back().data == "four");

  // And back, on the same session.
  b.send(a, "reply");
  net.deliver();
  REQUIRE(a.received.size() == 1);
  CHECK(same(a.received[0].from, b.id.pub));
  CHECK(a.table->stats().initiations_sent == 1);
  CHECK(b.table->stats().initiations_sent == 0);
}

TEST_CASE("session table: tampered, replayed and unknown transport packets are dropped and counted") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  a.send(b, "hello");
  net.deliver();
  REQUIRE(b.received.size() == 1);

  a.send(b, "tamper me");
  net.deliver([](Frame& f) {
    f.bytes[kTransportHeaderSize + 3] ^= 1;
    return true;
  });
  CHECK(b.received.size() == 1);
  CHECK(b.table->stats().decrypt_failed == 1);

  // A changed counter in the cleartext header is caught too (it is associated data).
  a.send(b, "counter");
  net.deliver([](Frame& f) {
    f.bytes[kTransportHeaderSize - 1] ^= 1;
    return true;
  });
  CHECK(b.table->stats().decrypt_failed == 2);

  a.send(b, "once");
  net.deliver();
  CHECK(b.received.back().data == "once");
  const Frame copy = net.seen.back();
  net.inject(copy);
  CHECK(b.table->stats().replayed == 1);
  CHECK(b.received.size() == 2);

  Frame unknown = copy;
  put_u32(unknown.bytes.data() + kFrameHeaderSize, 0xdeadbeef);
  net.inject(unknown);
  CHECK(b.table->stats().unknown_index == 1);

  Frame junk{b.id.addr, {1, 9, 0, 0}, kNoEndToEnd};
  net.inject(junk);
  Frame short_frame{b.id.addr, {1}, kNoEndToEnd};
  net.inject(short_frame);
  CHECK(b.table->stats().bad_message == 2);
}

TEST_CASE("session table: a replayed initiation is stale; one for another key fails mac1 before any DH") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {}), c(net, key(2), {});
  a.send(b, "x");
  const Frame initiation = net.wire.front();
  net.deliver();
  REQUIRE(b.received.size() == 1);
  net.inject(initiation);
  CHECK(b.table->stats().stale_timestamp == 1);
  CHECK(b.table->stats().responses_sent == 1);

  Frame elsewhere = initiation;
  elsewhere.to = c.id.addr;
  net.inject(elsewhere);
  CHECK(c.table->stats().bad_mac1 == 1);
  CHECK(c.table->remotes().empty());
}

TEST_CASE("session table: simultaneous initiation makes exactly one session") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  a.send(b, "from a");
  b.send(a, "from b");
  REQUIRE(net.wire.size() == 2);  // both initiations cross
  net.deliver();
  net.advance(3 * kS);
  CHECK(a.texts() == std::vector<std::string>{"from b"});
  CHECK(b.texts() == std::vector<std::string>{"from a"});
  Remote* ra = a.table->find(b.id.pub);
  Remote* rb = b.table->find(a.id.pub);
  REQUIRE(ra->established());
  REQUIRE(rb->established());
  // The same session on both sides: each sends to the index the other receives on.
  CHECK(ra->current.remote_index == rb->current.local_index);
  CHECK(rb->current.remote_index == ra->current.local_index);
  CHECK_FALSE(ra->previous.live());
  CHECK_FALSE(rb->previous.live());
  CHECK(a.table->stats().collision_lost + b.table->stats().collision_lost == 1);
  CHECK(a.table->stats().established == 1);
  CHECK(b.table->stats().established == 1);
  // The lower key's initiation won: its owner is the initiator.
  const bool a_lower = std::memcmp(a.id.pub.bytes, b.id.pub.bytes, kPublicKeySize) < 0;
  CHECK(ra->current.initiator == a_lower);
  CHECK(rb->current.initiator == !a_lower);
}

TEST_CASE("session table: rekey after 120 s is a fresh handshake and loses nothing") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  int sent = 0;
  a.send(b, std::to_string(sent++));
  net.deliver();
  const std::uint32_t first_index = a.table->find(b.id.pub)->current.local_index;
  // Traffic every second for 130 s, both ways, delivered as it goes.
  for (int s = 0; s < 130; ++s) {
    a.send(b, std::to_string(sent++));
    b.send(a, "ack");
    net.advance(kS);
  }
  Remote* ra = a.table->find(b.id.pub);
  CHECK(ra->current.local_index != first_index);  // a new session
  CHECK(net.now_ns - ra->current.created_ns < 20 * kS);
  CHECK(a.table->stats().initiations_sent == 2);
  CHECK(b.table->stats().established == 2);
  REQUIRE(b.received.size() == static_cast<std::size_t>(sent));
  for (int i = 0; i < sent; ++i) CHECK(b.received[i].data == std::to_string(i));
  CHECK(a.received.size() == 130);
  CHECK(b.table->stats().decrypt_failed + b.table->stats().unknown_index + b.table->stats().expired == 0);
}

TEST_CASE("session table: a restarted remote (same key, fresh state) gets a new session") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  a.send(b, "before");
  net.deliver();
  REQUIRE(b.received.size() == 1);

  SUBCASE("the restarted side sends first: its initiation is newer, and accepted") {
    b.restart({});
    b.clock.value += 5 * static_cast<std::int64_t>(kS);
    net.advance(5 * kS);
    b.send(a, "after restart");
    net.deliver();
    CHECK(a.texts() == std::vector<std::string>{"after restart"});
    a.send(b, "and back");
    net.deliver();
    CHECK(b.received.back().data == "and back");
  }
  SUBCASE("only the other side sends: silence makes it re-handshake, then traffic flows") {
    b.restart({});
    b.received.clear();
    a.send(b, "lost");  // on the old session, which b no longer knows
    net.deliver();
    CHECK(b.table->stats().unknown_index == 1);
    net.advance(16 * kS);  // the silence re-handshake (keepalive 10 s + 5 s)
    CHECK(a.table->stats().initiations_sent == 2);
    a.send(b, "found");
    net.deliver();
    CHECK(b.texts() == std::vector<std::string>{"found"});
  }
}

TEST_CASE("session table: one-way traffic is kept alive by the receiver's keepalives, without re-handshakes") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  for (int s = 0; s < 60; ++s) {
    a.send(b, "tick");
    net.advance(kS);
  }
  CHECK(b.received.size() == 60);
  CHECK(a.table->stats().initiations_sent == 1);
  CHECK(a.received.empty());  // keepalives carry nothing up
}

TEST_CASE("session table: an idle remote is forgotten after idleTimeout") {
  Net net;
  SessionTableConfig config;
  config.timers.idle_timeout_ns = 60 * kS;
  Node a(net, key(0), config), b(net, key(1), config);
  a.send(b, "hi");
  net.deliver();
  net.advance(59 * kS);
  CHECK(a.table->find(b.id.pub) != nullptr);
  net.advance(2 * kS);
  CHECK(a.table->find(b.id.pub) == nullptr);
  CHECK(b.table->find(a.id.pub) == nullptr);
  CHECK(a.table->find(b.id.addr) == nullptr);
  // Traffic later simply starts a new handshake.
  a.send(b, "again");
  net.deliver();
  CHECK(b.received.back().data == "again");
  CHECK(a.table->stats().initiations_sent == 2);
}

TEST_CASE("session table: the queue holds queueLength packets; beyond it the oldest go, counted") {
  Net net;
  SessionTableConfig config;
  config.limits.queue_length = 4;
  Node a(net, key(0), config), b(net, key(1), config);
  for (int i = 0; i < 10; ++i) CHECK(a.send(b, std::to_string(i)) == 1);
  CHECK(a.table->find(b.id.pub)->queued == 4);
  CHECK(a.table->stats().queue_full == 6);
  net.deliver();
  CHECK(b.texts() == std::vector<std::string>{"6", "7", "8", "9"});
  CHECK(a.pool.in_use() == 0);
}

TEST_CASE("session table: an unanswered handshake backs off, then gives up: queue dropped, unreachable") {
  Net net;
  Node a(net, key(0), {});
  const KeyPair& absent = key(1);  // no node has it: initiations vanish
  Packet* p[] = {a.packet("x"), a.packet("y")};
  CHECK(a.table->send(absent.pub, 0x8001, p, 2, net.now_ns, a) == 2);
  Packet* q = a.packet("z");
  CHECK(a.table->send(absent.pub, 0x8002, &q, 1, net.now_ns, a) == 1);
  std::vector<std::uint64_t> sent_at;
  for (int s = 0; s < 25; ++s) {
    const std::size_t before = net.wire.size();
    net.now_ns += kS;
    a.table->tick(net.now_ns, a);
    if (net.wire.size() != before) sent_at.push_back(net.now_ns);
    net.wire.clear();
  }
  // Retries after 1, 2, 4, 8, 8 s.
  REQUIRE(sent_at.size() >= 4);
  CHECK(sent_at[1] - sent_at[0] == 2 * kS);
  CHECK(sent_at[2] - sent_at[1] == 4 * kS);
  CHECK(sent_at[3] - sent_at[2] == 8 * kS);
  CHECK(a.table->stats().timed_out == 1);
  CHECK(a.table->stats().unreachable == 3);
  REQUIRE(a.errors.size() == 2);  // one per protocol
  CHECK(a.errors[0].kind == SessionError::Kind::unreachable);
  CHECK(same(a.errors[0].destination, absent.addr));
  CHECK(a.errors[0].protocol == 0x8001);
  CHECK(a.errors[1].protocol == 0x8002);
  CHECK(a.pool.in_use() == 0);
  CHECK(a.table->find(absent.pub) == nullptr);
}

TEST_CASE("session table: a flood of initiations is bounded in DH work and in table entries") {
  Net net;
  SessionTableConfig config;
  config.limits.max_sessions = 8;
  config.limits.handshakes_per_second = 10;
  config.limits.handshake_burst = 10;
  Node b(net, key(0), config);
  Node friend_(net, key(1), {});
  friend_.send(b, "real traffic");
  net.deliver();
  REQUIRE(b.received.size() == 1);

  // 30 attackers with real keys initiate at once, and never confirm.
  std::vector<std::unique_ptr<Node>> attackers;
  for (std::size_t i = 0; i < 30; ++i) attackers.push_back(std::make_unique<Node>(net, key(2 + i), SessionTableConfig{}));
  for (auto& x : attackers) x->send(b, "spam");
  net.deliver([&](Frame& f) { return !same(f.to, attackers[0]->id.addr) && net.by_address(f.to) == &b; });
  CHECK(b.table->stats().rate_limited == 21);  // one token went to the friend
  CHECK(b.table->stats().responses_sent == 1 + 9);
  CHECK(b.table->remotes().size() <= 8);
  CHECK(b.table->find(friend_.id.pub) != nullptr);  // never evicted for a flood
  CHECK(b.table->stats().unconfirmed_dropped >= 2);

  // A second later there is budget again; the friend's session still works.
  net.advance(kS);
  friend_.send(b, "still here");
  net.deliver();
  CHECK(b.received.back().data == "still here");
}

TEST_CASE("session table: a flood through one neighbour leaves the handshake budget of the others") {
  Net net;
  SessionTableConfig config;
  config.limits.handshakes_per_second = 40;  // a neighbour gets 10 a second, burst 10
  config.limits.handshake_burst = 40;
  Node b(net, key(0), config);
  std::vector<std::unique_ptr<Node>> attackers;
  for (std::size_t i = 0; i < 30; ++i) attackers.push_back(std::make_unique<Node>(net, key(2 + i), SessionTableConfig{}));
  for (auto& x : attackers) x->send(b, "spam");
  net.deliver([&](Frame& f) {
    f.via = 7;  // all through one neighbour
    return net.by_address(f.to) == &b;
  });
  CHECK(b.table->stats().responses_sent == 10);
  CHECK(b.table->stats().rate_limited == 20);

  Node friend_(net, key(1), {});
  friend_.send(b, "through another neighbour");
  net.deliver([&](Frame& f) {
    f.via = net.by_address(f.to) == &b ? 9 : 0;
    return true;
  });
  REQUIRE(b.received.size() == 1);
  CHECK(b.received[0].data == "through another neighbour");
}

TEST_CASE("session table: no receiver at the far end comes back as a SessionError") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  a.send(b, "to nobody", 0x9000);
  net.deliver();
  REQUIRE(b.received.size() == 1);
  b.table->report_no_receiver(*b.table->find(a.id.pub), 0x9000, net.now_ns, b);
  b.table->report_no_receiver(*b.table->find(a.id.pub), 0x9000, net.now_ns, b);  // rate-limited
  CHECK(net.wire.size() == 1);
  net.deliver();
  REQUIRE(a.errors.size() == 1);
  CHECK(a.errors[0].kind == SessionError::Kind::no_receiver);
  CHECK(a.errors[0].protocol == 0x9000);
  CHECK(same(a.errors[0].destination, b.id.addr));
  CHECK(a.received.empty());
}

TEST_CASE("session table: packets without the headroom asked for are refused; invalid keys are no route") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  Packet* p = a.pool.acquire();
  p->offset = 4;  // almost no headroom
  CHECK(a.table->send(b.id.pub, 0x8001, &p, 1, net.now_ns, a) == 0);
  CHECK(a.table->stats().bad_packet == 1);
  Packet* q = a.packet("self");
  CHECK(a.table->send(a.id.pub, 0x8001, &q, 1, net.now_ns, a) == 0);
  CHECK(a.table->stats().invalid_key == 1);
  REQUIRE(a.errors.size() == 1);
  CHECK(a.errors[0].kind == SessionError::Kind::no_route);
  CHECK(a.pool.in_use() == 0);
}

TEST_CASE("session table: sessions past reject-after are not used; a new handshake carries the traffic") {
  Net net;
  Node a(net, key(0), {}), b(net, key(1), {});
  a.send(b, "start");
  net.deliver();
  // Silence both ways for longer than reject-after but shorter than idle: impossible with
  // the defaults (idle = reject = 180 s), so give idle more room.
  SessionTableConfig config;
  config.timers.idle_timeout_ns = 400 * kS;
  a.restart(config);
  b.restart(config);
  a.clock.value += 10 * static_cast<std::int64_t>(kS);
  a.send(b, "fresh");
  net.deliver();
  CHECK(b.received.back().data == "fresh");
  net.advance(179 * kS, 10 * kS);
  REQUIRE(a.table->find(b.id.pub) != nullptr);
  CHECK(a.table->find(b.id.pub)->established());
  net.advance(2 * kS);
  // No keys left to use: the entry goes (a later packet starts afresh).
  const Remote* ra = a.table->find(b.id.pub);
  CHECK((ra == nullptr || !ra->established()));
  a.send(b, "after reject");
  net.deliver();
  CHECK(b.received.back().data == "after reject");
}
