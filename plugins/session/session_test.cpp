// The session plugin on the in-memory mesh: three nodes in a chain (A – B – C) with FIBs
// set by hand, a directory per node, FakeHosts sharing one FakeLoop. What tun, iptunnel
// and third parties rely on when they call mh::Sessions.
#include "session.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/testing/fake_host.hpp>
#include <meshhost/testing/fake_loop.hpp>
#include <meshhost/testing/fake_mesh.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mh;
using namespace mh::session;
using mh::testing::AddressLess;
using mh::testing::FakeHost;
using mh::testing::FakeLoop;
using mh::testing::FakeMeshNetwork;

namespace {

constexpr std::uint64_t kS = 1'000'000'000;
constexpr std::uint16_t kProto = 0x8001;

bool same(const Address& a, const Address& b) { return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0; }
bool same(const PublicKey& a, const PublicKey& b) { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }

// The router's directory as a test fills it.
struct FakeDirectory final : Directory, Service {
  bool lookup_key(const Address& address, PublicKey* key) noexcept override {
    const auto it = keys.find(address);
    if (it == keys.end()) return false;
    *key = it->second;
    return true;
  }
  void* query(InterfaceId id) noexcept override {
    return id == kDirectoryInterface ? static_cast<Directory*>(this) : nullptr;
  }
  std::map<Address, PublicKey, AddressLess> keys;
};

struct Collector final : SessionReceiver {
  struct Got {
    SessionPeer from;
    std::string data;
  };
  void on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept override {
    ++batches;
    for (std::size_t i = 0; i < count; ++i) {
      got.push_back({from, std::string(reinterpret_cast<const char*>(packets[i]->data()), packets[i]->length)});
      packets[i]->release();
    }
  }
  void on_session_error(const SessionError& error) noexcept override { errors.push_back(error); }
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& g : got) out.push_back(g.data);
    return out;
  }
  std::vector<Got> got;
  std::vector<SessionError> errors;
  int batches = 0;
};

struct TestNode {
  TestNode(FakeLoop& loop, FakeMeshNetwork& net, SessionConfig config = {})
      : host(std::make_unique<FakeHost>("session", &loop)),
        mesh(net.add_node(host->public_key(), host->address())),
        config(config) {
    start();
  }
  ~TestNode() { stop(); }

  void start() {
    host->add_service("switch", &mesh);
    host->add_service("router", &directory);
    plugin = std::make_unique<SessionPlugin>(host.get(), config);
    REQUIRE(plugin->init().ok());
    REQUIRE(plugin->start().ok());
    auto* sessions = static_cast<Sessions*>(host->service("sessions")->query(kSessionsInterface));
    REQUIRE(sessions == plugin.get());
    REQUIRE(sessions->register_protocol(kProto, &rx).ok());
  }
  void stop() {
    if (!plugin) return;
    plugin->stop();
    plugin.reset();
  }
  // A restart with the same key: a new host (admin methods and services are per run), the
  // same identity, the same place in the mesh.
  void restart(FakeLoop& loop) {
    stop();
    const PrivateKey priv = host->identity().priv;
    host = std::make_unique<FakeHost>("session", &loop);
    host->set_identity(priv);
    rx = Collector{};
    start();
  }

  Packet* packet(const std::string& text) {
    Packet* p = plugin->pool()->acquire();
    REQUIRE(p != nullptr);
    CHECK(p->headroom() >= kSessionHeadroom);
    std::memcpy(p->append(static_cast<std::uint32_t>(text.size())), text.data(), text.size());
    return p;
  }
  std::size_t send_to(const TestNode& to, const std::string& text, std::uint16_t protocol = kProto) {
    Packet* p = packet(text);
    return plugin->send_to_address(to.host->address(), protocol, &p, 1);
  }
  std::uint64_t dropped(const std::string& reason) const {
    return host->counter_value("meshhost_session_dropped_total", {{"reason", reason}}).value_or(0);
  }

  std::unique_ptr<FakeHost> host;
  FakeMeshNetwork::Node& mesh;
  FakeDirectory directory;
  SessionConfig config;
  std::unique_ptr<SessionPlugin> plugin;
  Collector rx;
};

