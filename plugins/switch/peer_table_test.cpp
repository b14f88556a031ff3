// Two (or more) peer tables talking through in-memory queues with a manual clock: the
// behaviours the switch relies on, from handshake to rekey, restart, loss and roaming.
#include "peer_table.hpp"
#include "test_net.hpp"

#include <meshhost/packet_pool.hpp>

#include <doctest/doctest.h>
#include <sodium.h>

#include <string>

#include <cstring>

using namespace mh;
using namespace mh::sw;
using namespace mh::sw::testing;

namespace {

constexpr std::uint64_t kS = kNsPerSecond;

ByteView bytes_of(const char* s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)); }

bool send(Net& net, Node& from, Node& to, const char* text) {
  Neighbour* n = from.peer(to);
  return n != nullptr && from.table->send_data(*n, bytes_of(text), net.now_ns, from);
}

bool got(const Node& node, const char* text) {
  for (const auto& d : node.delivered)
    if (d.size() == std::strlen(text) && std::memcmp(d.data(), text, d.size()) == 0) return true;
  return false;
}

PeerTableConfig with_password(const noise::LocalStaticKey& key, const char* password, const char* login) {
  PeerTableConfig c;
  auto entry = make_authorized_password(password, login, key.public_key());
  REQUIRE(entry);
  c.authorized_passwords.push_back(*entry);
  return c;
}

}  // namespace

TEST_CASE("two nodes establish, exchange data and measure RTT") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(a.established_with(b));
  REQUIRE(b.established_with(a));
  CHECK(a.count_events(b, PeerEvent::Kind::established) == 1);
  CHECK(b.count_events(a, PeerEvent::Kind::established) == 1);

  CHECK(send(net, a, b, "hello b"));
  CHECK(send(net, b, a, "hello a"));
  net.run_for(1 * kS);
  CHECK(got(b, "hello b"));
  CHECK(got(a, "hello a"));

  // RTT: both sides probed; 5 ms each way.
  net.run_for(30 * kS);
  for (Node* n : {&a, &b}) {
    Neighbour* peer = n == &a ? a.peer(b) : b.peer(a);
    REQUIRE(peer->best != nullptr);
    CHECK(peer->best->quality.has_rtt());
    CHECK(peer->best->quality.srtt_ns() == 10 * kNsPerMs);
    CHECK(peer->best->quality.cost() == compute_cost(10, 0));
  }
  CHECK(a.table->stats().decrypt_failed == 0);
  CHECK(b.table->stats().unknown_index == 0);
}

TEST_CASE("a responder sends nothing before the initiator confirms") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  // Lose every transport frame from a: b answers the initiation but never hears the
  // confirmation, so it must never send on the new session nor call a established.
  net.filter = [&](Node& from, ByteView f) { return !(&from == &a && f[1] == 0x04); };
  net.hint(a, b);
  net.run_for(2 * kS);
  CHECK(b.table->stats().responses_sent >= 1);
  CHECK_FALSE(b.established_with(a));
  bool b_sent_transport = false;
  for (const auto& f : b.sent_frames) b_sent_transport |= f[1] == 0x04;
  CHECK_FALSE(b_sent_transport);
  // Unconfirmed sessions expire and are counted.
  net.run_for(40 * kS);
  CHECK(b.table->stats().unconfirmed_dropped >= 1);
}

TEST_CASE("passwords: the right one establishes; wrong password, login or key do not") {
  noise::LocalStaticKey b_key = node_key();
  const PeerTableConfig b_config = with_password(b_key, "secret", "alice");

  SUBCASE("right password and login") {
    Net net;
    Node& a = net.add(node_key());
    Node& b = net.add(b_key, b_config, DiscoveredPeerPolicy::require_password);
    net.hint(a, b, "secret", "alice");
    net.run_for(2 * kS);
    CHECK(a.established_with(b));
    CHECK(b.established_with(a));
  }
  SUBCASE("wrong password") {
    Net net;
    Node& a = net.add(node_key());
    Node& b = net.add(b_key, b_config, DiscoveredPeerPolicy::require_password);
    net.hint(a, b, "wrong", "alice");
    net.run_for(40 * kS);
    CHECK_FALSE(a.established_with(b));
    CHECK_FALSE(b.established_with(a));
    CHECK(a.table->stats().handshake_failed >= 1);   // the response did not authenticate
    CHECK(b.table->stats().unconfirmed_dropped >= 1);
  }
  SUBCASE("wrong login") {
    Net net;
    Node& a = net.add(node_key());
    Node& b = net.add(b_key, b_config, DiscoveredPeerPolicy::require_password);
    net.hint(a, b, "secret", "mallory");
    net.run_for(10 * kS);
    CHECK_FALSE(a.established_with(b));
    CHECK(b.peer(a) == nullptr);
    CHECK(b.table->stats().unknown_login >= 1);
  }
  SUBCASE("no password where the link requires one") {
    Net net;
    Node& a = net.add(node_key());
    Node& b = net.add(b_key, PeerTableConfig{}, DiscoveredPeerPolicy::require_password);
    net.hint(a, b);
    net.run_for(10 * kS);
    CHECK(b.peer(a) == nullptr);
    CHECK(b.table->stats().policy_rejected >= 1);
  }
  SUBCASE("wrong key") {
    Net net;
    Node& a = net.add(node_key());
    Node& b = net.add(b_key, b_config);
    // a believes b's endpoint belongs to another key: mac1 fails before any DH.
    PeerHint h;
    h.endpoint = b.endpoint;
    const noise::LocalStaticKey other = node_key();
    h.key = other.public_key();
    a.table->add_hint(&a.link, h, net.now_ns, a);
    net.run_for(10 * kS);
    CHECK(b.table->neighbours().empty());
    CHECK(b.table->stats().bad_mac1 >= 1);
  }
}

