// tun's data path: see tun_forwarder.hpp.
#include "tun_forwarder.hpp"

#include <meshhost/mesh.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mh::tun {

const char* drop_reason_name(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::bad_packet: return "bad_packet";
    case DropReason::not_mesh: return "not_mesh";
    case DropReason::wrong_source: return "wrong_source";
    case DropReason::to_self: return "to_self";
    case DropReason::too_big: return "too_big";
    case DropReason::unreachable: return "unreachable";
    case DropReason::no_buffers: return "no_buffers";
    case DropReason::send_failed: return "send_failed";
    case DropReason::spoofed_source: return "spoofed_source";
    case DropReason::wrong_destination: return "wrong_destination";
    case DropReason::tun_full: return "tun_full";
    case DropReason::write_failed: return "write_failed";
    case DropReason::count_: break;
  }
  return "unknown";
}

namespace {

void add(Counter* counter, std::uint64_t n) noexcept {
  if (counter != nullptr) counter->add(n);
}

}  // namespace

TunForwarder::TunForwarder(Host* host, Sessions* sessions, DestinationTable::Hold hold) noexcept
    : host_(host), sessions_(sessions), self_(host->address()), table_(hold) {
  const Label in[] = {{"direction", "in"}};
  const Label out[] = {{"direction", "out"}};
  const Str packets_help = "IPv6 packets tun moved: in = from sessions to the kernel, out = from the kernel to sessions";
  const Str bytes_help = "Bytes of IPv6 packets tun moved, by direction as meshhost_tun_packets_total";
  packets_in_ = host_->counter("meshhost_tun_packets_total", packets_help, in, 1);
  packets_out_ = host_->counter("meshhost_tun_packets_total", packets_help, out, 1);
  bytes_in_ = host_->counter("meshhost_tun_bytes_total", bytes_help, in, 1);
  bytes_out_ = host_->counter("meshhost_tun_bytes_total", bytes_help, out, 1);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const Label reason[] = {{"reason", drop_reason_name(static_cast<DropReason>(i))}};
    dropped_[i] = host_->counter("meshhost_tun_dropped_total", "IPv6 packets tun dropped, by reason", reason, 1);
  }
}

TunForwarder::~TunForwarder() { stop(); }

Status TunForwarder::start(int fd) noexcept {
  stop();
  if (Status s = sessions_->register_protocol(kProtocolTun, this); !s.ok()) return s;
  registered_ = true;
  if (Status s = host_->loop()->watch_fd(fd, kFdReadable, this, &watch_); !s.ok()) {
    watch_ = nullptr;
    stop();
    return s;
  }
  fd_ = fd;
  return Status::success();
}

void TunForwarder::stop() noexcept {
  if (watch_ != nullptr) watch_->release();
  watch_ = nullptr;
  if (registered_) sessions_->unregister_protocol(kProtocolTun);
  registered_ = false;
  fd_ = -1;
}

std::size_t TunForwarder::troubled_destinations() const noexcept { return table_.live(host_->loop()->now_ns()); }

void TunForwarder::drop(DropReason reason) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  ++stats_.dropped[i];
  add(dropped_[i], 1);
}

// ---- from the kernel ----

void TunForwarder::on_fd_ready(int, std::uint32_t) noexcept {
  PacketPool* pool = sessions_->pool();
  for (std::size_t i = 0; i < kReadBatch && fd_ >= 0; ++i) {
    Packet* packet = pool->acquire();
    std::uint8_t* into = packet != nullptr ? packet->data() : scratch_.data();
    const std::size_t room = packet != nullptr ? packet->tailroom() : scratch_.size();
    const ssize_t n = ::read(fd_, into, room);
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      if (packet != nullptr) packet->release();
      if (error == EINTR) continue;
      if (error != EAGAIN && error != EWOULDBLOCK) stop_reading(error);
      break;  // EAGAIN: the queue is empty
    }
    if (packet == nullptr) {
      drop(DropReason::no_buffers);
      continue;
    }
    (void)packet->append(static_cast<std::uint32_t>(n));
    take(packet);
  }
  flush();
}

void TunForwarder::stop_reading(int error) noexcept {
  // The device went away under us (deleted by hand, say): the descriptor would stay
  // "ready" with the same error forever, so stop watching it rather than spin.
  if (watch_ != nullptr) watch_->set_events(0);
  char line[160];
  std::snprintf(line, sizeof line, "reading the TUN device failed (%s): no more packets leave through it until a restart",
                std::strerror(error));
  host_->log(LogLevel::error, Str(line));
}