// A – B – C, every node knowing every key, routes both ways.
struct Chain {
  explicit Chain(SessionConfig config = {}) : a(loop, net, config), b(loop, net, config), c(loop, net, config) {
    net.connect(a.mesh, b.mesh);
    net.connect(b.mesh, c.mesh);
    route(a, c, b);
    route(a, b, b);
    route(b, a, a);
    route(b, c, c);
    route(c, a, b);
    route(c, b, b);
    for (TestNode* n : {&a, &b, &c})
      for (TestNode* m : {&a, &b, &c}) n->directory.keys[m->host->address()] = m->host->public_key();
  }
  void route(TestNode& at, TestNode& to, TestNode& via) {
    REQUIRE(at.mesh.set_route(to.host->address(), at.mesh.neighbour_id(via.mesh)).ok());
  }
  // Moves packets and fires due timers until nothing moves; then `ns` of time passes the
  // same way, a second at a time.
  void run(std::uint64_t ns = 0) {
    settle();
    for (std::uint64_t t = 0; t < ns; t += kS) {
      loop.advance(std::min<std::uint64_t>(kS, ns - t));
      settle();
    }
  }
  void settle() {
    for (int i = 0; i < 100; ++i) {
      const bool moved = net.deliver() != 0;
      const bool fired = loop.advance(0) != 0;
      if (!moved && !fired) return;
    }
  }
  FakeLoop loop;
  FakeMeshNetwork net;
  TestNode a, b, c;
};

}  // namespace

TEST_CASE("session plugin: the first packets establish a session across a hop and arrive in order") {
  Chain ch;
  CHECK(ch.a.send_to(ch.c, "one") == 1);
  CHECK(ch.a.send_to(ch.c, "two") == 1);
  CHECK(ch.a.send_to(ch.c, "three") == 1);
  ch.run();
  CHECK(ch.c.rx.texts() == std::vector<std::string>{"one", "two", "three"});
  REQUIRE(!ch.c.rx.got.empty());
  CHECK(same(ch.c.rx.got[0].from.key, ch.a.host->public_key()));
  CHECK(same(ch.c.rx.got[0].from.address, ch.a.host->address()));
  CHECK(ch.b.mesh.stats.forwarded > 0);  // it really went through B
  CHECK(ch.b.rx.got.empty());

  // Replies by key need no directory.
  ch.c.directory.keys.clear();
  Packet* p = ch.c.packet("reply");
  CHECK(ch.c.plugin->send_to_key(ch.a.host->public_key(), kProto, &p, 1) == 1);
  ch.run();
  CHECK(ch.a.rx.texts() == std::vector<std::string>{"reply"});
  CHECK(ch.a.host->gauge_value("meshhost_session_sessions") == 1);
  CHECK(ch.a.host->counter_value("meshhost_session_handshakes_total", {{"result", "established"}}) == 1);
  CHECK(ch.c.host->counter_value("meshhost_session_handshakes_total", {{"result", "response_sent"}}) == 1);
  CHECK(ch.a.host->counter_value("meshhost_session_packets_total", {{"direction", "out"}}) == 3);
}

TEST_CASE("session plugin: several packets in one send arrive in order") {
  Chain ch;
  ch.a.send_to(ch.c, "warm up");
  ch.run();
  Packet* batch[] = {ch.a.packet("x"), ch.a.packet("y"), ch.a.packet("z")};
  CHECK(ch.a.plugin->send_to_address(ch.c.host->address(), kProto, batch, 3) == 3);
  ch.run();
  CHECK(ch.c.rx.texts() == std::vector<std::string>{"warm up", "x", "y", "z"});
}

TEST_CASE("session plugin: no key for an address is no_route, told on a later turn of the loop") {
  Chain ch;
  const KeyPair stranger = generate_node_key();
  Packet* p = ch.a.packet("nowhere");
  CHECK(ch.a.plugin->send_to_address(stranger.addr, kProto, &p, 1) == 0);
  CHECK(ch.a.rx.errors.empty());  // not inside send
  ch.run();
  REQUIRE(ch.a.rx.errors.size() == 1);
  CHECK(ch.a.rx.errors[0].kind == SessionError::Kind::no_route);
  CHECK(same(ch.a.rx.errors[0].destination, stranger.addr));
  CHECK(ch.a.rx.errors[0].protocol == kProto);
  CHECK(ch.a.dropped("no_route") == 1);
  CHECK(dynamic_cast<FixedPacketPool*>(ch.a.plugin->pool())->in_use() == 0);
}

TEST_CASE("session plugin: a key with no route gives the mesh's no_route, then unreachable when the handshake gives up") {
  Chain ch;
  const KeyPair stranger = generate_node_key();
  ch.a.directory.keys[stranger.addr] = stranger.pub;  // known, but no FIB entry anywhere
  CHECK(ch.a.send_to(ch.c, "fine") == 1);
  Packet* p = ch.a.packet("lost");
  CHECK(ch.a.plugin->send_to_address(stranger.addr, kProto, &p, 1) == 1);  // queued
  ch.run();
  REQUIRE(!ch.a.rx.errors.empty());
  CHECK(ch.a.rx.errors[0].kind == SessionError::Kind::no_route);
  ch.a.rx.errors.clear();
  ch.run(25 * kS);
  bool unreachable = false;
  for (const auto& e : ch.a.rx.errors)
    unreachable = unreachable || (e.kind == SessionError::Kind::unreachable && same(e.destination, stranger.addr));
  CHECK(unreachable);
  CHECK(ch.a.dropped("unreachable") == 1);
  CHECK(ch.a.host->counter_value("meshhost_session_handshakes_total", {{"result", "timed_out"}}) == 1);
}

