// The switch as the mesh layer (mh::Mesh): forwarding by the FIB, local delivery by
// protocol number, the hop limit, the control protocol and its error reports. Packets
// move in place: a forwarded packet is decrypted, its hop limit lowered and it is sealed
// again for the next hop in the same buffer (docs/protocol.md, "Switch: forwarding").
#include "switch.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>

namespace mh::sw {

namespace {

// The larger per-hop framing of the two hopEncryption modes (docs/protocol.md).
constexpr std::uint32_t kLinkFraming = 33;

// The payload (after the mesh header) that a link of `mtu` carries.
std::uint32_t payload_fitting(std::uint32_t mtu) noexcept {
  return mtu > kLinkFraming + kMeshHeaderSize ? mtu - kLinkFraming - kMeshHeaderSize : 0;
}

}  // namespace

// ---- neighbours ----

void SwitchPlugin::neighbour_up(Neighbour& n, std::uint32_t cost) noexcept {
  const NeighbourId id = ids_->add(&n, n.key, address_of(n.key), cost);
  if (id == kNoNeighbour) {
    log(LogLevel::error, "switch: no neighbour id left for " + format_public_key(n.key));
    return;
  }
  n.mesh_id = id;
  if (observer_ != nullptr) observer_->on_neighbour_up(id, n.key, cost);
}

void SwitchPlugin::neighbour_down(Neighbour& n) noexcept {
  const NeighbourId id = n.mesh_id;
  n.mesh_id = kNoNeighbour;
  fib_->remove_next_hop(id);  // routes through it are dead; the router removes them too
  ids_->remove(id);
  routes_->set(static_cast<double>(fib_->size()));
  if (observer_ != nullptr) observer_->on_neighbour_down(id);
}

void SwitchPlugin::set_neighbour_observer(NeighbourObserver* observer) noexcept {
  observer_ = observer;
  if (observer_ == nullptr) return;
  ids_->for_each([&](NeighbourId id, const NeighbourIds::Entry& e) { observer_->on_neighbour_up(id, e.key, e.cost); });
}

// ---- FIB ----

Status SwitchPlugin::set_route(const Address& destination, NeighbourId next_hop) noexcept {
  if (same_address(destination, own_address_))
    return Status::error(StatusCode::invalid_argument, "switch: no route to this node's own address");
  if (ids_->find(next_hop) == nullptr)
    return Status::error(StatusCode::invalid_argument, "switch: next hop is no established neighbour (stale id?)");
  if (!fib_->set(destination, next_hop)) return Status::error(StatusCode::again, "switch: the FIB is full (maxRoutes)");
  routes_->set(static_cast<double>(fib_->size()));
  return Status::success();
}

void SwitchPlugin::remove_route(const Address& destination) noexcept {
  fib_->remove(destination);
  routes_->set(static_cast<double>(fib_->size()));
}

Neighbour* SwitchPlugin::next_hop(const Address& destination, NeighbourIds::Entry** entry) noexcept {
  NeighbourIds::Entry* e = ids_->find(fib_->lookup(destination));
  if (entry != nullptr) *entry = e;
  return e != nullptr ? e->neighbour : nullptr;
}

std::uint32_t SwitchPlugin::max_payload(const Address& destination) noexcept {
  const Neighbour* n = next_hop(destination);
  if (n == nullptr || n->best == nullptr) return kMeshMinPayload;
  return payload_fitting(n->best->link->mtu());
}

// ---- protocols ----

Status SwitchPlugin::register_protocol(std::uint16_t protocol, MeshReceiver* receiver) noexcept {
  if (receiver == nullptr) return Status::error(StatusCode::invalid_argument, "switch: null receiver");
  if (protocol == kProtocolControl)
    return Status::error(StatusCode::already_exists, "switch: the control protocol belongs to the switch");
  if (receiver_for(protocol) != nullptr) return Status::error(StatusCode::already_exists, "switch: protocol taken");
  for (auto& entry : receivers_) {
    if (entry.receiver != nullptr) continue;
    entry = {protocol, receiver};
    return Status::success();
  }
  return Status::error(StatusCode::again, "switch: too many protocols registered");
}

void SwitchPlugin::unregister_protocol(std::uint16_t protocol) noexcept {
  for (auto& entry : receivers_)
    if (entry.receiver != nullptr && entry.protocol == protocol) entry = {};
}

MeshReceiver* SwitchPlugin::receiver_for(std::uint16_t protocol) const noexcept {
  for (const auto& entry : receivers_)
    if (entry.receiver != nullptr && entry.protocol == protocol) return entry.receiver;
  return nullptr;
}

// ---- sending ----

SwitchPlugin::Outcome SwitchPlugin::route(Packet* packet, const Address& destination, std::uint32_t* mtu) noexcept {
  Neighbour* n = next_hop(destination);
  if (n == nullptr || n->best == nullptr) return Outcome::no_route;
  const std::uint32_t fits = payload_fitting(n->best->link->mtu());
  if (packet->length > fits + kMeshHeaderSize) {
    *mtu = fits;
    return Outcome::too_big;
  }
  // On a `hopEncryption: headers` link the end-to-end part is only authenticated.
  const std::uint16_t e2e_offset = get_u16(packet->data() + kMeshE2eOffsetAt);
  const std::size_t authenticate_from = e2e_offset != kNoEndToEnd && kMeshHeaderSize + e2e_offset < packet->length
                                            ? kMeshHeaderSize + e2e_offset
                                            : PeerTable::kEncryptAll;
  Link* link = table_->seal(*n, *packet, host_->loop()->now_ns(), authenticate_from);
  if (link == nullptr) return Outcome::no_session;
  if (out_count_ == kBatch) flush_out();
  out_links_[out_count_] = link;
  out_packets_[out_count_] = packet;
  ++out_count_;
  return Outcome::queued;
}

void SwitchPlugin::flush_out() noexcept {
  const std::size_t count = out_count_;
  out_count_ = 0;
  Packet* group[kBatch];
  for (std::size_t i = 0; i < count; ++i) {
    Link* link = out_links_[i];
    if (link == nullptr) continue;
    std::size_t n = 0;
    for (std::size_t j = i; j < count; ++j) {
      if (out_links_[j] != link) continue;
      group[n++] = out_packets_[j];
      out_links_[j] = nullptr;
    }
    const std::size_t sent = link->send(group, n);
    frames_out_->add(sent);
    if (sent < n) send_failed_->add(n - sent);
  }
}

std::size_t SwitchPlugin::send(const MeshSend* sends, Packet* const* packets, std::size_t count) noexcept {
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* packet = packets[i];
    const MeshSend& s = sends[i];
    if (packet->headroom() < kMeshHeadroom || s.hop_limit == 0) {
      ++mesh_stats_.bad_send;
      packet->release();
      continue;
    }
    if (same_address(s.destination, own_address_)) {
      // Delivered on a later turn, so a receiver never re-enters its own caller.
      if (queued_count_ == kLocalQueue) {
        ++mesh_stats_.local_queue_full;
        packet->release();
        continue;
      }
      MeshInfo& info = queued_infos_[queued_count_];
      info = MeshInfo{};
      info.source = own_address_;
      info.destination = own_address_;
      info.protocol = s.protocol;
      info.hop_limit = s.hop_limit;
      queued_packets_[queued_count_++] = packet;
      post_drain();
      ++accepted;
      continue;
    }
    MeshHeader header;
    header.hop_limit = s.hop_limit;
    header.protocol = s.protocol;
    header.e2e_offset = s.e2e_offset;
    header.source = own_address_;
    header.destination = s.destination;
    write_mesh_header(packet->prepend(kMeshHeaderSize), header);
    std::uint32_t mtu = 0;
    MeshError error;
    error.reporter = own_address_;
    error.destination = s.destination;
    error.protocol = s.protocol;
    switch (route(packet, s.destination, &mtu)) {
      case Outcome::queued: ++accepted; continue;
      case Outcome::too_big:
        ++mesh_stats_.too_big;
        error.kind = MeshError::Kind::too_big;
        error.mtu = mtu;
        break;
      case Outcome::no_route:
      case Outcome::no_session:
        ++mesh_stats_.no_route;
        error.kind = MeshError::Kind::no_route;
        break;
    }
    report_local_error(error);
    packet->release();
  }
  flush_out();
  return accepted;
}