TEST_CASE("the allow-list policy admits only listed keys") {
  Net net;
  Node& a = net.add(node_key());
  Node& c = net.add(node_key());
  Node& b = net.add(node_key(), {}, DiscoveredPeerPolicy::allow_list);
  b.link.allowed.push_back(a.pub());
  net.hint(a, b);
  net.hint(c, b);
  net.run_for(2 * kS);
  CHECK(b.established_with(a));
  CHECK(b.peer(c) == nullptr);
  CHECK(b.table->stats().policy_rejected >= 1);
}

TEST_CASE("a replayed initiation is rejected by its timestamp") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(b.established_with(a));
  std::vector<std::uint8_t> initiation;
  for (const auto& f : a.sent_frames)
    if (f[1] == 0x01) initiation = f;
  REQUIRE_FALSE(initiation.empty());
  const auto responses = b.table->stats().responses_sent;
  net.run_for(60 * kS);
  b.table->receive(&b.link, a.endpoint, initiation, net.now_ns, b);
  CHECK(b.table->stats().stale_timestamp == 1);
  CHECK(b.table->stats().responses_sent == responses);
  CHECK(b.established_with(a));
}

TEST_CASE("simultaneous initiation leaves exactly one session") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.hint(b, a);  // before a's initiation arrives
  net.run_for(2 * kS);
  REQUIRE(a.established_with(b));
  REQUIRE(b.established_with(a));
  Path& pa = *a.peer(b)->best;
  Path& pb = *b.peer(a)->best;
  CHECK(pa.current.initiator != pb.current.initiator);
  CHECK(pa.current.remote_index == pb.current.local_index);
  CHECK(pb.current.remote_index == pa.current.local_index);
  CHECK(a.table->stats().collision_lost + b.table->stats().collision_lost == 1);
  CHECK(a.table->stats().sessions_established == 1);
  CHECK(b.table->stats().sessions_established == 1);
  CHECK(send(net, a, b, "one"));
  net.run_for(1 * kS);
  CHECK(got(b, "one"));
}

TEST_CASE("crossed initiations that both get answered still end in one session") {
  // lo's initiation is still on its way when hi starts; hi answers it (its own is young but
  // hi's key is the higher), lo answers hi's (lo's own is past half a retry), so both drop
  // their own handshake and each response finds none. A fresh initiation must follow.
  Net net;
  Node* lo = &net.add(node_key());
  Node* hi = &net.add(node_key());
  if (std::memcmp(lo->pub().bytes, hi->pub().bytes, sizeof lo->pub().bytes) > 0) std::swap(lo, hi);
  net.latency_ns = 3 * kS;
  net.hint(*lo, *hi);
  net.run_for(2900 * kNsPerMs);
  net.latency_ns = 200 * kNsPerMs;
  net.hint(*hi, *lo);
  net.run_for(10 * kS);  // well before the 30 s an unconfirmed session would take to expire
  CHECK(lo->table->stats().unexpected_message + hi->table->stats().unexpected_message >= 1);
  REQUIRE(lo->established_with(*hi));
  REQUIRE(hi->established_with(*lo));
  CHECK(lo->table->stats().sessions_established == 1);
  CHECK(hi->table->stats().sessions_established == 1);
}

TEST_CASE("a new session replaces the old only after key confirmation") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  Path& pb = *b.peer(a)->best;
  const std::uint32_t old_index = pb.current.local_index;

  // a restarts: its new initiation reaches b, b's response is lost.
  net.filter = [&](Node& from, ByteView f) { return !(&from == &b && f[1] == 0x02); };
  a.restart();
  net.hint(a, b);
  net.run_for(1 * kS);
  CHECK(pb.next.live());
  CHECK(pb.current.local_index == old_index);  // still the old session
  CHECK(b.established_with(a));

  // Once a's response gets through, a confirms and b switches.
  net.filter = nullptr;
  net.run_for(10 * kS);
  CHECK_FALSE(pb.next.live());
  CHECK(pb.current.local_index != old_index);
  CHECK(send(net, b, a, "after restart"));
  net.run_for(1 * kS);
  CHECK(got(a, "after restart"));
}

