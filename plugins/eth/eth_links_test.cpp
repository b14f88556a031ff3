// The eth plugin on real interfaces, as root, in a private network namespace: frames
// cross a veth pair with the sender's MAC, beacons become peer hints, an interface added
// after start becomes a link and one taken down goes away, and an interface whose MTU is
// too small is refused with a message. The plugin is driven through its descriptor on the
// host's own event loop (core::EventLoop); the test plays the switch (LinkObserver).
// Without root every case is skipped (exit 77, CTest's SKIP_RETURN_CODE).
#include "ether_frame.hpp"
#include "event_loop.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/link.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Moves this process into a network namespace of its own (once), or skips the whole
// binary when that is not allowed.
void enter_private_network() {
  static bool entered = false;
  if (entered) return;
  if (::geteuid() != 0) {
    std::fprintf(stderr, "eth_links_test: SKIP: needs root (AF_PACKET sockets, veth pairs in a private network namespace)\n");
    std::fflush(stderr);
    std::_Exit(77);
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "eth_links_test: SKIP: cannot unshare the network namespace: %s\n", std::strerror(errno));
    std::fflush(stderr);
    std::_Exit(77);
  }
  entered = true;
}

// Runs a command (ip) in this namespace; the test fails when it does.
void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

// The interface's MAC, asked of this namespace's kernel (/sys shows the namespace it was
// mounted in, not ours).
mh::ether::MacAddress mac_of(const std::string& interface) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  ifreq request = {};
  std::snprintf(request.ifr_name, sizeof request.ifr_name, "%s", interface.c_str());
  const int result = ::ioctl(fd, SIOCGIFHWADDR, &request);
  ::close(fd);
  REQUIRE(result == 0);
  mh::ether::MacAddress mac;
  std::memcpy(mac.bytes, request.ifr_hwaddr.sa_data, 6);
  return mac;
}

// Deletes a veth pair when the test case ends, however it ends.
struct VethPair {
  VethPair(const std::string& a, const std::string& b, const std::string& options = "") : name(a) {
    sh("ip link add " + a + " " + options + " type veth peer name " + b + " " + options);
  }
  ~VethPair() { (void)std::system(("ip link del " + name + " >/dev/null 2>&1").c_str()); }
  std::string name;
};

std::string text_of(mh::Str s) { return std::string(s.data, s.size); }

// A Host whose loop is the real one; everything else comes from the SDK's FakeHost.
class LoopHost final : public mh::Host {
 public:
  explicit LoopHost(mh::core::EventLoop& loop) : loop_(loop) {}
  mh::Str plugin_name() const noexcept override { return fake.plugin_name(); }
  void log(mh::LogLevel level, mh::Str message) noexcept override {
    std::fprintf(stderr, "  [eth] %.*s\n", static_cast<int>(message.size), message.data);
    fake.log(level, message);
  }
  mh::Loop* loop() noexcept override { return &loop_; }
  mh::Status fail(mh::StatusCode code, mh::Str message) noexcept override { return fake.fail(code, message); }
  mh::PublicKey public_key() const noexcept override { return fake.public_key(); }
  mh::Address address() const noexcept override { return fake.address(); }
  mh::Status dh(const mh::PublicKey& remote, mh::SharedSecret* out) noexcept override { return fake.dh(remote, out); }
  mh::Str state_dir() const noexcept override { return fake.state_dir(); }
  mh::Status register_admin_method(mh::Str name, mh::AdminHandler* handler) noexcept override {
    return fake.register_admin_method(name, handler);
  }
  mh::Counter* counter(mh::Str name, mh::Str help, const mh::Label* labels, std::size_t n) noexcept override {
    return fake.counter(name, help, labels, n);
  }
  mh::Gauge* gauge(mh::Str name, mh::Str help, const mh::Label* labels, std::size_t n) noexcept override {
    return fake.gauge(name, help, labels, n);
  }
  mh::Status provide(mh::Str name, mh::Service* service) noexcept override { return fake.provide(name, service); }
  mh::Service* lookup(mh::Str name) noexcept override { return fake.lookup(name); }
  std::size_t lookup_prefix(mh::Str prefix, mh::Service** out, mh::Str* names, std::size_t capacity) noexcept override {
    return fake.lookup_prefix(prefix, out, names, capacity);
  }

