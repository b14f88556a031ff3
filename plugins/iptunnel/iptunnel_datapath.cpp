// iptunnel's data path: IP packets between its TUN devices and end-to-end sessions
// (protocol 0x0005), with the anti-spoof checks of DESIGN §4 on both sides, the flow table
// and the traffic hooks at the gateway. A bounded batch of reads per wake-up; packets come
// from the sessions' pool, so nothing allocates per packet.
#include "iptunnel.hpp"

#include <meshhost/mesh.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace mh::iptunnel {

namespace {

// Reads per wake-up; the loop calls again while the device stays readable.
constexpr std::size_t kReadBatch = 64;

bool is_ip6(const Packet* p) noexcept { return p->length > 0 && (p->data()[0] >> 4) == 6; }

}  // namespace

void IptunnelPlugin::drop(Drop reason, Packet* packet) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  drops_[i]++;
  if (drop_counters_[i] != nullptr) drop_counters_[i]->add(1);
  if (packet != nullptr) packet->release();
}

void IptunnelPlugin::on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = packets[i];
    Message m;
    if (parse_message(packet->view(), &m) != ParseError::ok) {
      drop(Drop::bad_message, packet);
      continue;
    }
    if (m.type != MessageType::ip_data) {
      try {
        on_control(from, m);
      } catch (const std::exception& e) {
        warn(std::string("control message: ") + e.what());
      }
      packet->release();
      continue;
    }
    packet->consume(kIpDataHeaderSize);
    // From one of our gateways: down to this node, only to an address it granted us.
    if (client_ && client_->find(from.key) != nullptr) {
      IpAddress destination;
      packet_destination(packet->view(), &destination);
      ClientGateway* g = client_->accepts(from.key, destination);
      if (g == nullptr) {
        drop(Drop::wrong_destination, packet);
        continue;
      }
      g->last_heard_ns = now;
      g->packets_down++;
      g->bytes_down += packet->length;
      write_tun(client_tun_->fd(), packet);
      continue;
    }
    if (!gateway_) {
      drop(Drop::not_our_gateway, packet);
      continue;
    }
    // From a client: only from inside the blocks its lease holds.
    if (!gateway_->source_allowed(from.key, packet->view())) {
      drop(gateway_->held_families(from.key) == 0 ? Drop::not_a_client : Drop::spoofed_source, packet);
      continue;
    }
    FlowKey flow;
    if (parse_flow(packet->view(), &flow)) flows_->note_upstream(from.key, flow, now);
    const TrafficInfo info{TrafficDirection::upstream, from.key, packet->length, true};
    if (hooks_.empty()) {
      deliver(info, packet);
      continue;
    }
    // A hook may keep the packet; the session's buffer may not be kept, so it gets a copy.
    Packet* copy = hook_pool_->acquire();
    std::uint8_t* at = copy != nullptr ? copy->append(packet->length) : nullptr;
    if (at == nullptr) {
      if (copy != nullptr) copy->release();
      drop(Drop::no_buffers, packet);
      continue;
    }
    std::memcpy(at, packet->data(), packet->length);
    packet->release();
    run_hooks(nullptr, info, copy);
  }
}

void IptunnelPlugin::on_session_error(const SessionError&) noexcept {
  // A gateway that cannot be reached shows as silence to its probes; nothing else to do.
}

void IptunnelPlugin::on_fd_ready(int fd, std::uint32_t) noexcept {
  if (gateway_tun_ && fd == gateway_tun_->fd()) {
    read_gateway_tun();
  } else if (client_tun_ && fd == client_tun_->fd()) {
    read_client_tun();
  }
}