TEST_CASE("rekeying every 120 s keeps traffic flowing") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  int sent = 0;
  for (int second = 0; second < 600; ++second) {
    sent += send(net, a, b, "x") ? 1 : 0;
    sent += send(net, b, a, "y") ? 1 : 0;
    net.run_for(1 * kS);
  }
  CHECK(sent == 1200);
  CHECK(a.delivered.size() + b.delivered.size() == 1200);
  CHECK(a.table->stats().sessions_established >= 5);
  CHECK(b.table->stats().session_expired == 0);
  CHECK(a.count_events(b, PeerEvent::Kind::unresponsive) == 0);
}

TEST_CASE("a restarted node is re-established without help") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(a.established_with(b));

  SUBCASE("the responder restarts") {
    b.restart();
    net.run_for(25 * kS);
    CHECK(a.established_with(b));
    CHECK(b.established_with(a));
    CHECK(b.table->stats().unknown_index >= 1);  // a's old session, until it re-handshook
  }
  SUBCASE("the initiator restarts") {
    a.restart();
    net.hint(a, b);
    net.run_for(2 * kS);
    CHECK(a.established_with(b));
    CHECK(b.established_with(a));
  }
  CHECK(send(net, a, b, "again"));
  net.run_for(1 * kS);
  CHECK(got(b, "again"));
}

TEST_CASE("a silent peer goes unresponsive, then gone, and comes back") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(a.established_with(b));
  net.cut = true;
  const std::uint64_t cut_at = net.now_ns;
  net.run_for(29 * kS);
  CHECK(a.established_with(b));
  net.run_for(2 * kS);
  CHECK(a.peer(b)->state == PeerState::unresponsive);
  CHECK(a.count_events(b, PeerEvent::Kind::unresponsive) == 1);
  net.run_until(cut_at + 121 * kS);
  CHECK(a.peer(b)->state == PeerState::gone);  // configured: kept, still handshaking
  CHECK(a.count_events(b, PeerEvent::Kind::gone) == 1);
  CHECK(b.peer(a) == nullptr);  // discovered: forgotten
  CHECK(b.count_events(a, PeerEvent::Kind::gone) == 1);

  net.cut = false;
  net.run_for(6 * kS);
  CHECK(a.established_with(b));
  CHECK(b.established_with(a));
}

TEST_CASE("under load a responder answers with a cookie and accepts the mac2 that follows") {
  Net net;
  Node& a = net.add(node_key());
  PeerTableConfig loaded;
  loaded.handshake_load_threshold = 0;  // every initiation counts as load
  Node& b = net.add(node_key(), loaded);
  net.hint(a, b);
  net.run_for(1 * kS);
  CHECK(b.table->stats().bad_mac2_under_load == 1);
  CHECK(b.table->stats().cookie_replies_sent == 1);
  CHECK(a.table->stats().cookie_replies_received == 1);
  CHECK_FALSE(a.established_with(b));
  net.run_for(6 * kS);  // a's retry carries mac2
  CHECK(a.established_with(b));
  CHECK(b.established_with(a));
  CHECK(b.table->stats().bad_mac2_under_load == 1);
}

TEST_CASE("a path's endpoint follows the latest authenticated packet") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(b.established_with(a));
  a.endpoint = endpoint_named("node0-after-nat");  // a's NAT rebinds
  CHECK(send(net, a, b, "from new port"));
  net.run_for(1 * kS);
  CHECK(got(b, "from new port"));
  Path& pb = *b.peer(a)->best;
  CHECK(std::memcmp(&pb.endpoint, &a.endpoint, sizeof a.endpoint) == 0);
  CHECK(send(net, b, a, "to new port"));
  net.run_for(1 * kS);
  CHECK(got(a, "to new port"));
  // A forged frame from elsewhere does not move it.
  std::vector<std::uint8_t> junk(60, 0);
  junk[0] = 1;
  junk[1] = 4;
  put_u64(junk.data() + 6, std::uint64_t{1} << 40);
  put_u32(junk.data() + 2, pb.current.local_index);
  b.table->receive(&b.link, endpoint_named("attacker"), junk, net.now_ns, b);
  CHECK(b.table->stats().decrypt_failed == 1);
  CHECK(std::memcmp(&pb.endpoint, &a.endpoint, sizeof a.endpoint) == 0);
}

TEST_CASE("junk is dropped and counted by reason") {
  Net net;
  Node& b = net.add(node_key());
  auto feed = [&](std::vector<std::uint8_t> f) { b.table->receive(&b.link, endpoint_named("x"), f, net.now_ns, b); };
  feed({1});
  feed({2, 1, 0, 0});
  feed({1, 0x33});
  feed({1, 0x10, 1, 2});
  feed(std::vector<std::uint8_t>{1, 0x01, 0});
  std::vector<std::uint8_t> init(kInitiationMinSize, 7);
  init[0] = 1;
  init[1] = 1;
  feed(init);
  std::vector<std::uint8_t> transport(40, 9);
  transport[0] = 1;
  transport[1] = 4;
  feed(transport);
  const Stats& s = b.table->stats();
  CHECK(s.short_frame == 1);
  CHECK(s.bad_version == 1);
  CHECK(s.unknown_type == 2);
  CHECK(s.malformed == 1);
  CHECK(s.bad_mac1 == 1);
  CHECK(s.unknown_index == 1);
  CHECK(b.table->neighbours().empty());
}

