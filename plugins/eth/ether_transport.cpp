// An Ethernet interface as a Link: see ether_transport.hpp and docs/protocol.md ("eth").
#include "ether_transport.hpp"

#include "beacon.hpp"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mh::ether {

namespace {

// Frames the pool has no buffer for are read into this and dropped, so a level-triggered
// watch does not spin on a socket nobody empties.
constexpr std::size_t kScratchSize = 65536;

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

const char* drop_reason_name(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::bad_frame: return "bad_frame";
    case DropReason::truncated: return "truncated";
    case DropReason::beacon_ignored: return "beacon_ignored";
    case DropReason::pool_exhausted: return "pool_exhausted";
    case DropReason::no_receiver: return "no_receiver";
    case DropReason::receive_error: return "receive_error";
    case DropReason::bad_endpoint: return "bad_endpoint";
    case DropReason::oversize: return "oversize";
    case DropReason::no_headroom: return "no_headroom";
    case DropReason::send_queue_full: return "send_queue_full";
    case DropReason::send_error: return "send_error";
  }
  return "unknown";
}

EtherTransport::EtherTransport(Host* host, EtherLinkOptions options)
    : host_(host),
      options_(std::move(options)),
      name_(options_.driver + "/" + options_.interface.name),
      mtu_(link_mtu(options_.interface.mtu, FixedPacketPool::kDefaultBufferSize - FixedPacketPool::kDefaultHeadroom)),
      own_key_(host->public_key()),
      pool_(options_.pool_packets) {}

std::unique_ptr<EtherTransport> EtherTransport::open(Host* host, EtherLinkOptions options, std::string* error) {
  if (auto refusal = mtu_refusal(options.interface.name, options.interface.mtu)) {
    *error = std::move(*refusal);
    return nullptr;
  }
  std::unique_ptr<EtherTransport> link(new EtherTransport(host, std::move(options)));
  const InterfaceInfo& interface = link->options_.interface;
  const std::string where = interface.name + ": ";

  // Protocol 0 until bind: a socket created with the EtherType would see that EtherType
  // on every interface until it is bound to one.
  link->fd_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (link->fd_ < 0) {
    *error = where + "cannot open an AF_PACKET socket (needs CAP_NET_RAW): " + errno_text(errno);
    return nullptr;
  }
  sockaddr_ll bound = {};
  bound.sll_family = AF_PACKET;
  bound.sll_protocol = htons(kEtherType);
  bound.sll_ifindex = static_cast<int>(interface.ifindex);
  if (::bind(link->fd_, reinterpret_cast<const sockaddr*>(&bound), sizeof bound) != 0) {
    *error = where + "cannot bind an AF_PACKET socket: " + errno_text(errno);
    return nullptr;
  }
  // Our own frames would otherwise come back as PACKET_OUTGOING (Linux 4.20+; older
  // kernels are handled in receive_batch()).
  const int one = 1;
  (void)::setsockopt(link->fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);

  link->send_template_ = bound;
  link->send_template_.sll_halen = kMacSize;

  Status s = host->loop()->watch_fd(link->fd_, kFdReadable, link.get(), &link->watch_);
  if (s.ok()) s = host->loop()->create_timer(link.get(), &link->beacon_timer_);
  if (!s.ok()) {
    *error = where + "cannot watch the socket: " + std::string(s.message.data, s.message.size);
    return nullptr;
  }
  link->register_metrics();
  return link;
}

EtherTransport::~EtherTransport() {
  close();
  if (fd_ >= 0) ::close(fd_);
}

void EtherTransport::close() noexcept {
  if (watch_ != nullptr) watch_->release();
  watch_ = nullptr;
  if (beacon_timer_ != nullptr) beacon_timer_->release();
  beacon_timer_ = nullptr;
  receiver_ = nullptr;
  observer_ = nullptr;
}

void EtherTransport::register_metrics() {
  const std::string& d = options_.driver;
  const Label link{"link", Str::of(name_)};
  auto counter = [&](const std::string& name, const char* help) { return host_->counter(Str::of(name), help, &link, 1); };
  counters_.frames_received = counter(d + "_frames_received_total", "meshhost frames received, beacons not included");
  counters_.bytes_received = counter(d + "_bytes_received_total", "Bytes of meshhost frames received");
  counters_.frames_sent = counter(d + "_frames_sent_total", "meshhost frames sent, beacons not included");
  counters_.bytes_sent = counter(d + "_bytes_sent_total", "Bytes of meshhost frames sent");
  counters_.beacons_sent = counter(d + "_beacons_sent_total", "Beacons sent to the broadcast address");
  counters_.beacons_received = counter(d + "_beacons_received_total", "Beacons heard from other nodes");
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const Label labels[] = {link, {"reason", drop_reason_name(static_cast<DropReason>(i))}};
    counters_.dropped[i] = host_->counter(Str::of(d + "_drops_total"), "Frames dropped, by reason", labels, 2);
  }
}

