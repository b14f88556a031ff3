// The meshpoint plugin on real interfaces, as root, in a private network namespace: with
// "manage": false on a veth pair it carries frames and beacons through eth's transport
// under the name meshpoint/<ifname>, offers its link and metric services, says once that
// a veth has no station figures, and follows the interface down and up; a managed config
// on a veth stops the start with one line. The plugin is driven through its descriptor
// on the host's own event loop; the test plays the switch. Without root: skipped (77).
#include "ether_frame.hpp"
#include "event_loop.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/link.hpp>
#include <meshhost/link_metrics.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

void enter_private_network() {
  static bool entered = false;
  if (entered) return;
  if (::geteuid() != 0) {
    std::fprintf(stderr, "meshpoint_links_test: SKIP: needs root (AF_PACKET sockets, veth pairs in a private network namespace)\n");
    std::fflush(stderr);
    std::_Exit(77);
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "meshpoint_links_test: SKIP: cannot unshare the network namespace: %s\n", std::strerror(errno));
    std::fflush(stderr);
    std::_Exit(77);
  }
  entered = true;
}

void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

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

struct VethPair {
  VethPair(const std::string& a, const std::string& b) : name(a) {
    sh("ip link add " + a + " type veth peer name " + b);
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
    std::fprintf(stderr, "  [meshpoint] %.*s\n", static_cast<int>(message.size), message.data);
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

  mh::testing::FakeHost fake{"meshpoint"};

 private:
  mh::core::EventLoop& loop_;
};

struct Hint {
  std::string link;
  mh::PublicKey key;
  mh::ether::MacAddress mac;
};

// Plays the switch: records links, hints, frames and link metrics.
class Switch final : public mh::LinkObserver, public mh::LinkReceiver, public mh::LinkMetricObserver {
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
    Hint h{text_of(link->name()), hint.key, {}};
    mh::ether::parse_endpoint(hint.endpoint, &h.mac, nullptr);
    hints.push_back(h);
  }
  void on_receive(mh::Link*, mh::Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) {
      frames.emplace_back(packets[i]->data(), packets[i]->data() + packets[i]->length);
      packets[i]->release();
    }
  }
  void on_link_metric(mh::Str, const mh::Endpoint&, const mh::LinkMetric&) noexcept override { ++metrics; }
  void on_link_metric_forget(mh::Str, const mh::Endpoint&) noexcept override { ++forgets; }

  mh::Link* link(const std::string& name) {
    for (mh::Link* l : links) {
      if (text_of(l->name()) == name) return l;
    }
    return nullptr;
  }
  bool heard_down(const std::string& name) const { return std::find(downs.begin(), downs.end(), name) != downs.end(); }

  std::vector<mh::Link*> links;
  std::vector<std::string> ups, downs;
  std::vector<Hint> hints;
  std::vector<std::vector<std::uint8_t>> frames;
  int metrics = 0;
  int forgets = 0;
};

// One meshpoint plugin, created through its descriptor; started by start().
struct Node {
  Node(mh::core::EventLoop& loop, const std::string& config) : host(loop) {
    const mh::PluginDescriptor& d = *meshhost_plugin_v1();
    const mh::Status created = d.create(&host, mh::Str::of(config), &plugin);
    INFO(text_of(created.message));
    REQUIRE(created.ok());
  }
  mh::Status start() {
    const mh::Status started = plugin->start();
    if (!started.ok()) return started;
    running = true;
    mh::Service* service = host.lookup("link.meshpoint");
    REQUIRE(service != nullptr);
    driver = static_cast<mh::LinkDriver*>(service->query(mh::kLinkDriverInterface));
    REQUIRE(driver != nullptr);
    driver->set_observer(&observer);
    mh::Service* metrics = host.lookup("linkmetric.meshpoint");
    REQUIRE(metrics != nullptr);
    source = static_cast<mh::LinkMetricSource*>(metrics->query(mh::kLinkMetricSourceInterface));
    REQUIRE(source != nullptr);
    source->set_metric_observer(&observer);
    return started;
  }
  ~Node() {
    if (running) {
      source->set_metric_observer(nullptr);
      driver->set_observer(nullptr);
      plugin->stop();
    }
    meshhost_plugin_v1()->destroy(plugin);
  }
  LoopHost host;
  mh::Plugin* plugin = nullptr;
  mh::LinkDriver* driver = nullptr;
  mh::LinkMetricSource* source = nullptr;
  Switch observer;
  bool running = false;
};

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