TEST_CASE("the table never holds more neighbours than its limit") {
  Net net;
  PeerTableConfig small;
  small.limits.max_neighbours = 2;
  Node& hub = net.add(node_key(), small);
  for (int i = 0; i < 4; ++i) {
    Node& n = net.add(node_key());
    net.hint(n, hub);
  }
  net.run_for(2 * kS);
  CHECK(hub.table->neighbours().size() == 2);
  CHECK(hub.table->stats().table_full >= 2);
}

TEST_CASE("neighbours found by beacons are forgotten when they fall silent") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b, {}, {}, /*from_beacon=*/true);
  net.run_for(1 * kS);
  REQUIRE(a.established_with(b));
  net.cut = true;
  net.run_for(121 * kS);
  CHECK(a.peer(b) == nullptr);
  CHECK(b.peer(a) == nullptr);
  CHECK(a.count_events(b, PeerEvent::Kind::gone) == 1);
  // Heard again: peers again.
  net.cut = false;
  net.hint(a, b, {}, {}, true);
  net.run_for(1 * kS);
  CHECK(a.established_with(b));
}

TEST_CASE("a beacon from a node without the password leads nowhere and is dropped in time") {
  Net net;
  noise::LocalStaticKey b_key = node_key();
  Node& a = net.add(node_key());
  Node& b = net.add(b_key, with_password(b_key, "secret", ""), DiscoveredPeerPolicy::require_password);
  net.hint(a, b, {}, {}, true);  // a heard b's beacon but knows no password
  net.run_for(20 * kS);
  CHECK_FALSE(a.established_with(b));
  CHECK_FALSE(b.established_with(a));  // the response never authenticated at a: nothing confirmed
  CHECK(a.table->stats().handshake_failed >= 1);
  net.run_for(120 * kS);  // no more beacons
  CHECK(a.peer(b) == nullptr);
  net.run_for(40 * kS);  // b's last unconfirmed session expires, and the entry with it
  CHECK(b.peer(a) == nullptr);
  CHECK(b.table->stats().unconfirmed_dropped >= 1);
}

TEST_CASE("a handshake flood gets cookies, not DH, and the real peer keeps its session") {
  Net net;
  Node& a = net.add(node_key());
  PeerTableConfig config;
  config.handshake_load_threshold = 50;
  Node& b = net.add(node_key(), config);
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(b.established_with(a));

  // Initiations with a valid mac1 (the attacker knows b's key) from spoofed endpoints,
  // 1000 per second for 300 s: long enough for a to rekey twice under fire.
  const MacKey mac1_key = mac1_key_for(b.pub());
  std::vector<std::uint8_t> junk(kInitiationMinSize);
  std::uint32_t spoofed = 0;
  int delivered = 0;
  for (int second = 0; second < 300; ++second) {
    for (int i = 0; i < 1000; ++i) {
      randombytes_buf(junk.data(), junk.size());
      junk[0] = 1;
      junk[1] = 1;
      const std::size_t mac1_at = junk.size() - 2 * kMacSize;
      const Mac mac1 = compute_mac1(mac1_key, ByteView(junk.data(), mac1_at));
      std::memcpy(junk.data() + mac1_at, mac1.bytes, kMacSize);
      b.table->receive(&b.link, endpoint_named("spoof" + std::to_string(spoofed++ % 4096)), junk, net.now_ns, b);
      net.now_ns += kNsPerMs;
    }
    delivered += send(net, a, b, "through the flood") ? 1 : 0;
    net.run_for(1);  // deliver what is due
  }
  net.run_for(1 * kS);
  const Stats& s = b.table->stats();
  CHECK(s.bad_mac2_under_load >= 299'000);   // nearly all got a cookie instead of a DH
  CHECK(s.handshake_failed <= 300 * 51);     // at most the threshold per second reached the DH
  CHECK(delivered == 300);
  CHECK(b.delivered.size() == 300);
  CHECK(a.table->stats().sessions_established >= 3);  // rekeys went through, with mac2
  CHECK(a.table->stats().cookie_replies_received >= 1);
  CHECK(b.established_with(a));
}

TEST_CASE("a neighbour on two links uses the cheaper path and fails over") {
  Net net;
  net.latency_ns = 40 * kNsPerMs;  // link: slow
  net.latency2_ns = 2 * kNsPerMs;  // link2: fast
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b, {}, {}, false, 0);
  net.hint(a, b, {}, {}, false, 1);
  net.run_for(25 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n != nullptr);
  REQUIRE(n->paths.size() == 2);
  REQUIRE(n->best != nullptr);
  CHECK(n->best->link == &a.link2);
  CHECK(n->published_cost == compute_cost(4, 0));
  CHECK(b.peer(a)->paths.size() == 2);

  // The fast link breaks: after the unresponsive timeout the slow one carries the traffic.
  net.cut2 = true;
  net.run_for(35 * kS);
  REQUIRE(n->best != nullptr);
  CHECK(n->best->link == &a.link);
  CHECK(n->state == PeerState::established);
  CHECK(a.count_events(b, PeerEvent::Kind::best_path_changed) >= 1);
  CHECK(a.count_events(b, PeerEvent::Kind::unresponsive) == 0);  // the neighbour never was
  CHECK(send(net, a, b, "over the slow link"));
  net.run_for(1 * kS);
  CHECK(got(b, "over the slow link"));

  // It comes back, and wins again.
  net.cut2 = false;
  net.run_for(30 * kS);
  CHECK(n->best->link == &a.link2);
}

