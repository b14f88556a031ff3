// The switch plugin as the mesh layer: three switches on FakeHosts sharing one FakeLoop,
// joined in a chain 1 — 2 — 3 by LoopbackLinks, forwarding what plugins send through
// mh::Mesh, reporting errors back to the source, and answering ping and traceroute.
#include "switch.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/testing/fake_host.hpp>
#include <meshhost/testing/fake_loop.hpp>
#include <meshhost/testing/loopback_link.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace mh;
using mh::testing::FakeHost;
using mh::testing::FakeLoop;
using mh::testing::LoopbackLink;

namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint16_t kTestProtocol = 0x8001;

struct Receiver final : MeshReceiver {
  std::vector<MeshInfo> infos;
  std::vector<std::string> payloads;
  std::vector<MeshError> errors;
  std::size_t batches = 0;
  void on_mesh_receive(const MeshInfo* i, Packet* const* packets, std::size_t count) noexcept override {
    ++batches;
    for (std::size_t k = 0; k < count; ++k) {
      infos.push_back(i[k]);
      payloads.emplace_back(reinterpret_cast<const char*>(packets[k]->data()), packets[k]->length);
      packets[k]->release();
    }
  }
  void on_mesh_error(const MeshError& e) noexcept override { errors.push_back(e); }
};

struct Observer final : NeighbourObserver {
  struct Up {
    NeighbourId id;
    PublicKey key;
    std::uint32_t cost;
  };
  std::vector<Up> ups;
  std::vector<NeighbourId> downs;
  std::vector<std::pair<NeighbourId, std::uint32_t>> costs;
  void on_neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t cost) noexcept override {
    ups.push_back({id, key, cost});
  }
  void on_neighbour_cost(NeighbourId id, std::uint32_t cost) noexcept override { costs.emplace_back(id, cost); }
  void on_neighbour_down(NeighbourId id) noexcept override { downs.push_back(id); }
  // The id of the neighbour with `key` that is up now (kNoNeighbour if none).
  NeighbourId id_of(const PublicKey& key) const {
    NeighbourId found = kNoNeighbour;
    for (const auto& u : ups)
      if (std::memcmp(u.key.bytes, key.bytes, kPublicKeySize) == 0) found = u.id;
    for (NeighbourId d : downs)
      if (d == found) found = kNoNeighbour;
    return found;
  }
};

struct Node {
  explicit Node(FakeLoop& loop) : host("switch", &loop) {}
  ~Node() {
    if (plugin != nullptr) {
      if (mesh != nullptr) mesh->set_neighbour_observer(nullptr);
      plugin->stop();
      meshhost_plugin_v1()->destroy(plugin);
    }
  }
  void start(const std::string& config = "{}") {
    REQUIRE(meshhost_plugin_v1()->create(&host, Str::of(config), &plugin).ok());
    REQUIRE(plugin->start().ok());
    Service* service = host.service("switch");
    REQUIRE(service != nullptr);
    mesh = static_cast<Mesh*>(service->query(kMeshInterface));
    REQUIRE(mesh != nullptr);
    mesh->set_neighbour_observer(&observer);
    REQUIRE(mesh->register_protocol(kTestProtocol, &receiver).ok());
  }
  Address address() const { return host.address(); }
  std::uint64_t counter(const std::string& name, const FakeHost::Labels& labels = {}) const {
    return host.counter_value(name, labels).value_or(0);
  }

  FakeHost host;
  Plugin* plugin = nullptr;
  Mesh* mesh = nullptr;
  Observer observer;
  Receiver receiver;
};

