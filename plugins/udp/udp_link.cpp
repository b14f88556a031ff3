// A bound UDP socket as an mh::Link: see udp_link.hpp.
#include "udp_link.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mh::udp {

namespace {

constexpr std::uint8_t kIPv6AllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};  // ff02::1

Status errno_status(Host* host, const char* what, int error) noexcept {
  try {
    const std::string message = std::string(what) + ": " + std::strerror(error);
    return host->fail(StatusCode::io_error, Str::of(message));
  } catch (...) {
    return Status::error(StatusCode::io_error, Str(what));
  }
}

// Whether the interface address `ifa` holds the address `bound` is bound to.
bool holds_address(const ifaddrs* ifa, const Endpoint& bound, Family family) noexcept {
  if (ifa->ifa_addr == nullptr) return false;
  if (family == Family::ipv4) {
    if (ifa->ifa_addr->sa_family != AF_INET) return false;
    return std::memcmp(&reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr)->sin_addr, bound.bytes, 4) == 0;
  }
  if (ifa->ifa_addr->sa_family != AF_INET6) return false;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr)->sin6_addr, bound.bytes, 16) == 0;
}

}  // namespace

const char* drop_reason_name(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::bad_frame: return "bad_frame";
    case DropReason::pool_exhausted: return "pool_exhausted";
    case DropReason::send_queue_full: return "send_queue_full";
    case DropReason::oversize: return "oversize";
    case DropReason::bad_endpoint: return "bad_endpoint";
    case DropReason::send_error: return "send_error";
    case DropReason::no_receiver: return "no_receiver";
    case DropReason::beacon_ignored: return "beacon_ignored";
    case DropReason::beacon_flood: return "beacon_flood";
    case DropReason::count_: break;
  }
  return "unknown";
}

UdpLink::UdpLink(Host* host, const Endpoint& bind, const link_common::LinkDriverConfig* config,
                 std::uint32_t fwmark, UdpLinkEvents* events)
    : host_(host),
      bind_(bind),
      bound_(bind),
      family_(endpoint_family(bind).value_or(Family::ipv4)),
      config_(config),
      fwmark_(fwmark),
      events_(events),
      pool_(kPoolPackets, kBufferSize, kHeadroom) {
  name_ = "udp/" + udp::format_endpoint(bind);
}

UdpLink::~UdpLink() { close(); }

Status UdpLink::open(int* error_number) noexcept {
  *error_number = 0;
  const int domain = family_ == Family::ipv4 ? AF_INET : AF_INET6;
  fd_ = ::socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) {
    *error_number = errno;
    return errno_status(host_, "socket", errno);
  }
  auto fail = [&](const char* what) {
    *error_number = errno;
    const Status status = errno_status(host_, what, errno);
    ::close(fd_);
    fd_ = -1;
    return status;
  };
  const int on = 1;
  if (family_ == Family::ipv4) {
    // Beacons go to broadcast addresses; the kernel fragments big outer datagrams rather
    // than dropping them (DESIGN §5: PMTU discovery off, DF clear).
    const int pmtu = IP_PMTUDISC_DONT;
    if (::setsockopt(fd_, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) != 0) return fail("setsockopt SO_BROADCAST");
    if (::setsockopt(fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0) return fail("setsockopt IP_MTU_DISCOVER");
  } else {
    // IPv4 has its own sockets, so no v4-mapped addresses ever appear here.
    const int pmtu = IPV6_PMTUDISC_DONT;
    const int off = 0;
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) return fail("setsockopt IPV6_V6ONLY");
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0) {
      return fail("setsockopt IPV6_MTU_DISCOVER");
    }
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_DONTFRAG, &off, sizeof off) != 0) return fail("setsockopt IPV6_DONTFRAG");
  }
  if (fwmark_ != 0 && ::setsockopt(fd_, SOL_SOCKET, SO_MARK, &fwmark_, sizeof fwmark_) != 0) {
    return fail("setsockopt SO_MARK (fwmark needs CAP_NET_ADMIN)");
  }
  // Best effort: the kernel caps these at net.core.[rw]mem_max.
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &kSocketBufferBytes, sizeof kSocketBufferBytes);
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &kSocketBufferBytes, sizeof kSocketBufferBytes);

  sockaddr_storage address;
  const socklen_t length = endpoint_to_sockaddr(bind_, &address);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) return fail("bind");
  socklen_t bound_length = sizeof address;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &bound_length) != 0) return fail("getsockname");
  if (const auto bound = endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(&address), bound_length)) {
    bound_ = *bound;
  }
  try {
    name_ = "udp/" + udp::format_endpoint(bound_);
  } catch (...) {
    // Keeps the configured name; only an allocation failed.
  }
  register_metrics();

  for (std::uint32_t i = 0; i < kBatchSize; ++i) {
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    tx_msgs_[i].msg_hdr.msg_iov = &tx_iov_[i];
    tx_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  if (const Status s = host_->loop()->watch_fd(fd_, kFdReadable, this, &watch_); !s.ok()) {
    ::close(fd_);
    fd_ = -1;
    return s;
  }
  return Status::success();
}