TEST_CASE("loss and a slower link raise the published cost, once past the hysteresis") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(60 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n->state == PeerState::established);
  const std::uint32_t base = n->published_cost;
  CHECK(base == compute_cost(10, 0));
  // (One change already: from the provisional cost before the first RTT sample.)
  const std::size_t changes = a.count_events(b, PeerEvent::Kind::cost_changed);

  // A few milliseconds more is inside the hysteresis: no change, no event.
  net.latency_ns = 7 * kNsPerMs;
  net.run_for(120 * kS);
  CHECK(n->published_cost == base);
  CHECK(a.count_events(b, PeerEvent::Kind::cost_changed) == changes);

  // 50 ms each way is not.
  net.latency_ns = 50 * kNsPerMs;
  net.run_for(120 * kS);
  CHECK(n->published_cost > 80);
  CHECK(a.count_events(b, PeerEvent::Kind::cost_changed) > changes);

  // Losing every third echo reply from b shows as loss.
  int count = 0;
  net.filter = [&](Node& from, ByteView f) { return !(&from == &b && f[1] == 0x04 && ++count % 3 == 0); };
  const std::uint32_t before_loss = n->published_cost;
  net.run_for(300 * kS);
  CHECK(n->best->quality.loss_permille() > 100);
  CHECK(n->published_cost > before_loss);
  CHECK(n->state == PeerState::established);
}

TEST_CASE("seal and receive work in place on pooled packets") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(1 * kS);
  REQUIRE(a.established_with(b));
  FixedPacketPool pool(4);
  Packet* p = pool.acquire();
  REQUIRE(p != nullptr);
  const std::uint32_t headroom_before = p->headroom();
  std::uint8_t* payload = p->append(1280);
  for (std::uint32_t i = 0; i < 1280; ++i) payload[i] = static_cast<std::uint8_t>(i);

  Link* link = a.table->seal(*a.peer(b), *p, net.now_ns);
  REQUIRE(link == &a.link);
  CHECK(p->length == 1280 + kTransportOverhead);
  CHECK(p->headroom() == headroom_before - kTransportHeaderSize - kInnerTypeSize);
  CHECK(std::memcmp(&p->endpoint, &b.endpoint, sizeof b.endpoint) == 0);

  // The receiver decrypts in the same buffer and maps the delivery back onto the packet.
  auto d = b.table->receive(&b.link, a.endpoint, MutableByteView(p->data(), p->length), net.now_ns, b);
  REQUIRE(d);
  REQUIRE(p->consume(static_cast<std::uint32_t>(d->payload.data() - p->data())));
  p->length = static_cast<std::uint32_t>(d->payload.size());
  CHECK(p->length == 1280);
  CHECK(p->headroom() == headroom_before);
  bool same = true;
  for (std::uint32_t i = 0; i < 1280; ++i) same &= p->data()[i] == static_cast<std::uint8_t>(i);
  CHECK(same);
  p->release();

  // Without headroom nothing is sealed and the packet is untouched.
  Packet* tight = pool.acquire();
  tight->consume(0);
  tight->offset = 4;
  tight->append(10);
  CHECK(a.table->seal(*a.peer(b), *tight, net.now_ns) == nullptr);
  CHECK(tight->length == 10);
  CHECK(a.table->stats().no_session == 1);
  tight->release();
}

TEST_CASE("a configured peer that restarts with its clock set back is accepted once it was gone") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);  // a initiates, so b remembers a's timestamp
  net.run_for(2 * kS);
  net.hint(b, a);  // and b has a configured too
  net.run_for(1 * kS);
  REQUIRE(b.established_with(a));

  a.config.unix_time_offset_ns = -std::int64_t{3600} * static_cast<std::int64_t>(kS);  // an hour behind
  a.restart();
  net.hint(a, b);
  // b's own initiations do not reach a (say b has an old address for it): only a's can.
  net.filter = [&](Node& from, ByteView f) { return !(&from == &b && f[1] == 0x01); };
  net.run_for(20 * kS);
  CHECK(b.table->stats().stale_timestamp >= 1);  // rejected while b still remembers a
  CHECK_FALSE(a.established_with(b));
  net.run_for(130 * kS);                         // b gives a up as gone, forgets its stamp
  CHECK(a.established_with(b));
  CHECK(b.established_with(a));
}