namespace {

// One packet from `fd` into a fresh packet of `pool`; nullptr when there is nothing to read
// (*again), the pool is empty (*no_buffers: the packet is read and lost) or the packet is
// over `mtu` (*too_big).
Packet* read_one(int fd, PacketPool* pool, std::uint32_t mtu, bool* again, bool* no_buffers, bool* too_big) noexcept {
  Packet* packet = pool->acquire();
  if (packet == nullptr) {
    std::uint8_t scratch[2048];
    const ssize_t n = ::read(fd, scratch, sizeof scratch);
    *again = n < 0;
    *no_buffers = n >= 0;
    return nullptr;
  }
  // The whole buffer, so a packet larger than the MTU is seen whole and refused, never
  // cut short into something that parses.
  const std::uint32_t room = packet->tailroom();
  const ssize_t n = ::read(fd, packet->append(room), room);
  if (n <= 0) {
    packet->release();
    *again = true;
    return nullptr;
  }
  packet->trim(room - static_cast<std::uint32_t>(n));
  if (packet->length > mtu) {
    packet->release();
    *too_big = true;
    return nullptr;
  }
  return packet;
}

}  // namespace

void IptunnelPlugin::read_gateway_tun() noexcept {
  read_gateway_batch();
  flush_ip_data();
}

void IptunnelPlugin::read_client_tun() noexcept {
  read_client_batch();
  flush_ip_data();
}

void IptunnelPlugin::read_gateway_batch() noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  for (std::size_t i = 0; i < kReadBatch; ++i) {
    bool again = false, no_buffers = false, too_big = false;
    Packet* packet = read_one(gateway_tun_->fd(), sessions_->pool(), config_.mtu, &again, &no_buffers, &too_big);
    if (packet == nullptr) {
      if (no_buffers) drop(Drop::no_buffers, nullptr);
      if (too_big) drop(Drop::too_big, nullptr);
      if (again) return;
      continue;
    }
    const PublicKey* client = gateway_->client_for_destination(packet->view());
    if (client == nullptr) {
      drop(Drop::no_client, packet);
      continue;
    }
    FlowKey flow;
    const bool opened = parse_flow(packet->view(), &flow) && flows_->opened_by_client(*client, flow, now);
    // Only what a client opened gets in, unless its family is configured open: routed IPv6
    // (and routed IPv4) would otherwise let anyone reach it, and NAT alone does not stop a
    // neighbour on the uplink sending to a client's address.
    if (!opened && !(is_ip6(packet) ? config_.ipv6_inbound_open : config_.ipv4_inbound_open)) {
      drop(Drop::unsolicited, packet);
      continue;
    }
    run_hooks(nullptr, TrafficInfo{TrafficDirection::downstream, *client, packet->length, opened}, packet);
  }
}

void IptunnelPlugin::read_client_batch() noexcept {
  for (std::size_t i = 0; i < kReadBatch; ++i) {
    bool again = false, no_buffers = false, too_big = false;
    Packet* packet = read_one(client_tun_->fd(), sessions_->pool(), client_mtu_, &again, &no_buffers, &too_big);
    if (packet == nullptr) {
      if (no_buffers) drop(Drop::no_buffers, nullptr);
      if (too_big) drop(Drop::too_big, nullptr);
      if (again) return;
      continue;
    }
    IpAddress source;
    ClientGateway* g = packet_source(packet->view(), &source) ? client_->gateway_for_source(source) : nullptr;
    if (g == nullptr) {
      drop(Drop::no_lease, packet);
      continue;
    }
    g->packets_up++;
    g->bytes_up += packet->length;
    send_ip_data(g->config.key, packet);
  }
}

void IptunnelPlugin::run_hooks(TrafficHook* after, const TrafficInfo& info, Packet* packet) noexcept {
  auto it = hooks_.begin();
  if (after != nullptr) {
    it = std::find(hooks_.begin(), hooks_.end(), after);
    if (it == hooks_.end()) {
      drop(Drop::hook, packet);  // resumed by a hook no longer added
      return;
    }
    ++it;
  }
  for (; it != hooks_.end(); ++it) {
    const TrafficVerdict verdict = (*it)->on_traffic(info, packet);
    if (verdict == TrafficVerdict::queued) return;
    // Anything but pass and queued is a drop (traffic.hpp).
    if (verdict != TrafficVerdict::pass) {
      drop(Drop::hook, packet);
      return;
    }
  }
  deliver(info, packet);
}