void UdpLink::close() noexcept {
  if (watch_ != nullptr) {
    watch_->release();
    watch_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  for (Packet*& packet : rx_packets_) {
    if (packet != nullptr) packet->release();
    packet = nullptr;
  }
}

void UdpLink::register_metrics() noexcept {
  const Label labels[] = {{"link", Str::of(name_)}};
  metrics_.frames_in = host_->counter("udp_frames_received_total", "Frames received on a udp link", labels, 1);
  metrics_.bytes_in = host_->counter("udp_bytes_received_total", "Bytes of frames received on a udp link", labels, 1);
  metrics_.frames_out = host_->counter("udp_frames_sent_total", "Frames a udp link handed to the kernel", labels, 1);
  metrics_.bytes_out = host_->counter("udp_bytes_sent_total", "Bytes of frames a udp link handed to the kernel", labels, 1);
  metrics_.beacons_sent = host_->counter("udp_beacons_sent_total", "Beacons a udp link sent", labels, 1);
  metrics_.beacons_received =
      host_->counter("udp_beacons_received_total", "Beacons from other nodes heard on a udp link", labels, 1);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const Label drop_labels[] = {{"link", Str::of(name_)}, {"reason", drop_reason_name(static_cast<DropReason>(i))}};
    metrics_.drops[i] = host_->counter("udp_drops_total", "Frames a udp link dropped, by reason", drop_labels, 2);
  }
}

void UdpLink::count_drop(DropReason reason, std::uint64_t n) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  stats_.drops[i] += n;
  add(metrics_.drops[i], n);
}

void UdpLink::count_beacon_received() noexcept {
  ++stats_.beacons_received;
  add(metrics_.beacons_received, 1);
}

void UdpLink::drop_packet(Packet* packet, DropReason reason) noexcept {
  packet->release();
  count_drop(reason);
}

std::size_t UdpLink::format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept {
  return udp::format_endpoint(endpoint, out, capacity);
}

void UdpLink::on_fd_ready(int /*fd*/, std::uint32_t events) noexcept {
  if ((events & kFdError) != 0) {
    // Reading SO_ERROR clears a pending error (an ICMP report) so the watch calms down.
    int error = 0;
    socklen_t length = sizeof error;
    (void)::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
  }
  if ((events & kFdReadable) != 0) receive_batch();
}

void UdpLink::receive_batch() noexcept {
  if (fd_ < 0) return;
  std::uint32_t ready = 0;  // slots [0, ready) hold a packet
  for (; ready < kBatchSize; ++ready) {
    if (rx_packets_[ready] == nullptr && (rx_packets_[ready] = pool_.acquire()) == nullptr) break;
  }
  if (ready == 0) {
    drain_without_packets();
    return;
  }
  for (std::uint32_t i = 0; i < ready; ++i) {
    Packet* packet = rx_packets_[i];
    rx_iov_[i] = {packet->data(), packet->tailroom()};
    msghdr& header = rx_msgs_[i].msg_hdr;
    header.msg_name = &rx_addrs_[i];
    header.msg_namelen = sizeof rx_addrs_[i];
    header.msg_control = nullptr;
    header.msg_controllen = 0;
    header.msg_flags = 0;
  }
  int received;
  do {
    received = ::recvmmsg(fd_, rx_msgs_.data(), ready, MSG_DONTWAIT, nullptr);
  } while (received < 0 && errno == EINTR);
  if (received <= 0) return;  // EAGAIN: another wake-up read it; the packets stay for next time

  std::size_t up = 0;
  std::uint64_t frames_in = 0, bytes_in = 0;
  for (int i = 0; i < received; ++i) {
    Packet* packet = rx_packets_[i];
    rx_packets_[i] = nullptr;  // handed on or released below
    const msghdr& header = rx_msgs_[i].msg_hdr;
    packet->length = rx_msgs_[i].msg_len;
    if ((header.msg_flags & MSG_TRUNC) != 0) {
      drop_packet(packet, DropReason::oversize);
      continue;
    }
    const auto from = endpoint_from_sockaddr(reinterpret_cast<const sockaddr*>(&rx_addrs_[i]), header.msg_namelen);
    if (!from || packet->length < 2 || packet->data()[0] != kFrameVersion) {
      drop_packet(packet, DropReason::bad_frame);
      continue;
    }
    ++frames_in;
    bytes_in += packet->length;
    packet->endpoint = *from;
    if (link_common::is_beacon_frame(packet->view())) {
      const auto beacon = link_common::parse_beacon(packet->view());
      if (!beacon) {
        drop_packet(packet, DropReason::bad_frame);
        continue;
      }
      const Endpoint sender = packet->endpoint;
      packet->release();
      events_->on_beacon(this, sender, *beacon);
      continue;
    }
    rx_up_[up++] = packet;
  }
  // Slots past `received` keep their packets; compact them to the front for next time.
  std::uint32_t next = 0;
  for (std::uint32_t i = 0; i < kBatchSize; ++i) {
    if (rx_packets_[i] != nullptr) {
      Packet* packet = rx_packets_[i];
      rx_packets_[i] = nullptr;
      rx_packets_[next++] = packet;
    }
  }
  stats_.frames_in += frames_in;
  stats_.bytes_in += bytes_in;
  add(metrics_.frames_in, frames_in);
  add(metrics_.bytes_in, bytes_in);
  if (up == 0) return;
  if (receiver_ == nullptr) {
    for (std::size_t i = 0; i < up; ++i) rx_up_[i]->release();
    count_drop(DropReason::no_receiver, up);
    return;
  }
  receiver_->on_receive(this, rx_up_.data(), up);
}