// 1 —a— 2 —b— 3. Node 1 configures node 2 as its peer, node 2 configures node 3.
struct Chain {
  explicit Chain(LoopbackLink::Options a_options = {}, LoopbackLink::Options b_options = {})
      : a1(loop, "a1", a_options), a2(loop, "a2", a_options), b2(loop, "b2", b_options), b3(loop, "b3", b_options) {
    LoopbackLink::connect(a1, a2);
    LoopbackLink::connect(b2, b3);
    n1.host.add_service("link.a", &a1);
    n2.host.add_service("link.a", &a2);
    n2.host.add_service("link.b", &b2);
    n3.host.add_service("link.b", &b3);
    a1.add_peer_hint(n2.host.public_key());
    b2.add_peer_hint(n3.host.public_key());
    n1.start();
    n2.start();
    n3.start();
    run(500 * kMs);
    REQUIRE(n1.observer.id_of(n2.host.public_key()) != kNoNeighbour);
    REQUIRE(n2.observer.id_of(n1.host.public_key()) != kNoNeighbour);
    REQUIRE(n2.observer.id_of(n3.host.public_key()) != kNoNeighbour);
    REQUIRE(n3.observer.id_of(n2.host.public_key()) != kNoNeighbour);
  }
  // Installs routes both ways along the chain.
  void route_all() {
    REQUIRE(n1.mesh->set_route(n3.address(), n1.observer.id_of(n2.host.public_key())).ok());
    REQUIRE(n1.mesh->set_route(n2.address(), n1.observer.id_of(n2.host.public_key())).ok());
    REQUIRE(n2.mesh->set_route(n3.address(), n2.observer.id_of(n3.host.public_key())).ok());
    REQUIRE(n2.mesh->set_route(n1.address(), n2.observer.id_of(n1.host.public_key())).ok());
    REQUIRE(n3.mesh->set_route(n1.address(), n3.observer.id_of(n2.host.public_key())).ok());
    REQUIRE(n3.mesh->set_route(n2.address(), n3.observer.id_of(n2.host.public_key())).ok());
  }
  // Moves packets and time: every posted task, then 1 ms, until `duration` passed.
  void run(std::uint64_t duration_ns) {
    const std::uint64_t end = loop.now_ns() + duration_ns;
    while (loop.now_ns() < end) {
      loop.run_pending();
      loop.advance(1 * kMs);
    }
    loop.run_pending();
  }
  std::size_t send(Node& from, const Address& to, const std::string& payload, std::uint8_t hop_limit = kDefaultHopLimit,
                   std::uint16_t protocol = kTestProtocol, std::uint16_t e2e_offset = kNoEndToEnd) {
    Packet* p = from.mesh->pool()->acquire();
    REQUIRE(p != nullptr);
    CHECK(p->headroom() >= kMeshHeadroom);
    std::memcpy(p->append(static_cast<std::uint32_t>(payload.size())), payload.data(), payload.size());
    MeshSend s;
    s.destination = to;
    s.protocol = protocol;
    s.hop_limit = hop_limit;
    s.e2e_offset = e2e_offset;
    return from.mesh->send(&s, &p, 1);
  }
  nlohmann::json admin(Node& node, const std::string& method, const std::string& params) {
    const auto result = node.host.call_admin(method, params);  // no structured binding: INFO captures it
    INFO(method << " " << params << ": " << std::string(result.first.message.data, result.first.message.size));
    REQUIRE(result.first.ok());
    return nlohmann::json::parse(result.second);
  }

  // Links before nodes: the switches stop (and let go of the links) before the links die.
  FakeLoop loop;
  LoopbackLink a1, a2, b2, b3;
  Node n1{loop}, n2{loop}, n3{loop};
};

bool same(const Address& a, const Address& b) { return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0; }

}  // namespace

TEST_CASE("a packet from node 1 reaches node 3's receiver through node 2") {
  Chain c;
  c.route_all();
  CHECK(c.send(c.n1, c.n3.address(), "hello three") == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 1);
  CHECK(c.n3.receiver.payloads[0] == "hello three");
  const MeshInfo& info = c.n3.receiver.infos[0];
  CHECK(same(info.source, c.n1.address()));
  CHECK(same(info.destination, c.n3.address()));
  CHECK(info.protocol == kTestProtocol);
  CHECK(info.hop_limit == kDefaultHopLimit - 1);  // node 2 took one
  CHECK(info.from == c.n3.observer.id_of(c.n2.host.public_key()));
  CHECK(c.n2.receiver.payloads.empty());
  CHECK(c.n2.counter("meshhost_switch_forwarded_total") == 1);
  CHECK(c.n3.counter("meshhost_switch_delivered_total") == 1);
}

TEST_CASE("a batch of packets arrives as one batch and nothing leaks from the pools") {
  Chain c;
  c.route_all();
  Packet* packets[10];
  MeshSend sends[10];
  for (int i = 0; i < 10; ++i) {
    packets[i] = c.n1.mesh->pool()->acquire();
    const std::string text = "packet " + std::to_string(i);
    std::memcpy(packets[i]->append(static_cast<std::uint32_t>(text.size())), text.data(), text.size());
    sends[i].destination = c.n3.address();
    sends[i].protocol = kTestProtocol;
  }
  CHECK(c.n1.mesh->send(sends, packets, 10) == 10);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 10);
  CHECK(c.n3.receiver.payloads[9] == "packet 9");
  CHECK(c.n3.receiver.batches == 1);
  CHECK(c.a1.fixed_pool().in_use() == 0);
  CHECK(c.a2.fixed_pool().in_use() == 0);
  CHECK(c.b3.fixed_pool().in_use() == 0);
}

TEST_CASE("hop limit exceeded on the way is reported to the sender's receiver") {
  Chain c;
  c.route_all();
  CHECK(c.send(c.n1, c.n3.address(), "short lived", 1) == 1);
  c.run(10 * kMs);
  CHECK(c.n3.receiver.payloads.empty());
  REQUIRE(c.n1.receiver.errors.size() == 1);
  const MeshError& e = c.n1.receiver.errors[0];
  CHECK(e.kind == MeshError::Kind::hop_limit_exceeded);
  CHECK(same(e.reporter, c.n2.address()));
  CHECK(same(e.destination, c.n3.address()));
  CHECK(e.protocol == kTestProtocol);
  CHECK(c.n2.counter("meshhost_switch_dropped_total", {{"reason", "hop_limit_exceeded"}}) == 1);
  CHECK(c.n2.counter("meshhost_switch_errors_sent_total") == 1);
}

