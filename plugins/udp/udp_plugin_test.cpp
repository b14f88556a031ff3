// The udp plugin as the host and the switch drive it: created through its descriptor on a
// FakeHost, with real sockets on 127.0.0.1 and ::1. FakeLoop runs fd handlers only when
// told, so each test delivers readiness with fire_fd after the kernel has the datagram.
#include "beacon.hpp"
#include "udp_endpoint.hpp"
#include "udp_link.hpp"

#include <doctest/doctest.h>

#include <meshhost/keys.hpp>
#include <meshhost/link.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using mh::testing::FakeHost;
using nlohmann::json;

const mh::PluginDescriptor& descriptor() { return *meshhost_plugin_v1(); }

// What the switch would see: links, hints and frames.
struct RecordingSwitch final : mh::LinkObserver, mh::LinkReceiver {
  struct Hint {
    mh::Link* link;
    mh::Endpoint endpoint;
    mh::PublicKey key;
    std::string password, login, peer_name;
    bool from_beacon;
  };
  struct Frame {
    mh::Link* link;
    mh::Endpoint endpoint;
    std::vector<std::uint8_t> bytes;
  };

  void on_link_up(mh::Link* link) noexcept override {
    links.push_back(link);
    link->set_receiver(this);
  }
  void on_link_down(mh::Link* link) noexcept override { std::erase(links, link); }
  void on_peer_hint(mh::Link* link, const mh::PeerHint& hint) noexcept override {
    hints.push_back({link, hint.endpoint, hint.key, std::string(hint.password.data, hint.password.size),
                     std::string(hint.login.data, hint.login.size), std::string(hint.peer_name.data, hint.peer_name.size),
                     hint.from_beacon});
  }
  void on_receive(mh::Link* link, mh::Packet* const* packets, std::size_t count) noexcept override {
    ++batches;
    for (std::size_t i = 0; i < count; ++i) {
      const mh::Packet* p = packets[i];
      frames.push_back({link, p->endpoint, std::vector<std::uint8_t>(p->data(), p->data() + p->length)});
      packets[i]->release();
    }
  }

  std::vector<mh::Link*> links;
  std::vector<Hint> hints;
  std::vector<Frame> frames;
  int batches = 0;
};

// A udp plugin created, started and observed on its own FakeHost.
struct Node {
  explicit Node(const std::string& config) {
    const mh::Status created = descriptor().create(&host, mh::Str::of(config), &plugin);
    REQUIRE_MESSAGE(created.ok(), std::string(created.message.data, created.message.size));
    const mh::Status started = plugin->start();
    REQUIRE_MESSAGE(started.ok(), std::string(started.message.data, started.message.size));
    mh::Service* service = host.service("link.udp");
    REQUIRE(service != nullptr);
    driver = static_cast<mh::LinkDriver*>(service->query(mh::kLinkDriverInterface));
    REQUIRE(driver != nullptr);
    driver->set_observer(&sw);
  }
  ~Node() {
    driver->set_observer(nullptr);
    plugin->stop();
    descriptor().destroy(plugin);
  }

