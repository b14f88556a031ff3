// The session plugin over the real switch (not the in-memory mesh): three switches joined
// 1 —a— 2 —b— 3 by LoopbackLinks, sessions on nodes 1 and 3. What the fake cannot show:
// the mesh header, the e2e offset on a `hopEncryption: headers` link, and the overhead of
// every layer leaving room for a 1280-byte packet.
#include "session.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/testing/fake_host.hpp>
#include <meshhost/testing/fake_loop.hpp>
#include <meshhost/testing/loopback_link.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mh;
using mh::testing::FakeHost;
using mh::testing::FakeLoop;
using mh::testing::LoopbackLink;

namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint16_t kProto = 0x8001;

bool same(const PublicKey& a, const PublicKey& b) { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }

struct Neighbours final : NeighbourObserver {
  void on_neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t) noexcept override { ids.emplace_back(key, id); }
  void on_neighbour_cost(NeighbourId, std::uint32_t) noexcept override {}
  void on_neighbour_down(NeighbourId) noexcept override {}
  NeighbourId id_of(const PublicKey& key) const {
    for (const auto& [k, id] : ids)
      if (same(k, key)) return id;
    return kNoNeighbour;
  }
  std::vector<std::pair<PublicKey, NeighbourId>> ids;
};

struct KeyDirectory final : Directory, Service {
  bool lookup_key(const Address& address, PublicKey* key) noexcept override {
    for (const auto& [a, k] : keys)
      if (std::memcmp(a.bytes, address.bytes, kAddressSize) == 0) {
        *key = k;
        return true;
      }
    return false;
  }
  void* query(InterfaceId id) noexcept override { return id == kDirectoryInterface ? static_cast<Directory*>(this) : nullptr; }
  std::vector<std::pair<Address, PublicKey>> keys;
};

struct Collector final : SessionReceiver {
  void on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) {
      froms.push_back(from.key);
      got.emplace_back(reinterpret_cast<const char*>(packets[i]->data()), packets[i]->length);
      packets[i]->release();
    }
  }
  void on_session_error(const SessionError& e) noexcept override { errors.push_back(e); }
  std::vector<std::string> got;
  std::vector<PublicKey> froms;
  std::vector<SessionError> errors;
};

// A node: its switch (created through the switch library's descriptor) and, optionally,
// a session plugin on a second FakeHost with the same identity.
struct Node {
  explicit Node(FakeLoop& loop) : loop(loop), switch_host("switch", &loop) {}
  ~Node() {
    if (session) {
      session->stop();
      session.reset();
    }
    if (sw != nullptr) {
      mesh->set_neighbour_observer(nullptr);
      sw->stop();
      meshhost_plugin_v1()->destroy(sw);
    }
  }
  void start_switch() {
    REQUIRE(meshhost_plugin_v1()->create(&switch_host, "{}", &sw).ok());
    REQUIRE(sw->start().ok());
    mesh = static_cast<Mesh*>(switch_host.service("switch")->query(kMeshInterface));
    REQUIRE(mesh != nullptr);
    mesh->set_neighbour_observer(&neighbours);
  }
  void start_session() {
    session_host = std::make_unique<FakeHost>("session", &loop);
    session_host->set_identity(switch_host.identity().priv);
    session_host->add_service("switch", switch_host.service("switch"));
    session_host->add_service("router", &directory);
    session = std::make_unique<session::SessionPlugin>(session_host.get(), session::SessionConfig{});
    REQUIRE(session->init().ok());
    REQUIRE(session->start().ok());
    REQUIRE(session->register_protocol(kProto, &rx).ok());
  }
  FakeLoop& loop;
  FakeHost switch_host;
  Plugin* sw = nullptr;
  Mesh* mesh = nullptr;
  Neighbours neighbours;
  std::unique_ptr<FakeHost> session_host;
  KeyDirectory directory;
  std::unique_ptr<session::SessionPlugin> session;
  Collector rx;
};