TEST_CASE("no route on the way is reported by the node that had none; locally at once") {
  Chain c;
  c.route_all();
  c.n2.mesh->remove_route(c.n3.address());
  CHECK(c.send(c.n1, c.n3.address(), "lost") == 1);
  c.run(10 * kMs);
  REQUIRE(c.n1.receiver.errors.size() == 1);
  CHECK(c.n1.receiver.errors[0].kind == MeshError::Kind::no_route);
  CHECK(same(c.n1.receiver.errors[0].reporter, c.n2.address()));
  CHECK(c.n2.counter("meshhost_switch_dropped_total", {{"reason", "no_route"}}) == 1);

  // Node 1 itself without a route: dropped, reported on a later turn of the loop.
  Address nowhere = c.n3.address();
  nowhere.bytes[15] ^= 1;
  CHECK(c.send(c.n1, nowhere, "nowhere") == 0);
  CHECK(c.n1.receiver.errors.size() == 1);
  c.loop.run_pending();
  REQUIRE(c.n1.receiver.errors.size() == 2);
  CHECK(c.n1.receiver.errors[1].kind == MeshError::Kind::no_route);
  CHECK(same(c.n1.receiver.errors[1].reporter, c.n1.address()));
  CHECK(c.n1.mesh->max_payload(nowhere) == kMeshMinPayload);
}

TEST_CASE("errors about packets whose source has no route back are dropped silently") {
  Chain c;
  c.route_all();
  c.n2.mesh->remove_route(c.n1.address());
  c.n2.mesh->remove_route(c.n3.address());
  CHECK(c.send(c.n1, c.n3.address(), "lost") == 1);
  c.run(10 * kMs);
  CHECK(c.n1.receiver.errors.empty());
  CHECK(c.n2.counter("meshhost_switch_errors_sent_total") == 0);
}

TEST_CASE("a protocol nobody registered is reported as unreachable") {
  Chain c;
  c.route_all();
  CHECK(c.send(c.n1, c.n3.address(), "to whom", kDefaultHopLimit, 0x8002) == 1);
  c.run(10 * kMs);
  CHECK(c.n3.counter("meshhost_switch_dropped_total", {{"reason", "no_receiver"}}) == 1);
  // The error goes to node 1's receiver for 0x8002: there is none, so register one first.
  Receiver other;
  REQUIRE(c.n1.mesh->register_protocol(0x8002, &other).ok());
  CHECK(c.send(c.n1, c.n3.address(), "to whom", kDefaultHopLimit, 0x8002) == 1);
  c.run(10 * kMs);
  REQUIRE(other.errors.size() == 1);
  CHECK(other.errors[0].kind == MeshError::Kind::unreachable_protocol);
  CHECK(same(other.errors[0].reporter, c.n3.address()));
  c.n1.mesh->unregister_protocol(0x8002);
}

TEST_CASE("too big for the next link: reported with the payload that fits") {
  LoopbackLink::Options small;
  small.mtu = 600;
  Chain c({}, small);
  c.route_all();
  CHECK(c.n2.mesh->max_payload(c.n3.address()) == 600 - 33 - 40);
  CHECK(c.n1.mesh->max_payload(c.n3.address()) == 1500 - 33 - 40);
  CHECK(c.send(c.n1, c.n3.address(), std::string(1000, 'x')) == 1);
  c.run(10 * kMs);
  CHECK(c.n3.receiver.payloads.empty());
  REQUIRE(c.n1.receiver.errors.size() == 1);
  CHECK(c.n1.receiver.errors[0].kind == MeshError::Kind::too_big);
  CHECK(c.n1.receiver.errors[0].mtu == 600 - 33 - 40);
  CHECK(same(c.n1.receiver.errors[0].reporter, c.n2.address()));
  CHECK(c.send(c.n1, c.n3.address(), std::string(600 - 33 - 40, 'y')) == 1);
  c.run(10 * kMs);
  CHECK(c.n3.receiver.payloads.size() == 1);
}

TEST_CASE("errors are rate-limited per node") {
  Chain c;
  c.route_all();
  c.n2.mesh->remove_route(c.n3.address());
  for (int i = 0; i < 30; ++i) c.send(c.n1, c.n3.address(), "x");
  c.run(5 * kMs);
  CHECK(c.n1.receiver.errors.size() == 20);  // the burst
  CHECK(c.n2.counter("meshhost_switch_dropped_total", {{"reason", "no_route"}}) == 30);
  c.run(1000 * kMs);
  for (int i = 0; i < 30; ++i) c.send(c.n1, c.n3.address(), "x");
  c.run(5 * kMs);
  CHECK(c.n1.receiver.errors.size() == 30);  // ten more a second
}

TEST_CASE("a packet to this node's own address is delivered on a later turn") {
  Chain c;
  CHECK(c.send(c.n1, c.n1.address(), "self") == 1);
  CHECK(c.n1.receiver.payloads.empty());
  c.loop.run_pending();
  REQUIRE(c.n1.receiver.payloads.size() == 1);
  CHECK(c.n1.receiver.payloads[0] == "self");
  CHECK(same(c.n1.receiver.infos[0].source, c.n1.address()));
}