  json links() {
    auto [status, text] = host.call_admin("udp.links");
    REQUIRE(status.ok());
    return json::parse(text);
  }
  mh::Endpoint bound(std::size_t i = 0) { return *mh::udp::parse_host_port(links().at(i).at("bind").get<std::string>()); }
  mh::Link* link(std::size_t i = 0) {
    REQUIRE(sw.links.size() > i);
    return sw.links[i];
  }
  // Delivers readiness for every socket this node watches that has data, until `done` or
  // a 2 s deadline (loopback is quick; the deadline only bounds a broken test).
  template <class Done>
  bool pump(Done done) {
    for (int round = 0; round < 200 && !done(); ++round) {
      std::vector<pollfd> fds;
      for (int fd = 0; fd < 4096; ++fd) {
        if (host.fake_loop().watched_events(fd) != 0) fds.push_back({fd, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      for (const pollfd& p : fds) {
        if ((p.revents & POLLIN) != 0) host.fake_loop().fire_fd(p.fd, mh::kFdReadable);
      }
    }
    return done();
  }
  std::uint64_t counter(const std::string& name, const FakeHost::Labels& labels) {
    return host.counter_value(name, labels).value_or(0);
  }

  FakeHost host{"udp"};
  mh::Plugin* plugin = nullptr;
  mh::LinkDriver* driver = nullptr;
  RecordingSwitch sw;
};

// Sends `bytes` on `link` to `to`, as the switch would.
std::size_t send(mh::Link* link, const mh::Endpoint& to, const std::vector<std::uint8_t>& bytes) {
  mh::Packet* packet = link->pool()->acquire();
  REQUIRE(packet != nullptr);
  std::uint8_t* at = packet->append(static_cast<std::uint32_t>(bytes.size()));
  REQUIRE(at != nullptr);
  std::memcpy(at, bytes.data(), bytes.size());
  packet->endpoint = to;
  return link->send(&packet, 1);
}

std::vector<std::uint8_t> transport_frame(std::size_t size, std::uint8_t fill) {
  std::vector<std::uint8_t> frame(size, fill);
  frame[0] = mh::kFrameVersion;
  frame[1] = static_cast<std::uint8_t>(mh::FrameType::transport);
  return frame;
}

std::vector<std::uint8_t> beacon_of(const mh::PublicKey& key, std::uint8_t flags = 0) {
  std::vector<std::uint8_t> frame(mh::link_common::kBeaconSize);
  REQUIRE(mh::link_common::encode_beacon(key, flags, {frame.data(), frame.size()}) == frame.size());
  return frame;
}

}  // namespace

TEST_CASE("the descriptor: a link driver providing link.udp, requiring nothing") {
  const mh::PluginDescriptor& d = descriptor();
  CHECK(std::string(d.name.data, d.name.size) == "udp");
  CHECK(std::string(d.kind.data, d.kind.size) == "link");
  REQUIRE(d.provided_count == 1);
  CHECK(std::string(d.provided[0].data, d.provided[0].size) == "link.udp");
  CHECK(d.required_count == 0);
  CHECK(json::parse(std::string(d.config_schema.data, d.config_schema.size)).is_object());
}

TEST_CASE("frames sent on one link arrive at the other with the sender's endpoint, IPv4 and IPv6") {
  for (const char* address : {"127.0.0.1:0", "[::1]:0"}) {
    CAPTURE(address);
    const std::string config = std::string(R"({"bind": [")") + address + R"("]})";
    Node a(config), b(config);
    REQUIRE(a.sw.links.size() == 1);
    const mh::Endpoint a_at = a.bound(), b_at = b.bound();
    CHECK(mh::udp::endpoint_port(a_at) != 0);
    CHECK(std::string(a.link()->name().data, a.link()->name().size) == "udp/" + mh::udp::format_endpoint(a_at));

    std::vector<mh::Packet*> batch;
    for (std::uint8_t i = 0; i < 40; ++i) {  // more than one sendmmsg batch
      mh::Packet* p = a.link()->pool()->acquire();
      const auto frame = transport_frame(100 + i, i);
      std::memcpy(p->append(static_cast<std::uint32_t>(frame.size())), frame.data(), frame.size());
      p->endpoint = b_at;
      batch.push_back(p);
    }
    CHECK(a.link()->send(batch.data(), batch.size()) == 40);
    REQUIRE(b.pump([&] { return b.sw.frames.size() == 40; }));
    CHECK(b.sw.batches >= 2);  // at most 32 per wake-up
    for (std::uint8_t i = 0; i < 40; ++i) {
      const auto& frame = b.sw.frames[i];
      CHECK(frame.link == b.link());
      CHECK(mh::udp::same_endpoint(frame.endpoint, a_at));
      CHECK(frame.bytes == transport_frame(100 + i, i));
    }
    const FakeHost::Labels a_link = {{"link", "udp/" + mh::udp::format_endpoint(a_at)}};
    const FakeHost::Labels b_link = {{"link", "udp/" + mh::udp::format_endpoint(b_at)}};
    CHECK(a.counter("udp_frames_sent_total", a_link) == 40);
    CHECK(b.counter("udp_frames_received_total", b_link) == 40);
    CHECK(b.links().at(0).at("framesIn") == 40);
    CHECK(a.links().at(0).at("bytesOut") == b.links().at(0).at("bytesIn"));

    char text[64];
    const std::size_t n = a.link()->format_endpoint(b_at, text, sizeof text);
    CHECK(std::string(text, n) == mh::udp::format_endpoint(b_at));
  }
}

TEST_CASE("a beacon from another node becomes a peer hint with the beacon password") {
  const mh::KeyPair other = mh::generate_node_key();
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  Node b(R"({"bind": ["127.0.0.1:0"], "beacon": {"mode": "accept", "password": "lan", "login": "mesh"}})");
  const mh::Endpoint a_at = a.bound(), b_at = b.bound();
  const FakeHost::Labels b_link = {{"link", "udp/" + mh::udp::format_endpoint(b_at)}};

  REQUIRE(send(a.link(), b_at, beacon_of(a.host.public_key())) == 1);
  REQUIRE(b.pump([&] { return !b.sw.hints.empty(); }));
  const auto& hint = b.sw.hints.at(0);
  CHECK(hint.link == b.link());
  CHECK(mh::udp::same_endpoint(hint.endpoint, a_at));
  CHECK(std::memcmp(hint.key.bytes, a.host.public_key().bytes, 32) == 0);
  CHECK(hint.password == "lan");
  CHECK(hint.login == "mesh");
  CHECK(hint.from_beacon);
  CHECK(b.sw.frames.empty());  // beacons stay with the driver
  CHECK(b.counter("udp_beacons_received_total", b_link) == 1);

  // Our own beacon (looped back by broadcast) is not a peer.
  REQUIRE(send(a.link(), b_at, beacon_of(b.host.public_key())) == 1);
  // A malformed one is a bad frame.
  auto bad = beacon_of(other.pub);
  bad[3] = 1;
  REQUIRE(send(a.link(), b_at, bad) == 1);
  REQUIRE(b.pump([&] { return b.counter("udp_drops_total", {{"link", b_link[0].second}, {"reason", "bad_frame"}}) == 1; }));
  CHECK(b.sw.hints.size() == 1);
}

TEST_CASE("with beacons off a beacon is ignored and counted") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  Node b(R"({"bind": ["127.0.0.1:0"]})");
  const mh::Endpoint b_at = b.bound();
  const std::string b_link = "udp/" + mh::udp::format_endpoint(b_at);
  REQUIRE(send(a.link(), b_at, beacon_of(a.host.public_key())) == 1);
  REQUIRE(b.pump([&] { return b.counter("udp_drops_total", {{"link", b_link}, {"reason", "beacon_ignored"}}) == 1; }));
  CHECK(b.sw.hints.empty());
}

TEST_CASE("set_observer replays links and each connectTo peer on the links of its family") {
  const mh::KeyPair peer = mh::generate_node_key();
  const std::string key = mh::format_public_key(peer.pub);
  Node a(R"({"bind": ["127.0.0.1:0", "[::1]:0"], "connectTo": {
      "192.0.2.1:11234": {"publicKey": ")" + key + R"(", "password": "pw", "login": "me", "peerName": "v4"},
      "[2001:db8::1]:11234": {"publicKey": ")" + key + R"(", "peerName": "v6"}}})");
  REQUIRE(a.sw.links.size() == 2);
  REQUIRE(a.sw.hints.size() == 2);
  const auto& v4 = a.sw.hints[0].peer_name == "v4" ? a.sw.hints[0] : a.sw.hints[1];
  const auto& v6 = a.sw.hints[0].peer_name == "v4" ? a.sw.hints[1] : a.sw.hints[0];
  CHECK(mh::udp::format_endpoint(v4.endpoint) == "192.0.2.1:11234");
  CHECK(std::string(v4.link->name().data, 10) == "udp/127.0.");
  CHECK(v4.password == "pw");
  CHECK(v4.login == "me");
  CHECK_FALSE(v4.from_beacon);
  CHECK(mh::udp::format_endpoint(v6.endpoint) == "[2001:db8::1]:11234");
  CHECK(std::string(v6.link->name().data, 9) == "udp/[::1]");
  CHECK(mh::udp::same_endpoint(v6.endpoint, *mh::udp::parse_host_port("[2001:db8::1]:11234")));
  CHECK(memcmp(v6.key.bytes, peer.pub.bytes, 32) == 0);