TEST_CASE("session plugin: too big from the mesh is reported less the session overhead; max_payload likewise") {
  Chain ch;
  ch.a.send_to(ch.c, "hello");
  ch.run();
  CHECK(ch.a.plugin->max_payload(ch.c.host->address()) == kMeshMinPayload - kTransportOverhead);
  ch.b.mesh.mtu = 1000;
  ch.a.rx.errors.clear();
  CHECK(ch.a.send_to(ch.c, std::string(1100, 'x')) == 1);
  ch.run();
  REQUIRE(ch.a.rx.errors.size() == 1);
  CHECK(ch.a.rx.errors[0].kind == SessionError::Kind::too_big);
  CHECK(ch.a.rx.errors[0].mtu == 1000 - kTransportOverhead);
  CHECK(ch.a.rx.errors[0].protocol == kProto);
}

TEST_CASE("session plugin: a protocol nobody registered at the far end is dropped there and reported back") {
  Chain ch;
  ch.a.send_to(ch.c, "to nobody", 0x9000);
  ch.run();
  CHECK(ch.c.dropped("no_receiver") == 1);
  // A has no receiver for 0x9000 either, so register one to hear the error.
  Collector other;
  REQUIRE(ch.a.plugin->register_protocol(0x9000, &other).ok());
  CHECK(ch.a.plugin->register_protocol(0x9000, &other).code == StatusCode::already_exists);
  ch.a.send_to(ch.c, "again", 0x9000);
  ch.run(2 * kS);
  ch.a.send_to(ch.c, "and again", 0x9000);
  ch.run();
  bool heard = false;
  for (const auto& e : other.errors) heard = heard || (e.kind == SessionError::Kind::no_receiver && e.protocol == 0x9000);
  CHECK(heard);
  ch.a.plugin->unregister_protocol(0x9000);
}

TEST_CASE("session plugin: both ends sending first at once end with one session") {
  Chain ch;
  ch.a.send_to(ch.c, "from a");
  ch.c.send_to(ch.a, "from c");
  ch.run(3 * kS);
  CHECK(ch.c.rx.texts() == std::vector<std::string>{"from a"});
  CHECK(ch.a.rx.texts() == std::vector<std::string>{"from c"});
  const Remote* ra = ch.a.plugin->table().find(ch.c.host->public_key());
  const Remote* rc = ch.c.plugin->table().find(ch.a.host->public_key());
  REQUIRE(ra != nullptr);
  REQUIRE(rc != nullptr);
  CHECK(ra->current.remote_index == rc->current.local_index);
  CHECK(rc->current.remote_index == ra->current.local_index);
  CHECK(ch.a.dropped("collision_lost") + ch.c.dropped("collision_lost") == 1);
}

TEST_CASE("session plugin: a restarted node (same key) is reached again") {
  Chain ch;
  ch.a.send_to(ch.c, "before");
  ch.run();
  REQUIRE(ch.c.rx.texts() == std::vector<std::string>{"before"});
  ch.c.restart(ch.loop);
  ch.run(kS);
  SUBCASE("the restarted node speaks first") {
    ch.c.send_to(ch.a, "back");
    ch.run();
    CHECK(ch.a.rx.texts() == std::vector<std::string>{"back"});
    ch.a.send_to(ch.c, "welcome");
    ch.run();
    CHECK(ch.c.rx.texts() == std::vector<std::string>{"welcome"});
  }
  SUBCASE("only the other node sends: it notices the silence and re-handshakes") {
    for (int i = 0; i < 20; ++i) {
      ch.a.send_to(ch.c, "ping");
      ch.run(kS);
    }
    CHECK(ch.c.rx.got.size() >= 3);  // all of them after the re-handshake
    CHECK(ch.a.host->counter_value("meshhost_session_handshakes_total", {{"result", "initiation_sent"}}) == 2);
  }
}

TEST_CASE("session plugin: idle sessions expire") {
  SessionConfig config;
  config.timers.idle_timeout_ns = 30 * kS;
  Chain ch(config);
  ch.a.send_to(ch.c, "hi");
  ch.run();
  CHECK(ch.a.plugin->table().remotes().size() == 1);
  ch.run(31 * kS);
  CHECK(ch.a.plugin->table().remotes().empty());
  CHECK(ch.c.plugin->table().remotes().empty());
  CHECK(ch.a.host->gauge_value("meshhost_session_sessions") == 0);
}