TEST_CASE("send_to_neighbour needs no route and arrives with hop limit 1") {
  Chain c;
  Packet* p = c.n2.mesh->pool()->acquire();
  std::memcpy(p->append(5), "hello", 5);
  CHECK(c.n2.mesh->send_to_neighbour(c.n2.observer.id_of(c.n3.host.public_key()), kTestProtocol, p));
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 1);
  CHECK(c.n3.receiver.infos[0].hop_limit == 1);
  CHECK(same(c.n3.receiver.infos[0].source, c.n2.address()));
  Packet* q = c.n2.mesh->pool()->acquire();
  CHECK_FALSE(c.n2.mesh->send_to_neighbour(0x12345, kTestProtocol, q));
}

TEST_CASE("set_route refuses stale ids, unknown ids and the node's own address") {
  Chain c;
  const NeighbourId to2 = c.n1.observer.id_of(c.n2.host.public_key());
  CHECK(c.n1.mesh->set_route(c.n1.address(), to2).code == StatusCode::invalid_argument);
  CHECK(c.n1.mesh->set_route(c.n3.address(), to2 + 1).code == StatusCode::invalid_argument);
  CHECK(c.n1.mesh->set_route(c.n3.address(), kNoNeighbour).code == StatusCode::invalid_argument);
  CHECK(c.n1.mesh->set_route(c.n3.address(), to2).ok());
  const auto routes = c.admin(c.n1, "switch.routes", "null");
  REQUIRE(routes.size() == 1);
  CHECK(routes[0]["address"] == format_address(c.n3.address()));
  CHECK(routes[0]["nextHop"] == format_address(c.n2.address()));
  CHECK(routes[0]["neighbour"] == to2);
  const auto peers = c.admin(c.n1, "switch.peers", "null");
  REQUIRE(peers.size() == 1);
  CHECK(peers[0]["neighbourId"] == to2);
}