  // The links carry the shared policy keys' defaults.
  CHECK(a.link()->hop_encryption() == mh::HopEncryption::full);
  CHECK(a.link()->discovered_peer_policy() == mh::DiscoveredPeerPolicy::require_password);
  CHECK_FALSE(a.link()->allows(peer.pub));

  RecordingSwitch second;
  a.driver->set_observer(&second);
  CHECK(second.links.size() == 2);
  CHECK(second.hints.size() == 2);
  a.driver->set_observer(&a.sw);
}

TEST_CASE("oversize frames are dropped and counted, on send and on receive") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  Node b(R"({"bind": ["127.0.0.1:0"]})");
  const mh::Endpoint b_at = b.bound();
  const std::string a_link = "udp/" + mh::udp::format_endpoint(a.bound());
  const std::string b_link = "udp/" + mh::udp::format_endpoint(b_at);
  CHECK(a.link()->mtu() == 1792);

  // Too big for the link: refused before the kernel sees it.
  mh::Packet* big = a.link()->pool()->acquire();
  big->offset = 0;  // use the whole buffer
  REQUIRE(big->append(a.link()->mtu() + 1) != nullptr);
  std::memset(big->data(), 1, big->length);
  big->endpoint = b_at;
  CHECK(a.link()->send(&big, 1) == 0);
  CHECK(a.counter("udp_drops_total", {{"link", a_link}, {"reason", "oversize"}}) == 1);

  // Too big for the receive buffer: a datagram from elsewhere, truncated by the kernel.
  const int raw = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(raw >= 0);
  sockaddr_storage to;
  const socklen_t to_length = mh::udp::endpoint_to_sockaddr(b_at, &to);
  std::vector<std::uint8_t> huge = transport_frame(4000, 2);
  REQUIRE(::sendto(raw, huge.data(), huge.size(), 0, reinterpret_cast<const sockaddr*>(&to), to_length) == 4000);
  // And junk: an empty datagram and one of another version.
  REQUIRE(::sendto(raw, huge.data(), 0, 0, reinterpret_cast<const sockaddr*>(&to), to_length) == 0);
  huge[0] = 9;
  REQUIRE(::sendto(raw, huge.data(), 10, 0, reinterpret_cast<const sockaddr*>(&to), to_length) == 10);
  ::close(raw);
  REQUIRE(b.pump([&] { return b.counter("udp_drops_total", {{"link", b_link}, {"reason", "bad_frame"}}) == 2; }));
  CHECK(b.counter("udp_drops_total", {{"link", b_link}, {"reason", "oversize"}}) == 1);
  CHECK(b.sw.frames.empty());
  CHECK(b.links().at(0).at("drops").at("oversize") == 1);
}