void EtherTransport::publish() noexcept {
  auto add = [](Counter* counter, std::uint64_t now, std::uint64_t& before) {
    if (now != before && counter != nullptr) counter->add(now - before);
    before = now;
  };
  add(counters_.frames_received, stats_.frames_received, published_.frames_received);
  add(counters_.bytes_received, stats_.bytes_received, published_.bytes_received);
  add(counters_.frames_sent, stats_.frames_sent, published_.frames_sent);
  add(counters_.bytes_sent, stats_.bytes_sent, published_.bytes_sent);
  add(counters_.beacons_sent, stats_.beacons_sent, published_.beacons_sent);
  add(counters_.beacons_received, stats_.beacons_received, published_.beacons_received);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) add(counters_.dropped[i], stats_.dropped[i], published_.dropped[i]);
}

void EtherTransport::start_beacons() noexcept {
  if (beacon_timer_ != nullptr && options_.config->beacon.sends()) beacon_timer_->arm(0);
}

void EtherTransport::on_timer() noexcept {
  if (!options_.config->beacon.sends()) return;  // the mode changed (SIGHUP): stop until start_beacons()
  Packet* beacon = pool_.acquire();
  if (beacon == nullptr) {
    drop(DropReason::pool_exhausted);
  } else {
    std::uint8_t* at = beacon->append(static_cast<std::uint32_t>(link_common::kBeaconSize));
    link_common::encode_beacon(own_key_, options_.config->beacon_flags(), {at, link_common::kBeaconSize});
    beacon->endpoint = make_endpoint(kBroadcastMac, options_.interface.ifindex);
    transmit(&beacon, 1, /*beacons=*/true);
  }
  publish();
  if (beacon_timer_ != nullptr) beacon_timer_->arm(std::uint64_t{options_.config->beacon.interval_ms} * 1'000'000);
}

void EtherTransport::on_fd_ready(int, std::uint32_t) noexcept {
  for (int round = 0; round < kMaxBatchesPerWake && watch_ != nullptr; ++round) {
    if (!receive_batch()) break;
  }
  publish();
}

bool EtherTransport::receive_batch() noexcept {
  std::size_t acquired = 0;
  for (; acquired < kBatch; ++acquired) {
    Packet* packet = pool_.acquire();
    if (packet == nullptr) break;
    recv_packets_[acquired] = packet;
    recv_iov_[acquired] = {packet->data(), packet->capacity - packet->offset};
    msghdr& header = recv_msgs_[acquired].msg_hdr;
    header = {};
    header.msg_name = &recv_addr_[acquired];
    header.msg_namelen = sizeof(sockaddr_ll);
    header.msg_iov = &recv_iov_[acquired];
    header.msg_iovlen = 1;
  }
  if (acquired == 0) {
    drain_without_buffers();
    return false;
  }

  const int received = ::recvmmsg(fd_, recv_msgs_.data(), static_cast<unsigned>(acquired), MSG_DONTWAIT, nullptr);
  const int err = errno;
  const std::size_t count = received > 0 ? static_cast<std::size_t>(received) : 0;
  for (std::size_t i = count; i < acquired; ++i) recv_packets_[i]->release();
  if (received < 0) {
    if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) drop(DropReason::receive_error);
    return false;
  }

  std::size_t up = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = recv_packets_[i];
    const sockaddr_ll& from = recv_addr_[i];
    if (from.sll_pkttype == PACKET_OUTGOING) {  // our own, on a kernel without PACKET_IGNORE_OUTGOING
      packet->release();
      continue;
    }
    if ((recv_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
      drop(DropReason::truncated);
      packet->release();
      continue;
    }
    packet->length = recv_msgs_[i].msg_len;
    const std::optional<std::uint16_t> frame_length = parse_header(packet->view());
    if (from.sll_halen != kMacSize || !frame_length) {
      drop(DropReason::bad_frame);
      packet->release();
      continue;
    }
    packet->consume(kHeaderSize);
    packet->length = *frame_length;  // what follows is Ethernet padding
    MacAddress source;
    std::memcpy(source.bytes, from.sll_addr, kMacSize);
    packet->endpoint = make_endpoint(source, options_.interface.ifindex);
    if (link_common::is_beacon_frame(packet->view())) {
      on_beacon(packet->view(), source);
      packet->release();
      continue;
    }
    ++stats_.frames_received;
    stats_.bytes_received += packet->length;
    up_[up++] = packet;
  }
  if (up > 0) {
    if (receiver_ != nullptr) {
      receiver_->on_receive(this, up_.data(), up);
    } else {
      drop(DropReason::no_receiver, up);
      for (std::size_t i = 0; i < up; ++i) up_[i]->release();
    }
  }
  return count == kBatch;
}

void EtherTransport::drain_without_buffers() noexcept {
  static thread_local std::uint8_t scratch[kScratchSize];
  for (std::size_t i = 0; i < kBatch; ++i) {
    if (::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT) < 0) break;
    drop(DropReason::pool_exhausted);
  }
}