void TunForwarder::take(Packet* packet) noexcept {
  const std::optional<Ipv6Header> header = parse_ipv6(packet->view());
  DropReason refused = DropReason::count_;
  if (!header) {
    refused = DropReason::bad_packet;
  } else if (!in_mesh_prefix(header->destination)) {
    refused = DropReason::not_mesh;
  } else if (!same_address(header->source, self_)) {
    refused = DropReason::wrong_source;
  } else if (same_address(header->destination, self_)) {
    refused = DropReason::to_self;
  }
  if (refused != DropReason::count_) {
    packet->release();
    drop(refused);
    return;
  }

  if (!run_open_ || !same_address(header->destination, run_destination_)) {
    flush();
    // What holds for this destination is looked up once per run, not per packet.
    const std::uint64_t now = host_->loop()->now_ns();
    run_destination_ = header->destination;
    run_open_ = true;
    run_unreachable_ = table_.unreachable(run_destination_, now, &run_unreachable_code_);
    run_limit_ = sessions_->max_payload(run_destination_);
    if (const std::uint32_t path_mtu = table_.path_mtu(run_destination_, now); path_mtu != 0 && path_mtu < run_limit_) {
      run_limit_ = path_mtu;
    }
  }

  if (run_unreachable_ || packet->length > run_limit_) {
    const bool too_big = !run_unreachable_;
    if (may_answer_with_error(*header, packet->view())) {
      const MutableByteSpan out{icmp_.data(), icmp_.size()};
      write_icmp(too_big ? build_packet_too_big(packet->view(), run_limit_, out)
                         : build_destination_unreachable(packet->view(), run_unreachable_code_, out));
    }
    packet->release();
    drop(too_big ? DropReason::too_big : DropReason::unreachable);
    return;
  }
  run_[run_count_] = packet;
  run_lengths_[run_count_] = packet->length;
  ++run_count_;
}

void TunForwarder::flush() noexcept {
  run_open_ = false;
  if (run_count_ == 0) return;
  const std::size_t count = run_count_;
  run_count_ = 0;
  // Sessions owns the packets from here on (and may call on_session_error meanwhile).
  const std::size_t accepted = sessions_->send_to_address(run_destination_, kProtocolTun, run_.data(), count);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < accepted && i < count; ++i) bytes += run_lengths_[i];
  stats_.packets_out += accepted;
  stats_.bytes_out += bytes;
  add(packets_out_, accepted);
  add(bytes_out_, bytes);
  for (std::size_t i = accepted; i < count; ++i) drop(DropReason::send_failed);
}

void TunForwarder::write_icmp(std::size_t size) noexcept {
  if (size == 0) return;
  if (write_to_kernel(ByteSpan{icmp_.data(), size})) ++stats_.icmp_errors;
}

bool TunForwarder::write_to_kernel(ByteSpan packet) noexcept {
  if (fd_ < 0) return false;
  ssize_t n;
  do {
    n = ::write(fd_, packet.data, packet.size);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(packet.size)) return true;
  drop(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) ? DropReason::tun_full
                                                                              : DropReason::write_failed);
  return false;
}

// ---- from sessions ----

void TunForwarder::on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = packets[i];
    const std::optional<Ipv6Header> header = parse_ipv6(packet->view());
    if (!header) {
      drop(DropReason::bad_packet);
    } else if (!same_address(header->source, from.address)) {
      drop(DropReason::spoofed_source);
    } else if (!same_address(header->destination, self_)) {
      drop(DropReason::wrong_destination);
    } else if (write_to_kernel(packet->view())) {
      ++stats_.packets_in;
      stats_.bytes_in += packet->length;
      add(packets_in_, 1);
      add(bytes_in_, packet->length);
    }
    packet->release();
  }
}

void TunForwarder::on_session_error(const SessionError& error) noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  switch (error.kind) {
    case SessionError::Kind::no_route:
    case SessionError::Kind::unreachable:
      table_.mark_unreachable(error.destination, kIcmpv6CodeNoRoute, now);
      break;
    case SessionError::Kind::no_receiver:
      // The node is there but does not take IPv6 (no tun): its address is unreachable.
      table_.mark_unreachable(error.destination, kIcmpv6CodeAddressUnreachable, now);
      break;
    case SessionError::Kind::too_big:
      table_.set_path_mtu(error.destination, error.mtu, now);
      break;
  }
}

}  // namespace mh::tun