TEST_CASE("unmanaged on a veth pair: a meshpoint link that carries frames and beacons, without station figures") {
  enter_private_network();
  VethPair veth("mp-a", "mp-b");
  sh("ip link set mp-a up");
  sh("ip link set mp-b up");
  const auto mac_a = mac_of("mp-a");
  const auto mac_b = mac_of("mp-b");

  mh::core::EventLoop loop;
  const std::string common = R"(, "manage": false, "stationIntervalMs": 100, "beacon": {"mode": "send", "intervalMs": 100}})";
  Node a(loop, R"({"interface": {"name": "mp-a"})" + common);
  Node b(loop, R"({"interface": {"name": "mp-b"})" + common);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  REQUIRE(run_until(loop, [&] { return a.observer.link("meshpoint/mp-a") && b.observer.link("meshpoint/mp-b"); }));
  mh::Link* link_a = a.observer.link("meshpoint/mp-a");
  CHECK(link_a->mtu() == 1500 - 4);

  // Beacons: each hears the other's key at the other's MAC.
  REQUIRE(run_until(loop, [&] { return !a.observer.hints.empty() && !b.observer.hints.empty(); }));
  CHECK(a.observer.hints.front().link == "meshpoint/mp-a");
  CHECK(same_key(a.observer.hints.front().key, b.host.public_key()));
  CHECK(a.observer.hints.front().mac == mac_b);
  CHECK(b.observer.hints.front().mac == mac_a);

  // A frame from a to b's MAC arrives whole.
  mh::Packet* packet = link_a->pool()->acquire();
  REQUIRE(packet != nullptr);
  std::uint8_t* at = packet->append(100);
  for (int i = 0; i < 100; ++i) at[i] = static_cast<std::uint8_t>(i);
  at[0] = mh::kFrameVersion;
  at[1] = static_cast<std::uint8_t>(mh::FrameType::transport);
  const std::vector<std::uint8_t> sent(at, at + 100);
  packet->endpoint = mh::ether::make_endpoint(mac_b, 0);
  CHECK(link_a->send(&packet, 1) == 1);
  REQUIRE(run_until(loop, [&] { return !b.observer.frames.empty(); }));
  CHECK(b.observer.frames.front() == sent);
  CHECK(a.host.fake.counter_value("meshpoint_frames_sent_total", {{"link", "meshpoint/mp-a"}}) == 1u);
  CHECK(*b.host.fake.counter_value("meshpoint_beacons_received_total", {{"link", "meshpoint/mp-b"}}) >= 1u);

  // A veth has no stations: said once, nothing reported, the gauge at 0, and the admin
  // method shows the link and the node it heard.
  REQUIRE(run_until(loop, [&] { return a.host.fake.logged("mp-a: no station figures, frames only", mh::LogLevel::info); }));
  loop.poll();
  CHECK(a.observer.metrics == 0);
  CHECK(a.host.fake.gauge_value("meshpoint_stations") == 0.0);
  const auto [status, stations] = a.host.fake.call_admin("meshpoint.stations");
  CHECK(status.ok());
  INFO(stations);
  CHECK(stations.find("\"state\":\"up\"") != std::string::npos);
  CHECK(stations.find("\"link\":\"meshpoint/mp-a\"") != std::string::npos);
  CHECK(stations.find("\"radio\":false") != std::string::npos);
  CHECK(stations.find("\"managed\":false") != std::string::npos);
  CHECK(stations.find("\"stations\":[]") != std::string::npos);

  // Down and up again: the link goes and comes back.
  sh("ip link set mp-a down");
  REQUIRE(run_until(loop, [&] { return a.observer.heard_down("meshpoint/mp-a"); }));
  CHECK(a.host.fake.call_admin("meshpoint.stations").second.find("\"state\":\"down\"") != std::string::npos);
  sh("ip link set mp-a up");
  REQUIRE(run_until(loop, [&] { return a.observer.link("meshpoint/mp-a") != nullptr; }));

  // SIGHUP: a beacon change applies in place, a new interface takes a restart.
  struct : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override { ++count; }
    int count = 0;
  } errors;
  CHECK(a.plugin->reconfigure(R"({"interface": {"name": "mp-a"}, "manage": false})", &errors) ==
        mh::ReconfigureResult::applied);
  CHECK(a.plugin->reconfigure(R"({"interface": {"name": "mp-x"}, "manage": false})", &errors) ==
        mh::ReconfigureResult::restart_required);
  CHECK(a.plugin->reconfigure(R"({"interface": 5})", &errors) == mh::ReconfigureResult::error);
  CHECK(errors.count == 1);
  CHECK(a.observer.link("meshpoint/mp-a") != nullptr);
}

TEST_CASE("an unmanaged interface that appears after start becomes the link") {
  enter_private_network();
  mh::core::EventLoop loop;
  Node node(loop, R"({"interface": {"name": "mp-c"}, "manage": false})");
  REQUIRE(node.start().ok());
  CHECK(node.host.fake.logged("mp-c: no such interface yet", mh::LogLevel::warn));
  CHECK(node.host.fake.call_admin("meshpoint.stations").second.find("\"state\":\"missing\"") != std::string::npos);
  VethPair veth("mp-c", "mp-d");
  sh("ip link set mp-c up");
  sh("ip link set mp-d up");
  REQUIRE(run_until(loop, [&] { return node.observer.link("meshpoint/mp-c") != nullptr; }));
  sh("ip link del mp-c");
  REQUIRE(run_until(loop, [&] { return node.observer.links.empty(); }));
}

TEST_CASE("a managed config on an interface that is no mesh point stops the start with one line") {
  enter_private_network();
  VethPair veth("mp-e", "mp-f");
  mh::core::EventLoop loop;
  Node node(loop, R"({"interface": {"name": "mp-e"}, "meshId": "m", "channel": 1})");
  const mh::Status started = node.start();
  REQUIRE_FALSE(started.ok());
  const std::string message = text_of(started.message);
  INFO(message);
  // Either the kernel has no nl80211 at all (this VM), or it does and mp-e is no 802.11
  // interface: one line either way, naming what failed.
  CHECK(message.find('\n') == std::string::npos);
  CHECK((message.rfind("nl80211: ", 0) == 0 || message.rfind("mp-e: ", 0) == 0));
  // Nothing was changed: the veth is still down.
  bool up = true;
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq request = {};
    std::snprintf(request.ifr_name, sizeof request.ifr_name, "mp-e");
    REQUIRE(::ioctl(fd, SIOCGIFFLAGS, &request) == 0);
    ::close(fd);
    up = (request.ifr_flags & IFF_UP) != 0;
  }
  CHECK_FALSE(up);
}