void IptunnelPlugin::deliver(const TrafficInfo& info, Packet* packet) noexcept {
  auto counters = client_traffic_.find(info.client);
  if (counters == client_traffic_.end()) {
    try {
      counters = client_traffic_.emplace(info.client, Traffic{}).first;
    } catch (const std::bad_alloc&) {
      drop(Drop::no_buffers, packet);
      return;
    }
  }
  if (info.direction == TrafficDirection::upstream) {
    counters->second.packets_up++;
    counters->second.bytes_up += packet->length;
    if (gateway_tun_) {
      write_tun(gateway_tun_->fd(), packet);
    } else {
      packet->release();
    }
  } else {
    counters->second.packets_down++;
    counters->second.bytes_down += packet->length;
    send_ip_data(info.client, packet);
  }
}

void IptunnelPlugin::write_tun(int fd, Packet* packet) noexcept {
  const ssize_t n = ::write(fd, packet->data(), packet->length);
  if (n != static_cast<ssize_t>(packet->length)) {
    drop(Drop::tun_write_failed, packet);
    return;
  }
  packet->release();
}

void IptunnelPlugin::send_ip_data(const PublicKey& to, Packet* packet) noexcept {
  std::uint8_t* header = packet->prepend(kIpDataHeaderSize);
  if (header == nullptr) {
    drop(Drop::no_buffers, packet);
    return;
  }
  write_ip_data_header(header);
  if (batch_count_ > 0 && (batch_count_ == kSendBatch ||
                           std::memcmp(batch_key_.bytes, to.bytes, kPublicKeySize) != 0)) {
    flush_ip_data();
  }
  if (batch_count_ == 0) batch_key_ = to;
  batch_[batch_count_++] = packet;
}

void IptunnelPlugin::flush_ip_data() noexcept {
  if (batch_count_ == 0) return;
  const std::size_t count = batch_count_;
  batch_count_ = 0;
  const std::size_t accepted = sessions_->send_to_key(batch_key_, kProtocolIptunnel, batch_, count);
  for (std::size_t i = accepted; i < count; ++i) drop(Drop::send_failed, nullptr);
}

// ---- TrafficHooks ----

Status IptunnelPlugin::add_hook(TrafficHook* hook) noexcept {
  if (hook == nullptr) return Status::error(StatusCode::invalid_argument, "no hook");
  if (std::find(hooks_.begin(), hooks_.end(), hook) != hooks_.end()) {
    return Status::error(StatusCode::already_exists, "hook already added");
  }
  try {
    hooks_.push_back(hook);
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::internal, "out of memory");
  }
  return Status::success();
}

void IptunnelPlugin::remove_hook(TrafficHook* hook) noexcept {
  hooks_.erase(std::remove(hooks_.begin(), hooks_.end(), hook), hooks_.end());
}

Str IptunnelPlugin::plan_of(const PublicKey& client) noexcept {
  for (const AllowedConnection& c : config_.allowed) {
    if (std::memcmp(c.key.bytes, client.bytes, kPublicKeySize) == 0) return Str::of(c.plan);
  }
  return Str();
}

void IptunnelPlugin::resume(TrafficHook* after, const TrafficInfo& info, Packet* packet) noexcept {
  if (packet == nullptr) return;
  // The lease may have ended while the packet waited: then it goes nowhere.
  if (!gateway_ || gateway_->held_families(info.client) == 0) {
    drop(Drop::not_a_client, packet);
    return;
  }
  run_hooks(after, info, packet);
  flush_ip_data();
}

}  // namespace mh::iptunnel