bool SwitchPlugin::send_to_neighbour(NeighbourId neighbour, std::uint16_t protocol, Packet* packet) noexcept {
  NeighbourIds::Entry* e = ids_->find(neighbour);
  if (packet->headroom() < kMeshHeadroom) {
    ++mesh_stats_.bad_send;
    packet->release();
    return false;
  }
  if (e == nullptr || e->neighbour->best == nullptr) {
    ++mesh_stats_.no_route;
    packet->release();
    return false;
  }
  if (packet->length > payload_fitting(e->neighbour->best->link->mtu())) {
    ++mesh_stats_.too_big;
    packet->release();
    return false;
  }
  MeshHeader header;
  header.hop_limit = 1;
  header.protocol = protocol;
  header.source = own_address_;
  header.destination = e->address;
  write_mesh_header(packet->prepend(kMeshHeaderSize), header);
  Link* link = table_->seal(*e->neighbour, *packet, host_->loop()->now_ns());
  if (link == nullptr) {
    packet->release();
    return false;
  }
  if (out_count_ == kBatch) flush_out();
  out_links_[out_count_] = link;
  out_packets_[out_count_] = packet;
  ++out_count_;
  flush_out();
  return true;
}

// ---- receiving ----

void SwitchPlugin::on_mesh_packet(Packet* packet, Neighbour* from, std::uint64_t now_ns) noexcept {
  (void)now_ns;
  MeshHeader header;
  if (parse_mesh_header(ByteView(packet->data(), packet->length), &header) != MeshHeaderError::ok) {
    ++mesh_stats_.bad_mesh_header;
    packet->release();
    return;
  }
  if (same_address(header.destination, own_address_)) {
    MeshInfo info;
    info.source = header.source;
    info.destination = header.destination;
    info.protocol = header.protocol;
    info.hop_limit = header.hop_limit;
    info.from = from != nullptr ? from->mesh_id : kNoNeighbour;
    packet->consume(kMeshHeaderSize);
    deliver_local(info, packet);
    return;
  }
  if (header.hop_limit <= 1) {
    ++mesh_stats_.hop_limit_exceeded;
    send_error(*packet, header, MeshError::Kind::hop_limit_exceeded, 0);
    packet->release();
    return;
  }
  set_mesh_hop_limit(packet->data(), static_cast<std::uint8_t>(header.hop_limit - 1));
  std::uint32_t mtu = 0;
  switch (route(packet, header.destination, &mtu)) {
    case Outcome::queued: ++mesh_stats_.forwarded; return;
    case Outcome::too_big:
      ++mesh_stats_.too_big;
      send_error(*packet, header, MeshError::Kind::too_big, mtu);
      break;
    case Outcome::no_route:
    case Outcome::no_session:
      ++mesh_stats_.no_route;
      send_error(*packet, header, MeshError::Kind::no_route, 0);
      break;
  }
  packet->release();
}