TEST_CASE("a frame to another family's endpoint is dropped as a bad endpoint") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  const std::string a_link = "udp/" + mh::udp::format_endpoint(a.bound());
  CHECK(send(a.link(), *mh::udp::parse_host_port("[::1]:9"), transport_frame(10, 0)) == 0);
  mh::Endpoint foreign;  // an eth-like endpoint
  foreign.kind = 1;
  foreign.size = 6;
  CHECK(send(a.link(), foreign, transport_frame(10, 0)) == 0);
  CHECK(a.counter("udp_drops_total", {{"link", a_link}, {"reason", "bad_endpoint"}}) == 2);
}

TEST_CASE("every packet comes back to the pool; stop releases the watches and timers") {
  FakeHost host{"udp"};
  mh::Plugin* plugin = nullptr;
  REQUIRE(descriptor().create(&host, R"({"bind": ["127.0.0.1:0"], "beacon": {"mode": "send", "intervalMs": 1000}})",
                              &plugin)
              .ok());
  REQUIRE(plugin->start().ok());
  CHECK(host.fake_loop().watch_count() == 1);
  CHECK(host.fake_loop().armed_timer_count() == 1);
  // Loopback has no broadcast: beacons find no interface here, and the timer keeps going.
  host.fake_loop().advance(3'000'000'000ull);
  CHECK(host.fake_loop().armed_timer_count() == 1);
  plugin->stop();
  CHECK(host.fake_loop().watch_count() == 0);
  CHECK(host.fake_loop().timer_count() == 0);
  descriptor().destroy(plugin);
}

TEST_CASE("start fails with the address when a bind fails; reconfigure asks for a restart on change") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  const std::string taken = mh::udp::format_endpoint(a.bound());
  FakeHost host{"udp"};
  mh::Plugin* plugin = nullptr;
  const std::string config = R"({"bind": [")" + taken + R"("]})";
  REQUIRE(descriptor().create(&host, mh::Str::of(config), &plugin).ok());
  const mh::Status started = plugin->start();
  CHECK_FALSE(started.ok());
  CHECK(std::string(started.message.data, started.message.size) == taken + ": bind: Address already in use");
  CHECK(host.fake_loop().watch_count() == 0);

  struct Ignore final : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override { ++count; }
    int count = 0;
  } errors;
  CHECK(plugin->reconfigure(mh::Str::of(config), &errors) == mh::ReconfigureResult::applied);
  CHECK(plugin->reconfigure(R"({"bind": ["127.0.0.1:1"]})", &errors) == mh::ReconfigureResult::restart_required);
  CHECK(plugin->reconfigure(R"({"bind": 1})", &errors) == mh::ReconfigureResult::error);
  CHECK(errors.count == 1);
  descriptor().destroy(plugin);
}