TEST_CASE("neighbour observer: replay, down once when the link dies, a new id when back") {
  Chain c;
  const NeighbourId to2 = c.n1.observer.id_of(c.n2.host.public_key());
  CHECK(to2 != kNoNeighbour);
  Observer late;
  c.n1.mesh->set_neighbour_observer(&late);
  REQUIRE(late.ups.size() == 1);
  CHECK(late.ups[0].id == to2);
  CHECK(late.ups[0].cost >= 10);
  c.n1.mesh->set_neighbour_observer(&c.n1.observer);
  REQUIRE(c.n1.mesh->set_route(c.n3.address(), to2).ok());

  c.a1.disconnect();
  c.run(40'000 * kMs);  // past unresponsive (30 s)
  REQUIRE(c.n1.observer.downs.size() == 1);
  CHECK(c.n1.observer.downs[0] == to2);
  CHECK(c.admin(c.n1, "switch.routes", "null").empty());  // routes through it went with it
  c.run(100'000 * kMs);                                   // past gone: no second down
  CHECK(c.n1.observer.downs.size() == 1);

  LoopbackLink::connect(c.a1, c.a2);
  c.run(20'000 * kMs);
  const NeighbourId again = c.n1.observer.id_of(c.n2.host.public_key());
  CHECK(again != kNoNeighbour);
  CHECK(again != to2);
  CHECK(c.n1.mesh->set_route(c.n3.address(), to2).code == StatusCode::invalid_argument);
}

TEST_CASE("ping through admin: replies from the target with RTT and hop limit") {
  Chain c;
  c.route_all();
  const auto started = c.admin(c.n1, "switch.ping",
                               R"({"address": ")" + format_address(c.n3.address()) + R"(", "count": 3, "intervalMs": 10})");
  const auto id = started["probe"].get<int>();
  c.run(100 * kMs);
  const auto probe = c.admin(c.n1, "switch.probe", R"({"probe": )" + std::to_string(id) + "}");
  CHECK(probe["kind"] == "ping");
  CHECK(probe["done"] == true);
  CHECK(probe["sent"] == 3);
  CHECK(probe["reached"] == true);
  REQUIRE(probe["replies"].size() == 3);
  CHECK(probe["replies"][0]["from"] == format_address(c.n3.address()));
  CHECK(probe["replies"][0]["hopLimit"] == kDefaultHopLimit - 1);
  CHECK(probe["replies"][0]["rttMs"].get<double>() >= 0.0);
  CHECK(probe["errors"].empty());
  CHECK_FALSE(probe.contains("hops"));
}

TEST_CASE("ping without a route: errors, not reached; bad params are refused") {
  Chain c;
  const auto started =
      c.admin(c.n1, "switch.ping", R"({"address": ")" + format_address(c.n3.address()) + R"(", "count": 1})");
  c.run(10 * kMs);
  const auto probe = c.admin(c.n1, "switch.probe", R"({"probe": )" + std::to_string(started["probe"].get<int>()) + "}");
  CHECK(probe["reached"] == false);
  REQUIRE(probe["errors"].size() == 1);
  CHECK(probe["errors"][0]["kind"] == "no_route");
  CHECK_FALSE(c.n1.host.call_admin("switch.ping", R"({"address": "fc00::1", "count": 0})").first.ok());
  CHECK_FALSE(c.n1.host.call_admin("switch.ping", R"({"address": "2001:db8::1"})").first.ok());
  CHECK_FALSE(c.n1.host.call_admin("switch.ping", R"({"address": "fc00::1", "bogus": 1})").first.ok());
  CHECK_FALSE(c.n1.host.call_admin("switch.probe", R"({"probe": 999})").first.ok());
  // The finished ping above makes room; 16 running ones are the most.
  for (int i = 0; i < 16; ++i) CHECK(c.n1.host.call_admin("switch.ping", R"({"address": "fc00::1"})").first.ok());
  const auto [status, text] = c.n1.host.call_admin("switch.ping", R"({"address": "fc00::1"})");
  CHECK_FALSE(status.ok());
  CHECK(std::string(status.message.data, status.message.size).find("too many probes") != std::string::npos);
}

TEST_CASE("ping this node's own address is answered locally") {
  Chain c;
  const auto started = c.admin(c.n1, "switch.ping", R"({"address": ")" + format_address(c.n1.address()) + R"(", "count": 1})");
  c.run(10 * kMs);
  const auto probe = c.admin(c.n1, "switch.probe", R"({"probe": )" + std::to_string(started["probe"].get<int>()) + "}");
  CHECK(probe["reached"] == true);
  CHECK(probe["done"] == true);
}

TEST_CASE("finished probes make room for new ones; running ones do not") {
  Chain c;
  c.route_all();
  const std::string target = R"({"address": ")" + format_address(c.n3.address()) + R"(", "count": 1})";
  for (int i = 0; i < 16; ++i) CHECK(c.n1.host.call_admin("switch.ping", target).first.ok());
  c.run(10 * kMs);  // all 16 answered and done
  for (int i = 0; i < 16; ++i) CHECK(c.n1.host.call_admin("switch.ping", R"({"address": "fc00::1"})").first.ok());
  CHECK_FALSE(c.n1.host.call_admin("switch.ping", target).first.ok());  // 16 running
}

TEST_CASE("traceroute through admin: node 2 answers hop 1, node 3 is reached at hop 2") {
  Chain c;
  c.route_all();
  const auto started = c.admin(c.n1, "switch.traceroute",
                               R"({"address": ")" + format_address(c.n3.address()) + R"(", "maxHops": 5})");
  c.run(100 * kMs);
  const auto probe = c.admin(c.n1, "switch.probe", R"({"probe": )" + std::to_string(started["probe"].get<int>()) + "}");
  CHECK(probe["kind"] == "traceroute");
  CHECK(probe["done"] == true);
  CHECK(probe["reached"] == true);
  CHECK(probe["sent"] == 5);
  const auto& hops = probe["hops"];
  REQUIRE(hops.size() == 2);
  CHECK(hops[0]["hop"] == 1);
  CHECK(hops[0]["address"] == format_address(c.n2.address()));
  CHECK(hops[1]["hop"] == 2);
  CHECK(hops[1]["address"] == format_address(c.n3.address()));
  REQUIRE(probe["errors"].size() >= 1);
  CHECK(probe["errors"][0]["kind"] == "hop_limit_exceeded");
}

namespace {
LoopbackLink::Options headers_link() {
  LoopbackLink::Options o;
  o.hop_encryption = HopEncryption::headers;
  return o;
}
std::uint64_t headers_frames(const Node& n) {
  return n.counter("meshhost_switch_events_total", {{"event", "headers_frames_received"}});
}
}  // namespace

TEST_CASE("hopEncryption headers: e2e payloads cross a chain of headers links as 0x05 frames") {
  Chain c(headers_link(), headers_link());
  c.route_all();
  const std::string payload = "session header|end-to-end ciphertext";
  CHECK(c.send(c.n1, c.n3.address(), payload, kDefaultHopLimit, kTestProtocol, 15) == 1);
  CHECK(c.send(c.n1, c.n3.address(), payload, kDefaultHopLimit, kTestProtocol, 0) == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 2);
  CHECK(c.n3.receiver.payloads[0] == payload);
  CHECK(c.n3.receiver.payloads[1] == payload);
  CHECK(c.n3.receiver.infos[0].hop_limit == kDefaultHopLimit - 1);
  CHECK(headers_frames(c.n2) == 2);
  CHECK(headers_frames(c.n3) == 2);

  // Without an e2e part (routing, control) a headers link still encrypts everything.
  CHECK(c.send(c.n1, c.n3.address(), "routing", kDefaultHopLimit, kTestProtocol, kNoEndToEnd) == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 3);
  CHECK(headers_frames(c.n3) == 2);
  // An offset past the payload means no e2e bytes: full encryption too.
  CHECK(c.send(c.n1, c.n3.address(), "short", kDefaultHopLimit, kTestProtocol, 100) == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 4);
  CHECK(c.n3.receiver.payloads[3] == "short");
  CHECK(headers_frames(c.n3) == 2);
}

TEST_CASE("hopEncryption headers on one link only: the full link carries 0x04") {
  Chain c(headers_link(), {});
  c.route_all();
  CHECK(c.send(c.n1, c.n3.address(), "half and half", kDefaultHopLimit, kTestProtocol, 4) == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 1);
  CHECK(c.n3.receiver.payloads[0] == "half and half");
  CHECK(headers_frames(c.n2) == 1);
  CHECK(headers_frames(c.n3) == 0);
}

TEST_CASE("hopEncryption headers: ping and errors still work, and survive a rekey") {
  Chain c(headers_link(), headers_link());
  c.route_all();
  c.run(130'000 * kMs);  // past rekey after (120 s): new sessions, new 0x05 keys
  const std::uint64_t before = headers_frames(c.n3);
  CHECK(c.send(c.n1, c.n3.address(), "after rekey", kDefaultHopLimit, kTestProtocol, 0) == 1);
  CHECK(c.send(c.n1, c.n3.address(), "too far", 1, kTestProtocol, 0) == 1);
  c.run(10 * kMs);
  REQUIRE(c.n3.receiver.payloads.size() == 1);
  CHECK(c.n3.receiver.payloads[0] == "after rekey");
  CHECK(headers_frames(c.n3) == before + 1);
  CHECK(c.n3.counter("meshhost_switch_events_total", {{"event", "sessions_established"}}) >= 2);  // it did rekey
  REQUIRE(c.n1.receiver.errors.size() == 1);
  CHECK(c.n1.receiver.errors[0].kind == MeshError::Kind::hop_limit_exceeded);
  CHECK(c.n2.counter("meshhost_switch_dropped_total", {{"reason", "decrypt_failed"}}) == 0);
  CHECK(c.n3.counter("meshhost_switch_dropped_total", {{"reason", "no_headers_key"}}) == 0);
}

TEST_CASE("neighbour observer hears cost changes when a link's loss moves its cost") {
  Chain c;
  const NeighbourId to2 = c.n1.observer.id_of(c.n2.host.public_key());
  CHECK(c.n1.observer.costs.empty());
  c.a1.set_loss(0.3, 7);
  c.run(200'000 * kMs);
  REQUIRE(c.n1.observer.downs.empty());
  REQUIRE_FALSE(c.n1.observer.costs.empty());
  CHECK(c.n1.observer.costs.back().first == to2);
  CHECK(c.n1.observer.costs.back().second > 10);
}

// ---- psks for neighbours heard by beacons: Argon2id off the loop thread ----

namespace {

sw::SwitchPlugin& switch_of(Node& node) { return *static_cast<sw::SwitchPlugin*>(node.plugin); }

std::uint64_t psk_event(Node& node, const std::string& event) {
  return node.counter("meshhost_switch_events_total", {{"event", event}});
}

double psk_pending(Node& node) { return node.host.gauge_value("meshhost_switch_psk_pending").value_or(-1); }

std::vector<PublicKey> fresh_keys(std::size_t count) {
  std::vector<PublicKey> keys;
  for (std::size_t i = 0; i < count; ++i) keys.push_back(generate_node_key().pub);
  return keys;
}

// Node 1 hears beacons on link a; node 2, across it, wants the password "secret".
struct BeaconPair {
  BeaconPair() : a1(loop, "a1"), a2(loop, "a2", password_only()) {
    LoopbackLink::connect(a1, a2);
    n1.host.add_service("link.a", &a1);
    n2.host.add_service("link.a", &a2);
    n1.start();
    n2.start(R"({"authorizedPasswords": [{"password": "secret"}]})");
  }
  static LoopbackLink::Options password_only() {
    LoopbackLink::Options o;
    o.policy = DiscoveredPeerPolicy::require_password;
    return o;
  }
  void run(std::uint64_t duration_ns) {
    const std::uint64_t end = loop.now_ns() + duration_ns;
    while (loop.now_ns() < end) {
      loop.run_pending();
      loop.advance(1 * kMs);
    }
    loop.run_pending();
  }
  // Waits (bounded) for the worker, then lets the loop see its eventfd.
  void finish_psks(Node& node) {
    REQUIRE(switch_of(node).wait_for_psks(std::chrono::seconds(120)));
    CHECK(loop.fire_fd(switch_of(node).psk_event_fd(), kFdReadable) == 1);
  }

  FakeLoop loop;
  LoopbackLink a1, a2;
  Node n1{loop}, n2{loop};
};

}  // namespace

TEST_CASE("beacon hints needing Argon2id return at once; a bounded queue derives them on the worker") {
  BeaconPair t;
  const std::vector<PublicKey> forged = fresh_keys(20);
  const auto started = std::chrono::steady_clock::now();
  t.a1.add_peer_hint(t.n2.host.public_key(), "secret", "", /*from_beacon=*/true);
  for (const PublicKey& key : forged) t.a1.add_peer_hint(key, "secret", "", true);
  t.a1.add_peer_hint(t.n2.host.public_key(), "secret", "", true);  // already pending: nothing more
  const auto took = std::chrono::steady_clock::now() - started;

  // No Argon2id ran on the loop thread (one costs about 300 ms).
  CHECK(psk_event(t.n1, "psks_derived") == 0);
  CHECK(took < std::chrono::milliseconds(100));
  // Eight jobs wait or run; the other thirteen keys were dropped, to be heard again later.
  CHECK(psk_pending(t.n1) == 8);
  CHECK(t.n1.counter("meshhost_switch_dropped_total", {{"reason", "psk_busy"}}) == 13);
  t.run(100 * kMs);
  CHECK(t.a1.stats().sent == 0);  // nothing to handshake with until a psk arrives

  t.finish_psks(t.n1);
  CHECK(psk_event(t.n1, "psks_derived_in_background") == 8);
  CHECK(psk_event(t.n1, "psks_derived") == 0);
  CHECK(psk_pending(t.n1) == 0);
  // Node 2 accepts only the password: an established pair proves the psk was right.
  t.run(1000 * kMs);
  CHECK(t.n1.observer.id_of(t.n2.host.public_key()) != kNoNeighbour);
  CHECK(t.n2.observer.id_of(t.n1.host.public_key()) != kNoNeighbour);
  // Heard again with the same password: known, nothing to derive.
  t.a1.add_peer_hint(t.n2.host.public_key(), "secret", "", true);
  CHECK(psk_pending(t.n1) == 0);
  CHECK(psk_event(t.n1, "psks_derived") == 0);
}

TEST_CASE("a key forgotten after gone and heard again takes its psk from the cache") {
  BeaconPair t;
  const PublicKey silent = fresh_keys(1)[0];  // no node answers for it
  t.a1.add_peer_hint(silent, "secret", "", true);
  t.finish_psks(t.n1);
  REQUIRE(psk_event(t.n1, "psks_derived_in_background") == 1);
  const std::uint64_t initiations = t.a1.stats().sent;
  CHECK(initiations >= 1);  // the hint reached the table: it handshakes

  t.loop.advance(130'000 * kMs);  // gone: the discovered neighbour is forgotten
  t.loop.run_pending();
  const std::uint64_t before = t.a1.stats().sent;
  t.a1.add_peer_hint(silent, "secret", "", true);
  CHECK(psk_event(t.n1, "psk_cache_hits") == 1);
  CHECK(psk_pending(t.n1) == 0);  // no job: the psk was remembered
  CHECK(t.a1.stats().sent > before);  // initiating again at once
  CHECK(psk_event(t.n1, "psks_derived") == 0);
  CHECK(psk_event(t.n1, "psks_derived_in_background") == 1);

  // Another password for that key is another psk: derived again, in the background.
  t.a1.add_peer_hint(silent, "other", "", true);
  CHECK(psk_pending(t.n1) == 1);
  t.finish_psks(t.n1);
  CHECK(psk_event(t.n1, "psks_derived_in_background") == 2);
}

TEST_CASE("a psk that arrives after its link went down is not used; stop waits for the worker") {
  BeaconPair t;
  const std::vector<PublicKey> keys = fresh_keys(3);
  t.a1.add_peer_hint(keys[0], "secret", "", true);
  t.a1.add_peer_hint(keys[1], "secret", "", true);
  CHECK(psk_pending(t.n1) == 2);
  t.a1.announce_down();
  CHECK(psk_pending(t.n1) <= 1);  // the queued one is dropped; a running one finishes
  REQUIRE(switch_of(t.n1).wait_for_psks(std::chrono::seconds(120)));
  t.loop.fire_fd(switch_of(t.n1).psk_event_fd(), kFdReadable);
  t.run(10 * kMs);
  CHECK(t.a1.stats().sent == 0);  // no initiation on a link that is gone
  CHECK(psk_pending(t.n1) == 0);

  // Stopping with a derivation queued or running returns once the worker let go of it.
  t.a2.add_peer_hint(keys[2], "secret", "", true);
  CHECK(psk_pending(t.n2) == 1);
  t.n2.plugin->stop();
  CHECK(psk_pending(t.n2) == 0);
  REQUIRE(t.n2.plugin->start().ok());  // and starts again with a fresh worker
  t.a2.add_peer_hint(keys[2], "secret", "", true);
  CHECK(psk_pending(t.n2) == 1);
}

TEST_CASE("timers.handshakeRetryMaxMs: accepted when at least the retry, refused below it") {
  FakeLoop loop;
  LoopbackLink a(loop, "a");
  FakeHost host("switch", &loop);
  host.add_service("link.a", &a);
  Plugin* plugin = nullptr;
  CHECK_FALSE(meshhost_plugin_v1()
                  ->create(&host, Str::of(std::string(R"({"timers": {"handshakeRetryMs": 5000, "handshakeRetryMaxMs": 1000}})")),
                           &plugin)
                  .ok());
  CHECK(plugin == nullptr);
  REQUIRE(meshhost_plugin_v1()
              ->create(&host, Str::of(std::string(R"({"timers": {"handshakeRetryMs": 2000, "handshakeRetryMaxMs": 2000}})")),
                       &plugin)
              .ok());
  meshhost_plugin_v1()->destroy(plugin);
}

namespace {

// A link metric source as meshpoint is one: paths it knows, replayed to a new observer.
struct FakeMetricSource final : Service, LinkMetricSource {
  struct Entry {
    std::string link;
    Endpoint endpoint;
    LinkMetric metric;
  };
  LinkMetricObserver* observer = nullptr;
  std::vector<Entry> known;
  std::size_t observer_calls = 0;

  void* query(InterfaceId id) noexcept override {
    return id == kLinkMetricSourceInterface ? static_cast<LinkMetricSource*>(this) : nullptr;
  }
  void set_metric_observer(LinkMetricObserver* o) noexcept override {
    ++observer_calls;
    observer = o;
    if (observer != nullptr)
      for (const Entry& e : known) observer->on_link_metric(Str::of(e.link), e.endpoint, e.metric);
  }
  void report(const std::string& link, const Endpoint& endpoint, const LinkMetric& metric) {
    known.push_back({link, endpoint, metric});
    if (observer != nullptr) observer->on_link_metric(Str::of(link), endpoint, metric);
  }
  void forget(const std::string& link, const Endpoint& endpoint) {
    if (observer != nullptr) observer->on_link_metric_forget(Str::of(link), endpoint);
  }
};

struct NotASource final : Service {
  void* query(InterfaceId) noexcept override { return nullptr; }
};

LinkMetric radio_metric(std::uint32_t cost) {
  LinkMetric m;
  m.cost = cost;
  m.radio.present = kRadioSignal | kRadioTxBitrate | kRadioAirtimeMetric;
  m.radio.signal_dbm = -74;
  m.radio.tx_bitrate_kbps = 26000;
  m.radio.airtime_metric = 520;
  return m;
}

}  // namespace

TEST_CASE("the switch takes link metrics from every linkmetric source into the neighbour's cost") {
  FakeLoop loop;
  LoopbackLink a1(loop, "a1"), a2(loop, "a2");
  LoopbackLink::connect(a1, a2);
  FakeMetricSource source;
  NotASource not_a_source;
  Node n1{loop}, n2{loop};
  n1.host.add_service("link.a", &a1);
  n2.host.add_service("link.a", &a2);
  n1.host.add_service("linkmetric.test", &source);
  n1.host.add_service("linkmetric.broken", &not_a_source);  // warned about and ignored
  a1.add_peer_hint(n2.host.public_key());
  // Known before the switch starts (and before the neighbour exists): replayed at start.
  source.known.push_back({"a1", a2.endpoint(), radio_metric(100)});
  n1.start();
  n2.start();
  CHECK(source.observer != nullptr);
  const auto run = [&](std::uint64_t ns) {
    const std::uint64_t end = loop.now_ns() + ns;
    while (loop.now_ns() < end) {
      loop.run_pending();
      loop.advance(1 * kMs);
    }
  };
  run(500 * kMs);
  const NeighbourId id = n1.observer.id_of(n2.host.public_key());
  REQUIRE(id != kNoNeighbour);
  REQUIRE(!n1.observer.ups.empty());
  CHECK(n1.observer.ups.back().cost >= 100 + mh::sw::kCostBase);
  CHECK(n2.observer.ups.back().cost < 100);  // node 2 has no source

  const auto peers = [&] {
    const auto result = n1.host.call_admin("switch.peers", "null");
    REQUIRE(result.first.ok());
    return nlohmann::json::parse(result.second);
  };
  auto p = peers();
  REQUIRE(p.size() == 1);
  CHECK(p[0]["linkMetric"]["cost"] == 100);
  CHECK(p[0]["linkMetric"]["radio"]["signalDbm"] == -74);
  CHECK(p[0]["linkMetric"]["radio"]["txBitrateKbps"] == 26000);
  CHECK(p[0]["linkMetric"]["radio"]["airtimeMetric"] == 520);
  CHECK_FALSE(p[0]["linkMetric"]["radio"].contains("expectedThroughputKbps"));  // not present
  CHECK(p[0]["costParts"]["metric"] == 100);
  CHECK(p[0]["paths"][0]["linkMetric"]["cost"] == 100);

  // A much worse radio reaches the router; its removal brings the RTT-only cost back.
  source.report("a1", a2.endpoint(), radio_metric(1000));
  REQUIRE(!n1.observer.costs.empty());
  CHECK(n1.observer.costs.back().first == id);
  CHECK(n1.observer.costs.back().second >= 1000);
  source.forget("a1", a2.endpoint());
  CHECK(n1.observer.costs.back().second < 100);
  p = peers();
  CHECK(p[0]["linkMetric"].is_null());
  CHECK(p[0]["costParts"]["metric"] == 0);

  // At stop the switch lets go of its source.
  n1.mesh->set_neighbour_observer(nullptr);
  n1.plugin->stop();
  CHECK(source.observer == nullptr);
  meshhost_plugin_v1()->destroy(n1.plugin);
  n1.plugin = nullptr;
}
