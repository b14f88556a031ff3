// tun's data path with a fake Sessions and FakeHost; a SOCK_SEQPACKET socketpair stands in
// for the TUN descriptor (one packet per read and per write, as IFF_NO_PI gives), so the
// test plays the kernel on the other end.
#include "tun_forwarder.hpp"
#include "tun_test_support.hpp"

#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace {

using namespace mh;
using namespace mh::tun;
using fakes::Bytes;

constexpr std::uint64_t kSecond = 1'000'000'000;

struct Rig {
  Rig() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    device = fds[0];
    kernel = fds[1];
    self = host.address();
    REQUIRE(forwarder.start(device).ok());
  }
  ~Rig() {
    forwarder.stop();
    ::close(device);
    ::close(kernel);
  }

  // The kernel routes `packet` into the device.
  void from_kernel(const Bytes& packet) { REQUIRE(::write(kernel, packet.data(), packet.size()) == static_cast<ssize_t>(packet.size())); }
  // The loop reports the device readable once.
  void wake() { host.fake_loop().fire_fd(device, kFdReadable); }
  // What tun wrote to the kernel, in order.
  std::vector<Bytes> to_kernel() {
    std::vector<Bytes> out;
    for (;;) {
      Bytes buffer(70000);
      const ssize_t n = ::read(kernel, buffer.data(), buffer.size());
      if (n < 0) break;
      buffer.resize(static_cast<std::size_t>(n));
      out.push_back(std::move(buffer));
    }
    return out;
  }
  std::uint64_t dropped(const std::string& reason) {
    return host.counter_value("meshhost_tun_dropped_total", {{"reason", reason}}).value_or(999999);
  }
  std::uint64_t metric(const std::string& name, const std::string& direction) {
    return host.counter_value(name, {{"direction", direction}}).value_or(999999);
  }

  mh::testing::FakeHost host{"tun"};
  fakes::FakeSessions sessions;
  TunForwarder forwarder{&host, &sessions, {3 * kSecond, 600 * kSecond}};
  int device = -1;
  int kernel = -1;
  Address self;
};

const Address kA = fakes::address_with(0xfc, 0xa);
const Address kB = fakes::address_with(0xfc, 0xb);

std::uint32_t u32(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// Checks `icmp` is an ICMPv6 error of `type`/`code` about `invoking`, with a checksum
// that the independent reference agrees with; returns its 32-bit word (the MTU for PTB).
std::uint32_t check_icmp_error(const Bytes& icmp, std::uint8_t type, std::uint8_t code, const Bytes& invoking) {
  REQUIRE(icmp.size() >= 48);
  CHECK(icmp.size() <= 1280);
  CHECK((icmp[0] >> 4) == 6);
  CHECK(icmp[6] == 58);
  CHECK(std::memcmp(icmp.data() + 8, invoking.data() + 24, 16) == 0);  // from the destination
  CHECK(std::memcmp(icmp.data() + 24, invoking.data() + 8, 16) == 0);  // to the source
  CHECK(icmp[40] == type);
  CHECK(icmp[41] == code);
  Bytes message(icmp.begin() + 40, icmp.end());
  const std::uint16_t written = static_cast<std::uint16_t>((message[2] << 8) | message[3]);
  message[2] = message[3] = 0;
  Address source, destination;
  std::memcpy(source.bytes, icmp.data() + 8, 16);
  std::memcpy(destination.bytes, icmp.data() + 24, 16);
  CHECK(written == fakes::reference_checksum(source, destination, 58, message));
  const std::size_t quoted = std::min<std::size_t>(invoking.size(), 1232);
  CHECK(icmp.size() == 48 + quoted);
  CHECK(std::memcmp(icmp.data() + 48, invoking.data(), quoted) == 0);
  return u32(icmp, 44);
}

}  // namespace

TEST_CASE("packets from the kernel go to their destination's session, batched by destination") {
  Rig rig;
  const Bytes a1 = fakes::udp6(rig.self, kA, 1, 2, {1});
  const Bytes a2 = fakes::udp6(rig.self, kA, 1, 2, {2, 2});
  const Bytes b1 = fakes::udp6(rig.self, kB, 1, 2, {3, 3, 3});
  const Bytes a3 = fakes::udp6(rig.self, kA, 1, 2, {4});
  for (const Bytes* p : {&a1, &a2, &b1, &a3}) rig.from_kernel(*p);
  rig.wake();

  REQUIRE(rig.sessions.sent.size() == 3);
  CHECK(same_address(rig.sessions.sent[0].destination, kA));
  CHECK(rig.sessions.sent[0].packets == std::vector<Bytes>{a1, a2});
  CHECK(same_address(rig.sessions.sent[1].destination, kB));
  CHECK(rig.sessions.sent[1].packets == std::vector<Bytes>{b1});
  CHECK(same_address(rig.sessions.sent[2].destination, kA));
  CHECK(rig.sessions.sent[2].packets == std::vector<Bytes>{a3});
  for (const auto& sent : rig.sessions.sent) {
    CHECK(sent.protocol == kProtocolTun);
    CHECK(sent.min_headroom >= kSessionHeadroom);
  }
  CHECK(rig.metric("meshhost_tun_packets_total", "out") == 4);
  CHECK(rig.metric("meshhost_tun_bytes_total", "out") == a1.size() + a2.size() + b1.size() + a3.size());
  CHECK(rig.forwarder.stats().packets_out == 4);
  CHECK(rig.sessions.fixed_pool().in_use() == 0);
}