namespace {

PeerHint beacon_hint(Node& to, const std::string& password) {
  PeerHint h;
  h.endpoint = to.endpoint;
  h.key = to.pub();
  h.password = Str::of(password);
  h.from_beacon = true;
  return h;
}

}  // namespace

TEST_CASE("needs_psk: only a beacon's password towards a key without that psk needs Argon2id") {
  Net net;
  noise::LocalStaticKey b_key = node_key();
  Node& a = net.add(node_key());
  Node& b = net.add(b_key, with_password(b_key, "secret", ""), DiscoveredPeerPolicy::require_password);
  Node& c = net.add(node_key());
  const std::string secret = "secret", other = "other", none;

  CHECK(a.table->needs_psk(beacon_hint(b, secret)));
  CHECK_FALSE(a.table->needs_psk(beacon_hint(b, none)));  // the all-zero psk costs nothing
  PeerHint configured = beacon_hint(b, secret);
  configured.from_beacon = false;
  CHECK_FALSE(a.table->needs_psk(configured));  // configured peers derive at config time
  PeerHint own = beacon_hint(a, secret);
  CHECK_FALSE(a.table->needs_psk(own));  // refused by add_hint anyway
  PeerHint bad = beacon_hint(b, secret);
  bad.key.bytes[0] ^= 0xff;  // no longer a node key (fc00::/8) for any but a rare key
  if (!is_valid_node_key(bad.key)) CHECK_FALSE(a.table->needs_psk(bad));

  // Known by a beacon with that password: nothing more to derive; another password is.
  a.table->add_hint(&a.link, beacon_hint(b, secret), net.now_ns, a);
  CHECK(a.table->stats().psks_derived == 1);
  CHECK_FALSE(a.table->needs_psk(beacon_hint(b, secret)));
  CHECK(a.table->needs_psk(beacon_hint(b, other)));
  a.table->add_hint(&a.link, beacon_hint(b, secret), net.now_ns, a);
  CHECK(a.table->stats().psks_derived == 1);  // the same password again: no Argon2id

  // A configured neighbour's psk is the config's: a beacon never changes it.
  net.hint(a, c, "configured");
  CHECK(a.table->stats().psks_derived == 2);
  CHECK_FALSE(a.table->needs_psk(beacon_hint(c, other)));
}

TEST_CASE("add_hint with a precomputed psk: no Argon2id in the table, and the psk is the one used") {
  noise::LocalStaticKey b_key = node_key();
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(b_key, with_password(b_key, "secret", ""), DiscoveredPeerPolicy::require_password);
  const std::string secret = "secret";
  const PeerHint h = beacon_hint(b, secret);
  REQUIRE(a.table->needs_psk(h));

  SUBCASE("the right psk establishes") {
    noise::Psk psk;
    REQUIRE(noise::derive_psk(secret, b.pub(), &psk).ok());
    a.table->add_hint(&a.link, h, psk, net.now_ns, a);
    CHECK(a.table->stats().psks_derived == 0);
    CHECK_FALSE(a.table->needs_psk(h));  // remembered with its password
    net.run_for(2 * kS);
    CHECK(a.established_with(b));
    CHECK(b.established_with(a));
  }
  SUBCASE("the psk given is used as is: a wrong one fails the handshake") {
    noise::Psk wrong;
    wrong.bytes[0] = 1;
    a.table->add_hint(&a.link, h, wrong, net.now_ns, a);
    net.run_for(2 * kS);
    CHECK_FALSE(a.established_with(b));
    CHECK(a.table->stats().handshake_failed >= 1);
    CHECK(a.table->stats().psks_derived == 0);
  }
  SUBCASE("a neighbour configured meanwhile keeps its configured psk") {
    net.hint(a, b, "secret");  // configured: derives at once
    CHECK(a.table->stats().psks_derived == 1);
    noise::Psk wrong;
    wrong.bytes[0] = 1;
    a.table->add_hint(&a.link, h, wrong, net.now_ns, a);  // a late beacon result
    net.run_for(2 * kS);
    CHECK(a.established_with(b));
  }
}

namespace {

// Times (seconds since `start`) at which `from` sent an initiation, given frames it sent.
std::vector<double> initiation_times(const std::vector<std::uint64_t>& sent_ns, std::uint64_t start) {
  std::vector<double> out;
  for (std::uint64_t t : sent_ns) out.push_back(static_cast<double>(t - start) / kS);
  return out;
}

}  // namespace