  mh::testing::FakeHost fake{"eth"};

 private:
  mh::core::EventLoop& loop_;
};

struct Frame {
  std::string link;
  mh::ether::MacAddress source;
  std::vector<std::uint8_t> bytes;
};

struct Hint {
  std::string link;
  mh::PublicKey key;
  mh::ether::MacAddress mac;
  std::string password;
  bool from_beacon;
};

// Plays the switch: records links, hints and frames.
class Switch final : public mh::LinkObserver, public mh::LinkReceiver {
 public:
  void on_link_up(mh::Link* link) noexcept override {
    links.push_back(link);
    ups.push_back(text_of(link->name()));
    link->set_receiver(this);
  }
  void on_link_down(mh::Link* link) noexcept override {
    std::erase(links, link);
    downs.push_back(text_of(link->name()));
  }
  void on_peer_hint(mh::Link* link, const mh::PeerHint& hint) noexcept override {
    Hint h{text_of(link->name()), hint.key, {}, text_of(hint.password), hint.from_beacon};
    mh::ether::parse_endpoint(hint.endpoint, &h.mac, nullptr);
    hints.push_back(h);
  }
  void on_receive(mh::Link* link, mh::Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) {
      Frame f{text_of(link->name()), {}, {packets[i]->data(), packets[i]->data() + packets[i]->length}};
      mh::ether::parse_endpoint(packets[i]->endpoint, &f.source, nullptr);
      frames.push_back(std::move(f));
      packets[i]->release();
    }
  }
  mh::Link* link(const std::string& name) {
    for (mh::Link* l : links) {
      if (text_of(l->name()) == name) return l;
    }
    return nullptr;
  }
  bool heard_up(const std::string& name) const { return std::find(ups.begin(), ups.end(), name) != ups.end(); }
  bool heard_down(const std::string& name) const { return std::find(downs.begin(), downs.end(), name) != downs.end(); }

  std::vector<mh::Link*> links;
  std::vector<std::string> ups, downs;
  std::vector<Hint> hints;
  std::vector<Frame> frames;
};

// One eth plugin, created through its descriptor and started, with the test as its switch.
struct Node {
  Node(mh::core::EventLoop& loop, const std::string& config) : host(loop) {
    const mh::PluginDescriptor& d = *meshhost_plugin_v1();
    const mh::Status created = d.create(&host, mh::Str::of(config), &plugin);
    INFO(text_of(created.message));
    REQUIRE(created.ok());
    const mh::Status started = plugin->start();
    INFO(text_of(started.message));
    REQUIRE(started.ok());
    mh::Service* service = host.lookup("link.eth");
    REQUIRE(service != nullptr);
    driver = static_cast<mh::LinkDriver*>(service->query(mh::kLinkDriverInterface));
    REQUIRE(driver != nullptr);
    driver->set_observer(&observer);
  }
  ~Node() {
    driver->set_observer(nullptr);
    plugin->stop();
    meshhost_plugin_v1()->destroy(plugin);
  }
  LoopHost host;
  mh::Plugin* plugin = nullptr;
  mh::LinkDriver* driver = nullptr;
  Switch observer;
};

// Turns the loop until `done` holds; false after `timeout`.
bool run_until(mh::core::EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.poll();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

bool same_key(const mh::PublicKey& a, const mh::PublicKey& b) { return std::memcmp(a.bytes, b.bytes, 32) == 0; }

}  // namespace