struct Chain {
  explicit Chain(HopEncryption b_mode)
      : a1(loop, "a1"), a2(loop, "a2"), b2(loop, "b2", {.hop_encryption = b_mode}), b3(loop, "b3", {.hop_encryption = b_mode}) {
    LoopbackLink::connect(a1, a2);
    LoopbackLink::connect(b2, b3);
    n1.switch_host.add_service("link.a", &a1);
    n2.switch_host.add_service("link.a", &a2);
    n2.switch_host.add_service("link.b", &b2);
    n3.switch_host.add_service("link.b", &b3);
    a1.add_peer_hint(n2.switch_host.public_key());
    b2.add_peer_hint(n3.switch_host.public_key());
    for (Node* n : {&n1, &n2, &n3}) n->start_switch();
    run(500 * kMs);
    const PublicKey k1 = n1.switch_host.public_key(), k2 = n2.switch_host.public_key(), k3 = n3.switch_host.public_key();
    REQUIRE(n1.mesh->set_route(n3.switch_host.address(), n1.neighbours.id_of(k2)).ok());
    REQUIRE(n2.mesh->set_route(n3.switch_host.address(), n2.neighbours.id_of(k3)).ok());
    REQUIRE(n2.mesh->set_route(n1.switch_host.address(), n2.neighbours.id_of(k1)).ok());
    REQUIRE(n3.mesh->set_route(n1.switch_host.address(), n3.neighbours.id_of(k2)).ok());
    n1.directory.keys.emplace_back(n3.switch_host.address(), k3);
    n3.directory.keys.emplace_back(n1.switch_host.address(), k1);
    n1.start_session();
    n3.start_session();
  }
  void run(std::uint64_t duration_ns) {
    const std::uint64_t end = loop.now_ns() + duration_ns;
    while (loop.now_ns() < end) {
      loop.run_pending();
      loop.advance(1 * kMs);
    }
    loop.run_pending();
  }
  std::size_t send(Node& from, Node& to, const std::string& text) {
    Packet* p = from.session->pool()->acquire();
    REQUIRE(p != nullptr);
    std::memcpy(p->append(static_cast<std::uint32_t>(text.size())), text.data(), text.size());
    return from.session->send_to_address(to.switch_host.address(), kProto, &p, 1);
  }
  FakeLoop loop;
  // Links before nodes: a node's switch stops (and leaves its links) before they go.
  LoopbackLink a1, a2, b2, b3;
  Node n1{loop}, n2{loop}, n3{loop};
};

}  // namespace

TEST_CASE("session over the switch: 1280-byte packets cross two hops, one of them hopEncryption headers") {
  for (HopEncryption mode : {HopEncryption::full, HopEncryption::headers}) {
    CAPTURE(static_cast<int>(mode));
    Chain c(mode);
    CHECK(c.n1.session->max_payload(c.n3.switch_host.address()) >= 1280);
    const std::string big(1280, 'm');
    for (int i = 0; i < 5; ++i) CHECK(c.send(c.n1, c.n3, big + std::to_string(i)) == 1);
    c.run(200 * kMs);
    REQUIRE(c.n3.rx.got.size() == 5);
    for (int i = 0; i < 5; ++i) CHECK(c.n3.rx.got[i] == big + std::to_string(i));
    CHECK(same(c.n3.rx.froms[0], c.n1.switch_host.public_key()));
    CHECK(c.n3.rx.errors.empty());
    CHECK(c.n1.rx.errors.empty());

    // And back by key, at the largest payload the path takes.
    const std::uint32_t max = c.n3.session->max_payload(c.n1.switch_host.address());
    Packet* p = c.n3.session->pool()->acquire();
    std::memset(p->append(max), 'r', max);
    CHECK(c.n3.session->send_to_key(c.n1.switch_host.public_key(), kProto, &p, 1) == 1);
    c.run(50 * kMs);
    REQUIRE(c.n1.rx.got.size() == 1);
    CHECK(c.n1.rx.got[0].size() == max);
    CHECK(c.n1.session_host->counter_value("meshhost_session_dropped_total", {{"reason", "send_failed"}}).value_or(0) == 0);
  }
}