TEST_CASE("one wake-up reads a bounded batch; the rest waits for the next") {
  Rig rig;
  for (int i = 0; i < 100; ++i) rig.from_kernel(fakes::udp6(rig.self, kA, 1, 2, {static_cast<std::uint8_t>(i)}));
  rig.wake();
  REQUIRE(rig.sessions.sent.size() == 1);
  CHECK(rig.sessions.sent[0].packets.size() == TunForwarder::kReadBatch);
  rig.wake();
  REQUIRE(rig.sessions.sent.size() == 2);
  CHECK(rig.sessions.sent[1].packets.size() == 100 - TunForwarder::kReadBatch);
  CHECK(rig.sessions.sent[1].packets.back().back() == 99);  // in order
}

TEST_CASE("what the kernel must not send into the mesh is dropped and counted") {
  Rig rig;
  rig.from_kernel({0x45, 0, 0, 20});                                                // not IPv6
  rig.from_kernel(fakes::udp6(rig.self, fakes::address_with(0xff, 2), 1, 2, {}));  // multicast
  rig.from_kernel(fakes::udp6(rig.self, fakes::address_with(0xfe, 0x80), 1, 2, {}));
  rig.from_kernel(fakes::udp6(kB, kA, 1, 2, {}));            // not from this node
  rig.from_kernel(fakes::udp6(rig.self, rig.self, 1, 2, {}));  // to this node
  rig.wake();
  CHECK(rig.sessions.sent.empty());
  CHECK(rig.dropped("bad_packet") == 1);
  CHECK(rig.dropped("not_mesh") == 2);
  CHECK(rig.dropped("wrong_source") == 1);
  CHECK(rig.dropped("to_self") == 1);
  CHECK(rig.to_kernel().empty());
  CHECK(rig.sessions.fixed_pool().in_use() == 0);
}

TEST_CASE("packets from a session reach the kernel only from its address and to this node") {
  Rig rig;
  const SessionPeer peer{PublicKey{}, kA};
  const Bytes good = fakes::udp6(kA, rig.self, 7, 8, {'h', 'i'});
  const Bytes spoofed = fakes::udp6(kB, rig.self, 7, 8, {'x'});
  const Bytes elsewhere = fakes::udp6(kA, kB, 7, 8, {'y'});
  const Bytes bad = {0x60, 0, 0, 5};
  rig.sessions.deliver(peer, {good, spoofed, elsewhere, bad, good});

  CHECK(rig.to_kernel() == std::vector<Bytes>{good, good});
  CHECK(rig.dropped("spoofed_source") == 1);
  CHECK(rig.dropped("wrong_destination") == 1);
  CHECK(rig.dropped("bad_packet") == 1);
  CHECK(rig.metric("meshhost_tun_packets_total", "in") == 2);
  CHECK(rig.metric("meshhost_tun_bytes_total", "in") == 2 * good.size());
  CHECK(rig.sessions.fixed_pool().in_use() == 0);
}

TEST_CASE("a full kernel queue drops the packet and counts it") {
  Rig rig;
  const Bytes filler(1000, 0);
  while (::write(rig.device, filler.data(), filler.size()) > 0) {
  }
  REQUIRE(errno == EAGAIN);
  rig.sessions.deliver({PublicKey{}, kA}, {fakes::udp6(kA, rig.self, 7, 8, {1})});
  CHECK(rig.dropped("tun_full") == 1);
  CHECK(rig.metric("meshhost_tun_packets_total", "in") == 0);
  CHECK(rig.sessions.fixed_pool().in_use() == 0);
}

TEST_CASE("a packet larger than the path carries is answered with Packet Too Big") {
  Rig rig;
  rig.sessions.max_payload_bytes = 1300;
  const Bytes small = fakes::udp6_of_size(rig.self, kA, 1300);
  const Bytes big = fakes::udp6_of_size(rig.self, kA, 1400);
  rig.from_kernel(small);
  rig.from_kernel(big);
  rig.from_kernel(small);
  rig.wake();

  REQUIRE(rig.sessions.sent.size() == 1);
  CHECK(rig.sessions.sent[0].packets == std::vector<Bytes>{small, small});  // the big one left the run
  const std::vector<Bytes> back = rig.to_kernel();
  REQUIRE(back.size() == 1);
  CHECK(check_icmp_error(back[0], 2, 0, big) == 1300);
  CHECK(rig.dropped("too_big") == 1);
  CHECK(rig.forwarder.stats().icmp_errors == 1);
}