TEST_CASE("frames cross a veth pair with the sender's MAC, and beacons become peer hints") {
  enter_private_network();
  VethPair veth("mh-a", "mh-b");
  sh("ip link set mh-a up");
  sh("ip link set mh-b up");
  const auto mac_a = mac_of("mh-a");
  const auto mac_b = mac_of("mh-b");

  mh::core::EventLoop loop;
  const std::string beacon = R"("beacon": {"mode": "send", "intervalMs": 100, "password": "secret"})";
  Node a(loop, R"({"interfaces": ["mh-a"], )" + beacon + "}");
  Node b(loop, R"({"interfaces": ["mh-b"], )" + beacon + "}");
  Node quiet(loop, R"({"interfaces": ["mh-a"], "beacon": {"mode": "off"}})");  // beside a, beacons off
  REQUIRE(run_until(loop, [&] { return a.observer.link("eth/mh-a") && b.observer.link("eth/mh-b"); }));
  mh::Link* link_a = a.observer.link("eth/mh-a");
  CHECK(link_a->mtu() == 1500 - 4);

  // Beacons: each hears the other's key, at the other's MAC, with its own beacon password.
  REQUIRE(run_until(loop, [&] { return !a.observer.hints.empty() && !b.observer.hints.empty(); }));
  const Hint& heard_by_a = a.observer.hints.front();
  CHECK(heard_by_a.link == "eth/mh-a");
  CHECK(same_key(heard_by_a.key, b.host.public_key()));
  CHECK(heard_by_a.mac == mac_b);
  CHECK(heard_by_a.password == "secret");
  CHECK(heard_by_a.from_beacon);
  CHECK(same_key(b.observer.hints.front().key, a.host.public_key()));
  CHECK(b.observer.hints.front().mac == mac_a);

  // With beacons off a node hears them but ignores and counts them, and sends none.
  const mh::testing::FakeHost::Labels ignored = {{"link", "eth/mh-a"}, {"reason", "beacon_ignored"}};
  REQUIRE(run_until(loop, [&] { return quiet.host.fake.counter_value("eth_drops_total", ignored).value_or(0) >= 1; }));
  CHECK(quiet.observer.hints.empty());
  CHECK(quiet.host.fake.counter_value("eth_beacons_sent_total", {{"link", "eth/mh-a"}}).value_or(0) == 0u);

  // Frames: a short one (Ethernet would pad it) and a full-size one, from a to b's MAC.
  std::vector<std::vector<std::uint8_t>> sent;
  for (const std::size_t size : {std::size_t{20}, std::size_t{link_a->mtu()}}) {
    mh::Packet* packet = link_a->pool()->acquire();
    REQUIRE(packet != nullptr);
    std::uint8_t* at = packet->append(static_cast<std::uint32_t>(size));
    REQUIRE(at != nullptr);
    for (std::size_t i = 0; i < size; ++i) at[i] = static_cast<std::uint8_t>(i * 7 + 3);
    at[0] = mh::kFrameVersion;
    at[1] = static_cast<std::uint8_t>(mh::FrameType::transport);
    sent.emplace_back(at, at + size);
    packet->endpoint = mh::ether::make_endpoint(mac_b, 0);
    CHECK(link_a->send(&packet, 1) == 1);
  }
  REQUIRE(run_until(loop, [&] { return b.observer.frames.size() >= 2; }));
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(b.observer.frames[i].link == "eth/mh-b");
    CHECK(b.observer.frames[i].source == mac_a);
    CHECK(b.observer.frames[i].bytes == sent[i]);
  }

  // A frame over the MTU and one to a non-eth endpoint are dropped and counted, not sent.
  mh::Packet* big = link_a->pool()->acquire();
  big->append(link_a->mtu() + 1);
  big->endpoint = mh::ether::make_endpoint(mac_b, 0);
  mh::Packet* lost = link_a->pool()->acquire();
  lost->append(10);
  mh::Packet* both[] = {big, lost};
  CHECK(link_a->send(both, 2) == 0);
  const mh::testing::FakeHost::Labels oversize = {{"link", "eth/mh-a"}, {"reason", "oversize"}};
  const mh::testing::FakeHost::Labels bad_endpoint = {{"link", "eth/mh-a"}, {"reason", "bad_endpoint"}};
  CHECK(a.host.fake.counter_value("eth_drops_total", oversize) == 1u);
  CHECK(a.host.fake.counter_value("eth_drops_total", bad_endpoint) == 1u);
  CHECK(a.host.fake.counter_value("eth_frames_sent_total", {{"link", "eth/mh-a"}}) == 2u);
  CHECK(b.host.fake.counter_value("eth_frames_received_total", {{"link", "eth/mh-b"}}) == 2u);
  CHECK(*a.host.fake.counter_value("eth_beacons_sent_total", {{"link", "eth/mh-a"}}) >= 1u);
  CHECK(*b.host.fake.counter_value("eth_beacons_received_total", {{"link", "eth/mh-b"}}) >= 1u);

  char text[32];
  const std::size_t n = link_a->format_endpoint(mh::ether::make_endpoint(mac_b, 3), text, sizeof text);
  CHECK(std::string(text, n) == mh::ether::format_mac(mac_b));

  const auto [status, links] = a.host.fake.call_admin("eth.links");
  CHECK(status.ok());
  CHECK(links.find("\"link\":\"eth/mh-a\"") != std::string::npos);
  CHECK(links.find("\"state\":\"up\"") != std::string::npos);
  CHECK(links.find("\"publicKey\":\"" + mh::format_public_key(b.host.public_key()) + "\"") != std::string::npos);

}

