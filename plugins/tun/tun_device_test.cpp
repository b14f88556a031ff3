// The tun plugin on a real TUN device, as root, in a private network namespace: a forked
// child unshares one (so this process's namespace is never touched), drives the plugin
// through its descriptor on the host's real event loop with a fake Sessions, and reports
// what the kernel shows as "key value" lines over a pipe; the parent checks them. Checked:
// the address with prefix 8 and no DAD, the fc00::/8 route, the MTU, the link up; a UDP
// datagram a socket sends to another fc00::/8 address comes out of the sessions; a packet
// a session hands in reaches a socket bound to the node's address, a spoofed one does
// not; the kernel accepts tun's Packet Too Big; stop removes the device.
// Without root, or where namespaces cannot be made, the test reports itself skipped
// (exit 77, CTest's SKIP_RETURN_CODE) with the reason.
#include "child_facts.hpp"
#include "event_loop.hpp"
#include "ipv6.hpp"
#include "tun_test_support.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using mh::tun::fakes::Bytes;

constexpr const char* kDevice = "mhtest0";
constexpr std::uint16_t kOutPort = 9999;
constexpr std::uint16_t kInPort = 7777;

// A Host whose loop is the real one; everything else comes from the SDK's FakeHost.
class LoopHost final : public mh::Host {
 public:
  explicit LoopHost(mh::core::EventLoop& loop) : loop_(loop) {}
  mh::Str plugin_name() const noexcept override { return fake.plugin_name(); }
  void log(mh::LogLevel level, mh::Str message) noexcept override { fake.log(level, message); }
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

  mh::testing::FakeHost fake{"tun"};

 private:
  mh::core::EventLoop& loop_;
};

bool run_until(mh::core::EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.poll();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string hex(const std::uint8_t* bytes, std::size_t n) {
  std::string out;
  char two[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(two, sizeof two, "%02x", bytes[i]);
    out += two;
  }
  return out;
}

sockaddr_in6 socket_address(const mh::Address& address, std::uint16_t port) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, address.bytes, 16);
  return sa;
}