TEST_CASE("a too-big hint lowers the path MTU for a while, never below 1280") {
  Rig rig;
  rig.sessions.max_payload_bytes = 1400;
  SessionError hint;
  hint.kind = SessionError::Kind::too_big;
  hint.destination = kA;
  hint.protocol = kProtocolTun;
  hint.mtu = 1000;
  rig.sessions.report(hint);

  const Bytes packet = fakes::udp6_of_size(rig.self, kA, 1350);
  rig.from_kernel(packet);
  rig.from_kernel(fakes::udp6_of_size(rig.self, kB, 1350));  // another destination is not affected
  rig.wake();
  std::vector<Bytes> back = rig.to_kernel();
  REQUIRE(back.size() == 1);
  CHECK(check_icmp_error(back[0], 2, 0, packet) == 1280);
  REQUIRE(rig.sessions.sent.size() == 1);
  CHECK(same_address(rig.sessions.sent[0].destination, kB));

  rig.host.fake_loop().advance(600 * kSecond);  // the hint expired
  rig.from_kernel(packet);
  rig.wake();
  CHECK(rig.sessions.sent.size() == 2);
  CHECK(rig.to_kernel().empty());
}

TEST_CASE("after no route to a node, its packets are answered with Destination Unreachable for a while") {
  Rig rig;
  rig.sessions.refuse_with = SessionError::Kind::no_route;
  const Bytes first = fakes::udp6(rig.self, kA, 1, 2, {1});
  rig.from_kernel(first);
  rig.wake();
  CHECK(rig.dropped("send_failed") == 1);
  CHECK(rig.to_kernel().empty());  // the first one fails silently: the error comes after

  rig.sessions.refuse_with.reset();
  const Bytes second = fakes::udp6(rig.self, kA, 1, 2, {2});
  rig.from_kernel(second);
  rig.wake();
  const std::vector<Bytes> back = rig.to_kernel();
  REQUIRE(back.size() == 1);
  check_icmp_error(back[0], 1, 0, second);
  CHECK(rig.sessions.sent.empty());
  CHECK(rig.dropped("unreachable") == 1);
  CHECK(rig.forwarder.troubled_destinations() == 1);

  rig.host.fake_loop().advance(3 * kSecond);  // the mark expired: packets are tried again
  rig.from_kernel(second);
  rig.wake();
  CHECK(rig.sessions.sent.size() == 1);
  CHECK(rig.to_kernel().empty());
  CHECK(rig.forwarder.troubled_destinations() == 0);
}

TEST_CASE("a node without tun is answered with address unreachable") {
  Rig rig;
  SessionError error;
  error.kind = SessionError::Kind::no_receiver;
  error.destination = kA;
  error.protocol = kProtocolTun;
  rig.sessions.report(error);
  const Bytes packet = fakes::udp6(rig.self, kA, 1, 2, {1});
  rig.from_kernel(packet);
  rig.wake();
  const std::vector<Bytes> back = rig.to_kernel();
  REQUIRE(back.size() == 1);
  check_icmp_error(back[0], 1, 3, packet);
}

TEST_CASE("with the pool empty, packets are read and dropped, never left to spin the loop") {
  Rig rig;
  std::vector<Packet*> held;
  while (Packet* p = rig.sessions.fixed_pool().acquire()) held.push_back(p);
  rig.from_kernel(fakes::udp6(rig.self, kA, 1, 2, {1}));
  rig.from_kernel(fakes::udp6(rig.self, kA, 1, 2, {2}));
  rig.wake();
  CHECK(rig.dropped("no_buffers") == 2);
  CHECK(rig.sessions.sent.empty());
  Bytes probe(10);
  CHECK(::recv(rig.device, probe.data(), probe.size(), MSG_PEEK | MSG_DONTWAIT) < 0);  // the queue is empty
  for (Packet* p : held) p->release();
  rig.from_kernel(fakes::udp6(rig.self, kA, 1, 2, {3}));
  rig.wake();
  CHECK(rig.sessions.sent.size() == 1);
}

TEST_CASE("stop gives the protocol back and stops watching the device") {
  Rig rig;
  CHECK(rig.sessions.receiver() != nullptr);
  CHECK(rig.host.fake_loop().watch_count() == 1);
  rig.forwarder.stop();
  CHECK(rig.sessions.receiver() == nullptr);
  CHECK(rig.host.fake_loop().watch_count() == 0);
  rig.forwarder.stop();  // twice is fine
}

TEST_CASE("a device that fails is no longer watched, so the loop does not spin, and the log says so") {
  Rig rig;
  ::shutdown(rig.kernel, SHUT_WR);  // reads on the device end now fail at once, forever
  rig.wake();
  CHECK(rig.host.fake_loop().watched_events(rig.device) == 0);
  CHECK(rig.host.logged("reading the TUN device failed", LogLevel::error));
}