TEST_CASE("handshake retry backoff: unanswered initiations double the retry up to the cap") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  std::vector<std::uint64_t> sent;  // a's initiations, by time
  bool deliver = false;
  net.filter = [&](Node& from, ByteView f) {
    if (&from == &a && f[1] == 0x01) sent.push_back(net.now_ns);
    return deliver;
  };
  const std::uint64_t start = net.now_ns;
  net.hint(a, b);  // configured; b never hears a while `deliver` is false
  net.run_for(200 * kS);
  // 0, then 5, 10, 20, 40 s later, then every 60 s (12 × the 5 s retry).
  std::string got_times;
  for (double t : initiation_times(sent, start)) got_times += std::to_string(t) + " ";
  INFO("initiations at " << got_times);
  CHECK(initiation_times(sent, start) == std::vector<double>{0, 5, 15, 35, 75, 135, 195});

  SUBCASE("an authenticated frame from the neighbour resets it at once") {
    // b initiates (configured on its side): its initiation reaches a, a's answers do not.
    net.filter = [&](Node& from, ByteView f) {
      if (&from == &a && f[1] == 0x01) sent.push_back(net.now_ns);
      return &from == &b;
    };
    sent.clear();
    const std::uint64_t now = net.now_ns;  // a's next initiation was due at 255 s
    net.hint(b, a);
    net.run_for(1 * kS);
    CHECK(b.table->stats().initiations_sent >= 1);
    CHECK(a.table->stats().responses_sent >= 1);
    // a may initiate again after the plain retry (195 + 5 s: already due), not at 255 s as
    // the backoff had it. (It still lets the session it answered settle first.)
    REQUIRE(a.peer(b) != nullptr);
    REQUIRE(a.peer(b)->paths.size() == 1);
    const Path& p = *a.peer(b)->paths[0];
    CHECK(p.unanswered_initiations == 0);
    CHECK(p.next_initiation_ns <= now);
    // With both ways open, they establish.
    net.filter = nullptr;
    net.run_for(6 * kS);
    CHECK(a.established_with(b));
  }
  SUBCASE("a hint resets it: the next initiation follows the plain retry") {
    sent.clear();
    const std::uint64_t now = net.now_ns;  // the last initiation was at 195 s, the next due at 255 s
    net.hint(a, b, {}, {}, /*from_beacon=*/true);  // b's beacon heard
    net.run_for(30 * kS);
    // Due at once (195 + 5 < 200), then 5, 10, 20 s apart again.
    CHECK(initiation_times(sent, now) == std::vector<double>{0, 5, 15});
  }
  SUBCASE("a path that had a session keeps the plain retry when the peer falls silent") {
    deliver = true;
    net.hint(b, a);
    net.run_for(1 * kS);
    REQUIRE(a.established_with(b));
    deliver = false;
    sent.clear();
    const std::uint64_t cut_at = net.now_ns;
    net.run_for(60 * kS);  // silence re-handshake at 15 s, then unresponsive: every 5 s
    const std::vector<double> times = initiation_times(sent, cut_at);
    REQUIRE(times.size() >= 8);
    for (std::size_t i = 1; i < times.size(); ++i) CHECK(times[i] - times[i - 1] == doctest::Approx(5.0));
    // … so a peer back after a cut is found within keepalive + retry, as before.
    deliver = true;
    net.run_for(6 * kS);
    CHECK(a.established_with(b));
  }
}

TEST_CASE("handshake retry backoff: crossed initiations still settle on one session") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.cut = true;
  net.hint(a, b);
  net.hint(b, a);
  net.run_for(100 * kS);  // both backed off to long retries
  net.cut = false;
  net.run_for(70 * kS);  // the next initiation of either side gets through
  CHECK(a.established_with(b));
  CHECK(b.established_with(a));
  CHECK(a.peer(b)->paths.size() == 1);
}

// ---- link metrics ----

namespace {

std::string link_name(const TestLink& link) { return std::string(link.name().data, link.name().size); }

LinkMetric metric_of(std::uint32_t cost) {
  LinkMetric m;
  m.cost = cost;
  m.radio.present = kRadioSignal | kRadioExpectedThroughput;
  m.radio.signal_dbm = -80;
  m.radio.expected_throughput_kbps = 6500;
  return m;
}

}  // namespace