void UdpLink::drain_without_packets() noexcept {
  // Every slot reads into the same scratch buffer: the data is thrown away, but the
  // socket empties so the level-triggered watch does not spin.
  for (std::uint32_t i = 0; i < kBatchSize; ++i) {
    rx_iov_[i] = {rx_scratch_.data(), rx_scratch_.size()};
    msghdr& header = rx_msgs_[i].msg_hdr;
    header.msg_name = nullptr;
    header.msg_namelen = 0;
    header.msg_control = nullptr;
    header.msg_controllen = 0;
    header.msg_flags = 0;
  }
  int received;
  do {
    received = ::recvmmsg(fd_, rx_msgs_.data(), kBatchSize, MSG_DONTWAIT, nullptr);
  } while (received < 0 && errno == EINTR);
  if (received > 0) count_drop(DropReason::pool_exhausted, static_cast<std::uint64_t>(received));
}

std::size_t UdpLink::send(Packet* const* packets, std::size_t count) noexcept {
  std::size_t sent = 0;
  bool queue_full = fd_ < 0;  // a closed link drops everything, counted as a full queue
  std::size_t next = 0;
  while (next < count) {
    // Gather a batch of frames that can go, dropping the ones that cannot.
    std::uint32_t batch = 0;
    while (next < count && batch < kBatchSize) {
      Packet* packet = packets[next++];
      if (packet == nullptr) continue;
      if (queue_full) {
        drop_packet(packet, DropReason::send_queue_full);
        continue;
      }
      if (packet->length > kMtu) {
        drop_packet(packet, DropReason::oversize);
        continue;
      }
      if (endpoint_family(packet->endpoint) != family_) {
        drop_packet(packet, DropReason::bad_endpoint);
        continue;
      }
      msghdr& header = tx_msgs_[batch].msg_hdr;
      header.msg_name = &tx_addrs_[batch];
      header.msg_namelen = endpoint_to_sockaddr(packet->endpoint, &tx_addrs_[batch]);
      header.msg_control = nullptr;
      header.msg_controllen = 0;
      header.msg_flags = 0;
      tx_iov_[batch] = {packet->data(), packet->length};
      tx_packets_[batch++] = packet;
    }
    std::uint32_t done = 0;
    std::uint64_t frames = 0, bytes = 0;
    while (done < batch) {
      const int n = ::sendmmsg(fd_, tx_msgs_.data() + done, batch - done, MSG_DONTWAIT);
      if (n > 0) {
        for (int i = 0; i < n; ++i) bytes += tx_packets_[done + i]->length;
        frames += static_cast<std::uint64_t>(n);
        done += static_cast<std::uint32_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        count_drop(DropReason::send_queue_full, batch - done);
        queue_full = true;
        break;
      }
      // The kernel refused this one datagram (no route, a broadcast it will not send, …):
      // drop it and carry on with the rest.
      count_drop(DropReason::send_error);
      ++done;
    }
    for (std::uint32_t i = 0; i < batch; ++i) {
      tx_packets_[i]->release();
      tx_packets_[i] = nullptr;
    }
    sent += frames;
    stats_.frames_out += frames;
    stats_.bytes_out += bytes;
    add(metrics_.frames_out, frames);
    add(metrics_.bytes_out, bytes);
  }
  return sent;
}