void SwitchPlugin::deliver_local(const MeshInfo& info, Packet* packet) noexcept {
  if (local_count_ == kBatch) flush_local();
  local_infos_[local_count_] = info;
  local_packets_[local_count_] = packet;
  ++local_count_;
}

void SwitchPlugin::flush_local() noexcept {
  const std::size_t count = local_count_;
  local_count_ = 0;
  for (std::size_t i = 0; i < count;) {
    const std::uint16_t protocol = local_infos_[i].protocol;
    std::size_t end = i + 1;
    while (end < count && local_infos_[end].protocol == protocol) ++end;
    if (protocol == kProtocolControl) {
      for (std::size_t j = i; j < end; ++j) on_control(local_infos_[j], local_packets_[j]);
    } else if (MeshReceiver* receiver = receiver_for(protocol)) {
      mesh_stats_.delivered += end - i;
      receiver->on_mesh_receive(&local_infos_[i], &local_packets_[i], end - i);
    } else {
      for (std::size_t j = i; j < end; ++j) {
        ++mesh_stats_.no_receiver;
        Packet* packet = local_packets_[j];
        MeshHeader header;
        // The header is still in the buffer in front of the payload: quote it.
        if (packet->prepend(kMeshHeaderSize) != nullptr &&
            parse_mesh_header(ByteView(packet->data(), packet->length), &header) == MeshHeaderError::ok &&
            !same_address(header.source, own_address_))
          send_error(*packet, header, MeshError::Kind::unreachable_protocol, 0);
        packet->release();
      }
    }
    i = end;
  }
}

// ---- the control protocol ----