TEST_CASE("create refuses an invalid config with its first problem") {
  FakeHost host{"udp"};
  mh::Plugin* plugin = nullptr;
  const mh::Status created = descriptor().create(&host, R"({"bind": ["1.2.3.4"]})", &plugin);
  CHECK_FALSE(created.ok());
  CHECK(std::string(created.message.data, created.message.size) ==
        R"(bind[0]: expected "host:port" with a numeric IPv4 or [IPv6] address, got "1.2.3.4")");
}

TEST_CASE("with the pool exhausted the socket is drained and the frames counted, then reception resumes") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  Node b(R"({"bind": ["127.0.0.1:0"]})");
  const mh::Endpoint b_at = b.bound();
  const std::string b_link = "udp/" + mh::udp::format_endpoint(b_at);
  std::vector<mh::Packet*> held;
  while (mh::Packet* p = b.link()->pool()->acquire()) held.push_back(p);
  CHECK(held.size() == mh::udp::UdpLink::kPoolPackets);

  for (int i = 0; i < 5; ++i) REQUIRE(send(a.link(), b_at, transport_frame(50, 1)) == 1);
  REQUIRE(b.pump([&] { return b.counter("udp_drops_total", {{"link", b_link}, {"reason", "pool_exhausted"}}) == 5; }));
  CHECK(b.sw.frames.empty());

  for (mh::Packet* p : held) p->release();
  REQUIRE(send(a.link(), b_at, transport_frame(50, 2)) == 1);
  REQUIRE(b.pump([&] { return b.sw.frames.size() == 1; }));
  CHECK(b.sw.frames[0].bytes == transport_frame(50, 2));
}

TEST_CASE("frames that arrive before the switch sets a receiver are dropped and counted") {
  Node a(R"({"bind": ["127.0.0.1:0"]})");
  Node b(R"({"bind": ["127.0.0.1:0"]})");
  const mh::Endpoint b_at = b.bound();
  const std::string b_link = "udp/" + mh::udp::format_endpoint(b_at);
  b.link()->set_receiver(nullptr);
  REQUIRE(send(a.link(), b_at, transport_frame(50, 1)) == 1);
  REQUIRE(b.pump([&] { return b.counter("udp_drops_total", {{"link", b_link}, {"reason", "no_receiver"}}) == 1; }));
  CHECK(b.sw.frames.empty());
}

TEST_CASE("fwmark marks every socket, or start fails saying it needs CAP_NET_ADMIN") {
  const std::string config = R"({"bind": ["127.0.0.1:0"], "fwmark": 51820})";
  if (::geteuid() != 0) {
    FakeHost host("udp");
    mh::Plugin* plugin = nullptr;
    REQUIRE(descriptor().create(&host, mh::Str::of(config), &plugin).ok());
    const mh::Status started = plugin->start();
    CHECK_FALSE(started.ok());
    CHECK(std::string(started.message.data, started.message.size).find("CAP_NET_ADMIN") != std::string::npos);
    descriptor().destroy(plugin);
    return;
  }
  Node a(config);
  int mark = 0;
  socklen_t size = sizeof mark;
  REQUIRE(::getsockopt(static_cast<mh::udp::UdpLink*>(a.link())->fd(), SOL_SOCKET, SO_MARK, &mark, &size) == 0);
  CHECK(mark == 51820);
}