// Waits up to `timeout_ms` for a datagram on `fd`; "" when none came.
std::string receive(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return {};
  char buffer[2048];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// The child's whole job, in the new namespace; every fact goes to `out` as one line.
int run_in_namespace(std::ostream& out) {
  if (::unshare(CLONE_NEWNET) != 0) {
    out << "skip cannot unshare the network namespace: " << std::strerror(errno) << "\n";
    return 77;
  }
  // Loopback up, as any namespace the node runs in has it.
  {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq request{};
    std::snprintf(request.ifr_name, sizeof request.ifr_name, "lo");
    ::ioctl(s, SIOCGIFFLAGS, &request);
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    ::ioctl(s, SIOCSIFFLAGS, &request);
    ::close(s);
  }

  mh::core::EventLoop loop;
  LoopHost host(loop);
  mh::tun::fakes::FakeSessions sessions;
  sessions.max_payload_bytes = 1400;
  host.fake.add_service("sessions", &sessions);
  const mh::Address self = host.address();
  const mh::Address peer = mh::generate_node_key().addr;
  out << "self " << hex(self.bytes, 16) << "\n";
  out << "peer " << hex(peer.bytes, 16) << "\n";

  const mh::PluginDescriptor* descriptor = meshhost_plugin_v1();
  mh::Plugin* plugin = nullptr;
  const std::string config = std::string(R"({"name": ")") + kDevice + R"(", "mtu": 1400})";
  if (!descriptor->create(&host, mh::Str::of(config), &plugin).ok()) {
    out << "create failed\n";
    return 1;
  }
  const mh::Status started = plugin->start();
  out << "start " << (started.ok() ? std::string("ok") : std::string(started.message.data, started.message.size)) << "\n";
  if (!started.ok()) {
    descriptor->destroy(plugin);
    return 0;
  }

  // What the kernel shows. /sys is the parent namespace's mount; ioctl and /proc/net are ours.
  const unsigned ifindex = ::if_nametoindex(kDevice);
  out << "ifindex " << ifindex << "\n";
  {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq request{};
    std::snprintf(request.ifr_name, sizeof request.ifr_name, "%s", kDevice);
    if (::ioctl(s, SIOCGIFMTU, &request) == 0) out << "mtu " << request.ifr_mtu << "\n";
    if (::ioctl(s, SIOCGIFFLAGS, &request) == 0) out << "up " << ((request.ifr_flags & IFF_UP) ? "yes" : "no") << "\n";
    ::close(s);
  }
  {
    std::ifstream addresses("/proc/net/if_inet6");
    std::string address, index, prefix, scope, flags, name;
    while (addresses >> address >> index >> prefix >> scope >> flags >> name) {
      if (name == kDevice && address == hex(self.bytes, 16)) {
        out << "address " << address << "\n" << "prefix " << prefix << "\n" << "address_flags " << flags << "\n";
      }
    }
    std::ifstream routes("/proc/net/ipv6_route");
    std::string line;
    while (std::getline(routes, line)) {
      std::istringstream fields(line);
      std::string destination, length, rest, device;
      fields >> destination >> length;
      for (int i = 0; i < 7; ++i) fields >> rest;
      fields >> device;
      if (device == kDevice && length == "08" && destination.rfind("fc", 0) == 0) out << "route " << destination << "/" << length << "\n";
    }
  }
  {
    const auto [status, json] = host.fake.call_admin("tun.status");
    out << "status " << (status.ok() ? json : "error") << "\n";
  }

  // A socket's datagram to another node leaves through the device into the sessions.
  const int sender = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sockaddr_in6 to_peer = socket_address(peer, kOutPort);
  const std::string hello = "hello through tun";
  ::sendto(sender, hello.data(), hello.size(), 0, reinterpret_cast<const sockaddr*>(&to_peer), sizeof to_peer);
  const bool sent = run_until(loop, [&] { return !sessions.sent.empty(); });
  out << "sent " << (sent ? "yes" : "no") << "\n";
  if (sent) {
    const auto& first = sessions.sent.front();
    out << "sent_destination " << hex(first.destination.bytes, 16) << "\n";
    out << "sent_protocol " << first.protocol << "\n";
    const Bytes& packet = first.packets.front();
    const std::string text(packet.begin() + std::min<std::size_t>(packet.size(), 48), packet.end());
    out << "sent_payload " << text << "\n";
    out << "sent_source " << (packet.size() >= 24 ? hex(packet.data() + 8, 16) : "") << "\n";
  }

  // A packet from the session reaches a socket bound to our address; a spoofed one does not.
  const int receiver = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sockaddr_in6 ours = socket_address(self, kInPort);
  out << "bind " << (::bind(receiver, reinterpret_cast<const sockaddr*>(&ours), sizeof ours) == 0 ? "ok" : std::strerror(errno))
      << "\n";
  const Bytes payload = {'f', 'r', 'o', 'm', ' ', 'm', 'e', 's', 'h'};
  const mh::SessionPeer from{mh::PublicKey{}, peer};
  sessions.deliver(from, {mh::tun::fakes::udp6(peer, self, 5555, kInPort, payload)});
  out << "received " << receive(receiver, 2000) << "\n";
  const Bytes spoofed_payload = {'s', 'p', 'o', 'o', 'f'};
  sessions.deliver(from, {mh::tun::fakes::udp6(mh::generate_node_key().addr, self, 5555, kInPort, spoofed_payload)});
  out << "received_spoofed " << receive(receiver, 300) << "\n";
  out << "spoofed_counted " << host.fake.counter_value("meshhost_tun_dropped_total", {{"reason", "spoofed_source"}}).value_or(0)
      << "\n";

  // The path shrinks: tun answers the next big datagram with Packet Too Big, and the
  // kernel (which checks the checksum) lowers its path MTU to the peer.
  sessions.max_payload_bytes = 1300;
  ::connect(sender, reinterpret_cast<const sockaddr*>(&to_peer), sizeof to_peer);
  const std::string big(1320, 'b');
  ::send(sender, big.data(), big.size(), 0);
  int path_mtu = 0;
  run_until(loop, [&] {
    socklen_t size = sizeof path_mtu;
    return ::getsockopt(sender, IPPROTO_IPV6, IPV6_MTU, &path_mtu, &size) == 0 && path_mtu == 1300;
  });
  out << "path_mtu " << path_mtu << "\n";
  ::close(sender);
  ::close(receiver);

  // A node the sessions have no route to: the first datagram is refused silently, the
  // next one is answered with Destination Unreachable (no route), which the kernel
  // accepts (checksum and all) and queues as the socket's error.
  {
    const mh::Address lost = mh::generate_node_key().addr;
    const int s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    ::setsockopt(s, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    const sockaddr_in6 to_lost = socket_address(lost, kOutPort);
    ::connect(s, reinterpret_cast<const sockaddr*>(&to_lost), sizeof to_lost);
    out << "sent_before_unreachable " << sessions.sent.size() << "\n";
    sessions.refuse_with = mh::SessionError::Kind::no_route;
    const std::string probe = "anyone there?";
    ::send(s, probe.data(), probe.size(), 0);
    run_until(loop, [&] {
      return host.fake.counter_value("meshhost_tun_dropped_total", {{"reason", "send_failed"}}).value_or(0) >= 1;
    });
    sessions.refuse_with.reset();
    ::send(s, probe.data(), probe.size(), 0);
    sock_extended_err seen{};
    run_until(loop, [&] {
      char data[256], control[512];
      iovec iov{data, sizeof data};
      msghdr message{};
      message.msg_iov = &iov;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      if (::recvmsg(s, &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR) std::memcpy(&seen, CMSG_DATA(c), sizeof seen);
      }
      return true;
    });
    out << "unreachable_error " << static_cast<int>(seen.ee_origin) << " " << static_cast<int>(seen.ee_type) << " "
        << static_cast<int>(seen.ee_code) << " " << seen.ee_errno << "\n";
    out << "unreachable_sent " << sessions.sent.size() << "\n";
    ::close(s);
  }

  // Names already taken: by our own running device, and by an interface that is no TUN.
  for (const char* name : {kDevice, "lo"}) {
    LoopHost other_host(loop);
    mh::tun::fakes::FakeSessions other_sessions;
    other_host.fake.add_service("sessions", &other_sessions);
    mh::Plugin* other = nullptr;
    const std::string other_config = std::string(R"({"name": ")") + name + "\"}";
    if (!descriptor->create(&other_host, mh::Str::of(other_config), &other).ok()) return 1;
    const mh::Status refused = other->start();
    out << "taken_" << name << " " << (refused.ok() ? std::string("started") : std::string(refused.message.data, refused.message.size))
        << "\n";
    if (refused.ok()) other->stop();
    descriptor->destroy(other);
  }

  plugin->stop();
  out << "after_stop_ifindex " << ::if_nametoindex(kDevice) << "\n";
  descriptor->destroy(plugin);
  return 0;
}

[[noreturn]] void skip(const std::string& reason) { mh::testing_support::skip_test("tun_device_test: SKIPPED: " + reason); }

}  // namespace

TEST_CASE("the plugin puts the node's address on a real TUN device and carries packets both ways") {
  if (::geteuid() != 0) skip("needs root (a TUN device in a private network namespace)");
  mh::testing_support::ChildReport child = mh::testing_support::run_in_child(run_in_namespace);
  INFO("the child reported:\n" << child.text);
  if (child.exit_code == 77) skip(child.facts["skip"]);
  REQUIRE(child.exit_code == 0);
  std::map<std::string, std::string>& facts = child.facts;

  REQUIRE(facts["start"] == "ok");
  CHECK(facts["ifindex"] != "0");
  CHECK(facts["mtu"] == "1400");
  CHECK(facts["up"] == "yes");
  CHECK(facts["address"] == facts["self"]);
  CHECK(facts["prefix"] == "08");
  CHECK((std::stoul(facts["address_flags"], nullptr, 16) & 0x02) != 0);  // IFA_F_NODAD
  CHECK(facts["route"] == "fc000000000000000000000000000000/08");
  CHECK(facts["status"].find(std::string("\"name\":\"") + kDevice + "\"") != std::string::npos);
  CHECK(facts["status"].find("\"mtu\":1400") != std::string::npos);
  CHECK(facts["status"].find("\"ifindex\":" + facts["ifindex"]) != std::string::npos);

  CHECK(facts["sent"] == "yes");
  CHECK(facts["sent_destination"] == facts["peer"]);
  CHECK(facts["sent_source"] == facts["self"]);
  CHECK(facts["sent_protocol"] == std::to_string(mh::kProtocolTun));
  CHECK(facts["sent_payload"] == "hello through tun");

  CHECK(facts["bind"] == "ok");
  CHECK(facts["received"] == "from mesh");
  CHECK(facts["received_spoofed"] == "");
  CHECK(facts["spoofed_counted"] == "1");
  CHECK(facts["path_mtu"] == "1300");
  // origin ICMP6 (3), type 1 (Destination Unreachable), code 0 (no route), ENETUNREACH
  CHECK(facts["unreachable_error"] == "3 1 0 " + std::to_string(ENETUNREACH));
  CHECK(facts["unreachable_sent"] == facts["sent_before_unreachable"]);
  CHECK(facts["taken_mhtest0"] == "tun device mhtest0: the TUN device is already in use by another process");
  CHECK(facts["taken_lo"] == "tun device lo: the name is taken by an interface that is not a TUN device");
  CHECK(facts["after_stop_ifindex"] == "0");
}