void EtherTransport::on_beacon(ByteSpan frame, const MacAddress& source) noexcept {
  if (!options_.config->beacon.accepts()) {
    drop(DropReason::beacon_ignored);
    return;
  }
  const std::optional<link_common::Beacon> beacon = link_common::parse_beacon(frame);
  if (!beacon) {
    drop(DropReason::bad_frame);
    return;
  }
  // Another interface of this node on the same segment hears our own beacons.
  if (std::memcmp(beacon->key.bytes, own_key_.bytes, kPublicKeySize) == 0) return;
  ++stats_.beacons_received;
  remember(beacon->key, source);
  if (observer_ == nullptr) return;
  PeerHint hint;
  hint.endpoint = make_endpoint(source, options_.interface.ifindex);
  hint.key = beacon->key;
  hint.password = Str::of(options_.config->beacon.password);
  hint.login = Str::of(options_.config->beacon.login);
  hint.from_beacon = true;
  observer_->on_peer_hint(this, hint);
}

void EtherTransport::remember(const PublicKey& key, const MacAddress& mac) noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  HeardNode* slot = nullptr;
  for (std::size_t i = 0; i < heard_count_; ++i) {
    HeardNode& node = heard_[i];
    if (node.mac == mac && std::memcmp(node.key.bytes, key.bytes, kPublicKeySize) == 0) {
      slot = &node;
      break;
    }
    if (slot == nullptr || node.last_heard_ns < slot->last_heard_ns) slot = &node;  // the least recent so far
  }
  const bool known = slot != nullptr && slot->mac == mac && std::memcmp(slot->key.bytes, key.bytes, kPublicKeySize) == 0;
  if (!known) {
    if (heard_count_ < kHeardCapacity) slot = &heard_[heard_count_++];
    *slot = HeardNode{key, mac, 0, 0};
  }
  slot->last_heard_ns = now;
  ++slot->beacons;
}

std::size_t EtherTransport::send(Packet* const* packets, std::size_t count) noexcept {
  std::size_t handed = 0;
  for (std::size_t done = 0; done < count; done += kBatch) {
    handed += transmit(packets + done, std::min(kBatch, count - done), /*beacons=*/false);
  }
  publish();
  return handed;
}

std::size_t EtherTransport::transmit(Packet* const* packets, std::size_t count, bool beacons) noexcept {
  std::size_t queued = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = packets[i];
    MacAddress to;
    if (fd_ < 0 || watch_ == nullptr) {
      drop(DropReason::send_error);  // closed: the link is going away
      packet->release();
      continue;
    }
    if (!parse_endpoint(packet->endpoint, &to, nullptr)) {
      drop(DropReason::bad_endpoint);
      packet->release();
      continue;
    }
    if (packet->length == 0 || packet->length > mtu_) {
      drop(DropReason::oversize);
      packet->release();
      continue;
    }
    const auto frame_length = static_cast<std::uint16_t>(packet->length);
    std::uint8_t* header = packet->prepend(kHeaderSize);
    if (header == nullptr) {
      drop(DropReason::no_headroom);
      packet->release();
      continue;
    }
    write_header(header, frame_length);
    sockaddr_ll& address = send_addr_[queued];
    address = send_template_;
    std::memcpy(address.sll_addr, to.bytes, kMacSize);
    send_iov_[queued] = {packet->data(), packet->length};
    msghdr& message = send_msgs_[queued].msg_hdr;
    message = {};
    message.msg_name = &address;
    message.msg_namelen = sizeof address;
    message.msg_iov = &send_iov_[queued];
    message.msg_iovlen = 1;
    sending_[queued++] = packet;
  }

  std::size_t sent = 0;
  std::uint64_t bytes = 0;
  std::size_t next = 0;  // the first frame not yet tried
  while (next < queued) {
    const int n = ::sendmmsg(fd_, send_msgs_.data() + next, static_cast<unsigned>(queued - next), MSG_DONTWAIT);
    if (n > 0) {
      for (std::size_t i = next; i < next + static_cast<std::size_t>(n); ++i) bytes += send_iov_[i].iov_len - kHeaderSize;
      sent += static_cast<std::size_t>(n);
      next += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      drop(DropReason::send_queue_full, queued - next);
      break;
    }
    // This frame failed (the interface went down, say); the rest may still go.
    drop(DropReason::send_error);
    ++next;
  }
  // The kernel copied what it took; every packet goes back to its pool either way.
  for (std::size_t i = 0; i < queued; ++i) sending_[i]->release();
  if (beacons) {
    stats_.beacons_sent += sent;
  } else {
    stats_.frames_sent += sent;
    stats_.bytes_sent += bytes;
  }
  return sent;
}

std::size_t EtherTransport::format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept {
  MacAddress mac;
  if (!parse_endpoint(endpoint, &mac, nullptr)) return 0;
  return format_mac(mac, out, capacity);
}

}  // namespace mh::ether