TEST_CASE("with \"all\", an interface added after start becomes a link, and goes away when taken down") {
  enter_private_network();
  mh::core::EventLoop loop;
  Node node(loop, R"({"interfaces": "all"})");
  CHECK(node.observer.links.empty());  // only lo so far, which "all" leaves out

  VethPair veth("mh-c", "mh-d");
  sh("ip link set mh-c up");
  sh("ip link set mh-d up");
  REQUIRE(run_until(loop, [&] { return node.observer.link("eth/mh-c") && node.observer.link("eth/mh-d"); }));

  sh("ip link set mh-c down");  // mh-c is down; mh-d loses its carrier
  REQUIRE(run_until(loop, [&] { return node.observer.heard_down("eth/mh-c") && node.observer.heard_down("eth/mh-d"); }));
  CHECK(node.observer.links.empty());

  sh("ip link set mh-c up");
  REQUIRE(run_until(loop, [&] { return node.observer.links.size() == 2; }));

  // SIGHUP with only mh-c named: mh-d's link goes, mh-c's stays.
  struct : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override { ++count; }
    int count = 0;
  } errors;
  CHECK(node.plugin->reconfigure(R"({"interfaces": ["mh-c"]})", &errors) == mh::ReconfigureResult::applied);
  CHECK(errors.count == 0);
  CHECK(node.observer.link("eth/mh-c") != nullptr);
  CHECK(node.observer.link("eth/mh-d") == nullptr);
  CHECK(node.plugin->reconfigure(R"({"interfaces": 5})", &errors) == mh::ReconfigureResult::error);
  CHECK(errors.count == 1);
  CHECK(node.observer.link("eth/mh-c") != nullptr);

  sh("ip link del mh-c");  // both ends vanish: the remaining link goes
  REQUIRE(run_until(loop, [&] { return node.observer.links.empty(); }));
  CHECK(node.host.fake.gauge_value("eth_links") == 0.0);
}

TEST_CASE("an interface whose MTU is too small is refused with a message, and used once it is raised") {
  enter_private_network();
  VethPair veth("mh-e", "mh-f", "mtu 1000");
  sh("ip link set mh-e up");
  sh("ip link set mh-f up");

  mh::core::EventLoop loop;
  Node node(loop, R"({"interfaces": ["mh-e"]})");
  REQUIRE(run_until(loop, [&] {
    return node.host.fake.logged("mh-e: MTU 1000 is too small for meshhost, which needs at least 1412", mh::LogLevel::error);
  }));
  CHECK(node.observer.links.empty());
  CHECK(node.host.fake.gauge_value("eth_interfaces_refused") == 1.0);
  const auto [status, links] = node.host.fake.call_admin("eth.links");
  CHECK(links.find("\"state\":\"refused\"") != std::string::npos);

  sh("ip link set mh-e mtu 1500");
  REQUIRE(run_until(loop, [&] { return node.observer.link("eth/mh-e") != nullptr; }));
  CHECK(node.host.fake.gauge_value("eth_interfaces_refused") == 0.0);
}