TEST_CASE("session plugin: session.list has the shape meshctl reads") {
  Chain ch;
  ch.a.send_to(ch.c, "12345");
  ch.run(2 * kS);
  auto [status, text] = ch.a.host->call_admin("session.list");
  REQUIRE(status.ok());
  const auto list = nlohmann::json::parse(text);
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 1);
  const auto& s = list[0];
  CHECK(s["address"] == format_address(ch.c.host->address()));
  CHECK(s["publicKey"] == format_public_key(ch.c.host->public_key()));
  CHECK(s["state"] == "established");
  CHECK(s["role"] == "initiator");
  CHECK(s["ageSeconds"].get<double>() == doctest::Approx(2.0));
  CHECK(s["idleSeconds"].get<double>() == doctest::Approx(2.0));
  CHECK(s["packetsOut"] == 1);
  CHECK(s["packetsIn"] == 0);
  CHECK(s["bytesOut"] == 5);
  CHECK(s["bytesIn"] == 0);
  CHECK(s["queued"] == 0);
  CHECK(s.size() == 11);

  auto [cs, ctext] = ch.c.host->call_admin("session.list");
  const auto clist = nlohmann::json::parse(ctext);
  REQUIRE(clist.size() == 1);
  CHECK(clist[0]["role"] == "responder");
  CHECK(clist[0]["packetsIn"] == 1);
}

TEST_CASE("session plugin: a handshaking session shows as such, with its queue") {
  Chain ch;
  ch.a.send_to(ch.c, "q1");
  ch.a.send_to(ch.c, "q2");
  auto [status, text] = ch.a.host->call_admin("session.list");
  const auto list = nlohmann::json::parse(text);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["state"] == "handshaking");
  CHECK(list[0]["role"] == "initiator");
  CHECK(list[0]["queued"] == 2);
  ch.run();
}

TEST_CASE("session plugin: the queue bound holds per remote") {
  SessionConfig config;
  config.limits.queue_length = 3;
  Chain ch(config);
  for (int i = 0; i < 8; ++i) ch.a.send_to(ch.c, std::to_string(i));
  ch.run();
  CHECK(ch.c.rx.texts() == std::vector<std::string>{"5", "6", "7"});
  CHECK(ch.a.dropped("queue_full") == 5);
}

TEST_CASE("session plugin: stop gives every queued packet back") {
  Chain ch;
  const KeyPair stranger = generate_node_key();
  ch.a.directory.keys[stranger.addr] = stranger.pub;
  auto* pool = dynamic_cast<FixedPacketPool*>(ch.a.plugin->pool());
  REQUIRE(pool != nullptr);
  Packet* p[] = {ch.a.packet("1"), ch.a.packet("2")};
  ch.a.plugin->send_to_address(stranger.addr, kProto, p, 2);
  CHECK(pool->in_use() == 2);
  ch.a.plugin->stop();
  CHECK(pool->in_use() == 0);
  ch.a.plugin->start();
}

TEST_CASE("session plugin: a receiver may unregister itself while it hears a mesh error") {
  Chain ch;
  struct Quitter final : SessionReceiver {
    void on_session_receive(const SessionPeer&, Packet* const* packets, std::size_t count) noexcept override {
      for (std::size_t i = 0; i < count; ++i) packets[i]->release();
    }
    void on_session_error(const SessionError&) noexcept override {
      ++errors;
      sessions->unregister_protocol(protocol);
    }
    Sessions* sessions = nullptr;
    std::uint16_t protocol = 0;
    int errors = 0;
  } first, second;
  first.sessions = second.sessions = ch.a.plugin.get();
  first.protocol = 0x9001;
  second.protocol = 0x9002;
  REQUIRE(ch.a.plugin->register_protocol(0x9001, &first).ok());
  REQUIRE(ch.a.plugin->register_protocol(0x9002, &second).ok());
  const KeyPair stranger = generate_node_key();
  ch.a.directory.keys[stranger.addr] = stranger.pub;  // a key, but no route: the mesh says so
  Packet* p = ch.a.packet("x");
  ch.a.plugin->send_to_address(stranger.addr, kProto, &p, 1);
  ch.run();
  CHECK(first.errors == 1);
  CHECK(second.errors == 1);
  CHECK(ch.a.rx.errors.size() == 1);
  // Both gone: a second error reaches only the test's own receiver.
  Packet* q = ch.a.packet("y");
  ch.a.plugin->send_to_address(stranger.addr, kProto, &q, 1);
  ch.run(2 * kS);
  CHECK(first.errors == 1);
  CHECK(second.errors == 1);
}