std::size_t UdpLink::send_beacons(const PublicKey& self, std::uint8_t flags) noexcept {
  if (fd_ < 0) return 0;
  std::uint8_t beacon[link_common::kBeaconSize];
  if (link_common::encode_beacon(self, flags, {beacon, sizeof beacon}) == 0) return 0;

  // One datagram per interface, all in one sendmmsg: the interface picked per datagram by
  // IP_PKTINFO (IPv4 limited broadcast 255.255.255.255, which needs no route and no
  // configured broadcast address) or by the scope id (IPv6 ff02::1).
  struct Target {
    sockaddr_storage address;
    socklen_t length;
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(in_pktinfo))];
    std::size_t control_length;
    iovec iov;
  };
  std::array<Target, kMaxBeaconTargets> targets;
  std::array<mmsghdr, kMaxBeaconTargets> msgs{};
  std::array<unsigned, kMaxBeaconTargets> indexes{};
  std::size_t count = 0;

  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) != 0) return 0;
  const bool wildcard = endpoint_is_wildcard(bound_);
  const std::uint16_t port = htons(endpoint_port(bound_));
  const int family = family_ == Family::ipv4 ? AF_INET : AF_INET6;
  for (const ifaddrs* ifa = interfaces; ifa != nullptr && count < kMaxBeaconTargets; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr || ifa->ifa_addr->sa_family != family) continue;
    if ((ifa->ifa_flags & IFF_UP) == 0 || (ifa->ifa_flags & IFF_LOOPBACK) != 0) continue;
    if ((ifa->ifa_flags & (family_ == Family::ipv4 ? IFF_BROADCAST : IFF_MULTICAST)) == 0) continue;
    // A link bound to one address beacons only on the interface that holds it.
    if (!wildcard && !holds_address(ifa, bound_, family_)) continue;
    const unsigned index = ::if_nametoindex(ifa->ifa_name);
    if (index == 0) continue;
    bool seen = false;
    for (std::size_t i = 0; i < count; ++i) seen = seen || indexes[i] == index;
    if (seen) continue;
    indexes[count] = index;

    Target& t = targets[count];
    std::memset(&t.address, 0, sizeof t.address);
    t.control_length = 0;
    if (family_ == Family::ipv4) {
      auto* in = reinterpret_cast<sockaddr_in*>(&t.address);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_BROADCAST);
      in->sin_port = port;
      t.length = sizeof *in;
      std::memset(t.control, 0, sizeof t.control);
      auto* header = reinterpret_cast<cmsghdr*>(t.control);
      header->cmsg_level = IPPROTO_IP;
      header->cmsg_type = IP_PKTINFO;
      header->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      info.ipi_ifindex = static_cast<int>(index);
      if (!wildcard) std::memcpy(&info.ipi_spec_dst, bound_.bytes, sizeof info.ipi_spec_dst);
      std::memcpy(CMSG_DATA(header), &info, sizeof info);
      t.control_length = CMSG_SPACE(sizeof(in_pktinfo));
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&t.address);
      in6->sin6_family = AF_INET6;
      std::memcpy(&in6->sin6_addr, kIPv6AllNodes, sizeof kIPv6AllNodes);
      in6->sin6_port = port;
      in6->sin6_scope_id = index;
      t.length = sizeof *in6;
    }
    t.iov = {beacon, sizeof beacon};
    msghdr& header = msgs[count].msg_hdr;
    header.msg_name = &t.address;
    header.msg_namelen = t.length;
    header.msg_iov = &t.iov;
    header.msg_iovlen = 1;
    header.msg_control = t.control_length != 0 ? t.control : nullptr;
    header.msg_controllen = t.control_length;
    header.msg_flags = 0;
    ++count;
  }
  ::freeifaddrs(interfaces);

  std::size_t done = 0, sent = 0;
  while (done < count) {
    const int n = ::sendmmsg(fd_, msgs.data() + done, static_cast<unsigned>(count - done), MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      count_drop(DropReason::send_queue_full, count - done);
      break;
    }
    count_drop(DropReason::send_error);  // this interface refused it (down since getifaddrs, …)
    ++done;
  }
  stats_.frames_out += sent;
  stats_.bytes_out += sent * sizeof beacon;
  add(metrics_.frames_out, sent);
  add(metrics_.bytes_out, sent * sizeof beacon);
  stats_.beacons_sent += sent;
  add(metrics_.beacons_sent, sent);
  return sent;
}

}  // namespace mh::udp