void SwitchPlugin::send_error(const Packet& packet, const MeshHeader& header, MeshError::Kind kind,
                              std::uint32_t mtu) noexcept {
  const ByteView payload(packet.data() + kMeshHeaderSize, packet.length - kMeshHeaderSize);
  if (header.protocol == kProtocolControl && is_control_error(payload)) return;  // never about an error
  if (same_address(header.source, own_address_)) {
    MeshError error;
    error.kind = kind;
    error.reporter = own_address_;
    error.destination = header.destination;
    error.protocol = header.protocol;
    error.mtu = mtu;
    report_local_error(error);
    return;
  }
  // Token bucket: errorRatePerSecond, a burst of twice that.
  const std::uint64_t now = host_->loop()->now_ns();
  const double rate = config_.error_rate_per_second;
  error_tokens_ = std::min(2.0 * rate, error_tokens_ + rate * static_cast<double>(now - error_tokens_ns_) / 1e9);
  error_tokens_ns_ = now;
  if (error_tokens_ < 1.0) return;
  Packet* report = pool_->acquire();
  if (report == nullptr) return;
  error_tokens_ -= 1.0;
  std::uint8_t* body = report->append(kErrorMaxSize);
  const std::size_t size = write_error(body, kind, mtu, ByteView(packet.data(), packet.length));
  report->trim(static_cast<std::uint32_t>(kErrorMaxSize - size));
  MeshHeader out;
  out.protocol = kProtocolControl;
  out.source = own_address_;
  out.destination = header.source;
  write_mesh_header(report->prepend(kMeshHeaderSize), out);
  std::uint32_t ignored = 0;
  // A source we have no route back to gets nothing.
  if (route(report, header.source, &ignored) == Outcome::queued)
    ++mesh_stats_.errors_sent;
  else
    report->release();
}

void SwitchPlugin::on_control(const MeshInfo& info, Packet* packet) noexcept {
  const ByteView message(packet->data(), packet->length);
  ++mesh_stats_.delivered;
  if (const auto echo = parse_echo(message)) {
    if (echo->reply) {
      on_echo_reply(info, *echo);
      packet->release();
      return;
    }
    // Answer in the same buffer: the type byte changes, send() puts a fresh mesh header in
    // front (and delivers it locally when this node pinged itself).
    packet->data()[1] = static_cast<std::uint8_t>(ControlType::echo_reply);
    MeshSend s;
    s.destination = info.source;
    s.protocol = kProtocolControl;
    send(&s, &packet, 1);
    return;
  }
  const auto error = parse_error(message);
  if (!error || !same_address(error->original.source, own_address_)) {
    ++mesh_stats_.bad_control;
    packet->release();
    return;
  }
  if (error->original.protocol == kProtocolControl) {
    on_probe_error(info.source, *error);
  } else if (MeshReceiver* receiver = receiver_for(error->original.protocol)) {
    MeshError e;
    e.kind = error->kind;
    e.reporter = info.source;
    e.destination = error->original.destination;
    e.protocol = error->original.protocol;
    e.mtu = error->mtu;
    receiver->on_mesh_error(e);
  }
  packet->release();
}

bool SwitchPlugin::send_echo(const Address& destination, std::uint16_t id, std::uint16_t sequence,
                             std::uint8_t hop_limit, std::uint32_t size) noexcept {
  Packet* packet = pool_->acquire();
  if (packet == nullptr) return false;
  std::uint8_t* at = packet->append(static_cast<std::uint32_t>(kEchoHeaderSize + size));
  if (at == nullptr) {
    packet->release();
    return false;
  }
  write_echo_header(at, false, id, sequence);
  for (std::uint32_t i = 0; i < size; ++i) at[kEchoHeaderSize + i] = static_cast<std::uint8_t>(i);
  MeshSend s;
  s.destination = destination;
  s.protocol = kProtocolControl;
  s.hop_limit = hop_limit;
  return send(&s, &packet, 1) == 1;
}

// ---- later turns: packets to ourselves and errors for local senders ----

void SwitchPlugin::report_local_error(const MeshError& error) noexcept {
  if (queued_error_count_ == kLocalQueue) return;
  queued_errors_[queued_error_count_++] = error;
  post_drain();
}

void SwitchPlugin::post_drain() noexcept {
  if (drain_posted_) return;
  drain_posted_ = true;
  host_->loop()->post(&SwitchPlugin::drain_task, this);
}

void SwitchPlugin::drain_task(void* self) noexcept { static_cast<SwitchPlugin*>(self)->drain(); }

void SwitchPlugin::drain() noexcept {
  drain_posted_ = false;
  if (stopped_) return;
  const std::size_t packets = queued_count_;
  queued_count_ = 0;
  for (std::size_t i = 0; i < packets; ++i) deliver_local(queued_infos_[i], queued_packets_[i]);
  flush_local();
  // A receiver told of an error may send again and queue another: work on a copy.
  std::array<MeshError, kLocalQueue> errors_now;
  const std::size_t errors = queued_error_count_;
  std::copy_n(queued_errors_.begin(), errors, errors_now.begin());
  queued_error_count_ = 0;
  for (std::size_t i = 0; i < errors; ++i) {
    const MeshError& e = errors_now[i];
    if (e.protocol == kProtocolControl) continue;  // probes note their own failures
    if (MeshReceiver* receiver = receiver_for(e.protocol)) receiver->on_mesh_error(e);
  }
  flush_out();
  publish_counters();
}

}  // namespace mh::sw