TEST_CASE("a link metric adds to the path's cost, past the hysteresis only, and forgetting restores it") {
  Net net;  // 5 ms each way: an RTT cost of compute_cost(10, 0) = 20
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(30 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n->state == PeerState::established);
  const std::uint32_t rtt_cost = compute_cost(10, 0);
  REQUIRE(n->published_cost == rtt_cost);
  const std::size_t changes = a.count_events(b, PeerEvent::Kind::cost_changed);

  a.table->set_link_metric(1, link_name(a.link), b.endpoint, metric_of(100), a);
  CHECK(n->published_cost == rtt_cost + 100);
  CHECK(n->best->has_metric);
  CHECK(n->best->metric.radio.signal_dbm == -80);
  CHECK(n->best->quality.rtt_cost() == rtt_cost);
  CHECK(n->best->quality.metric_cost() == 100);
  REQUIRE(a.count_events(b, PeerEvent::Kind::cost_changed) == changes + 1);
  CHECK(a.events.back().cost == rtt_cost + 100);

  // A metric that wobbles within a fifth of the sum reaches nobody.
  a.table->set_link_metric(1, link_name(a.link), b.endpoint, metric_of(110), a);
  CHECK(n->published_cost == rtt_cost + 100);
  CHECK(a.count_events(b, PeerEvent::Kind::cost_changed) == changes + 1);
  CHECK(n->best->metric.cost == 110);  // shown as it is, though
  // The RTT keeps being measured under it.
  net.run_for(30 * kS);
  CHECK(n->published_cost == rtt_cost + 100);

  // A metric for another link or endpoint is not this path's.
  a.table->set_link_metric(1, link_name(a.link2), b.endpoint, metric_of(1000), a);
  a.table->set_link_metric(1, link_name(a.link), b.endpoint2, metric_of(1000), a);
  CHECK(n->published_cost == rtt_cost + 100);

  a.table->forget_link_metric(1, link_name(a.link), b.endpoint, a);
  CHECK(n->published_cost == rtt_cost);
  CHECK_FALSE(n->best->has_metric);
  CHECK(a.count_events(b, PeerEvent::Kind::cost_changed) == changes + 2);
  CHECK(a.events.back().cost == rtt_cost);
}

TEST_CASE("a metric reported before the neighbour appears applies when its path does") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  a.table->set_link_metric(1, link_name(a.link), b.endpoint, metric_of(300), a);
  CHECK(a.table->neighbours().empty());
  net.hint(a, b);
  net.run_for(30 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n != nullptr);
  REQUIRE(n->state == PeerState::established);
  CHECK(n->best->has_metric);
  // Established at the provisional cost (no RTT sample yet) plus the metric; the first
  // sample's +10 is within a fifth of that sum.
  CHECK(n->published_cost == compute_cost(0, 0) + 300);
  CHECK(n->best->quality.rtt_cost() == compute_cost(10, 0));
  // b knows nothing of it: metrics are per node.
  CHECK(b.peer(a)->published_cost == compute_cost(10, 0));

  // The source goes (the switch stops): every path it named is back to its own cost.
  a.table->forget_metric_source(1, a);
  CHECK(n->published_cost == compute_cost(10, 0));
  CHECK(a.table->link_metrics().empty());
}

TEST_CASE("a bad radio metric moves the neighbour to its other path; an infinite one rules a path out") {
  Net net;
  net.latency_ns = 2 * kNsPerMs;   // link: the shorter round trip
  net.latency2_ns = 20 * kNsPerMs;  // link2
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b, {}, {}, false, 0);
  net.hint(a, b, {}, {}, false, 1);
  net.run_for(30 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n->best != nullptr);
  REQUIRE(n->best->link == &a.link);
  const std::size_t switches = a.count_events(b, PeerEvent::Kind::best_path_changed);

  a.table->set_link_metric(7, link_name(a.link), b.endpoint, metric_of(200), a);
  CHECK(n->best->link == &a.link2);
  CHECK(n->published_cost == compute_cost(40, 0));
  CHECK(a.count_events(b, PeerEvent::Kind::best_path_changed) == switches + 1);

  a.table->set_link_metric(7, link_name(a.link2), b.endpoint2, metric_of(kInfiniteCost), a);
  CHECK(n->best->link == &a.link);  // the finite one, however bad
  CHECK(n->published_cost == compute_cost(4, 0) + 200);
  a.table->set_link_metric(7, link_name(a.link), b.endpoint, metric_of(kInfiniteCost), a);
  CHECK(n->published_cost == kInfiniteCost);
  CHECK(n->state == PeerState::established);  // still talking: only unusable for routes

  a.table->forget_metric_source(7, a);
  CHECK(n->best->link == &a.link);
  CHECK(n->published_cost == compute_cost(4, 0));
}

TEST_CASE("a source naming too many paths loses its oldest, and that path its metric") {
  Net net;
  Node& a = net.add(node_key());
  Node& b = net.add(node_key());
  net.hint(a, b);
  net.run_for(30 * kS);
  Neighbour* n = a.peer(b);
  REQUIRE(n->state == PeerState::established);
  a.table->set_link_metric(1, link_name(a.link), b.endpoint, metric_of(100), a);
  REQUIRE(n->published_cost == compute_cost(10, 0) + 100);
  for (std::size_t i = 1; i < LinkMetricStore::kMaxPerSource; ++i)
    a.table->set_link_metric(1, link_name(a.link), endpoint_named("absent" + std::to_string(i)), metric_of(5), a);
  CHECK(n->published_cost == compute_cost(10, 0) + 100);
  a.table->set_link_metric(1, link_name(a.link), endpoint_named("one too many"), metric_of(5), a);
  CHECK(n->published_cost == compute_cost(10, 0));
  CHECK_FALSE(n->best->has_metric);
  CHECK(a.table->link_metrics().count(1) == LinkMetricStore::kMaxPerSource);
}
