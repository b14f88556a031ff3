// The session table's state machine. See session_table.hpp for the contract and
// docs/protocol.md ("Session: end-to-end frames") for the wire side.
#include "session_table.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>

#include <sodium.h>

#include <algorithm>

namespace mh::session {

namespace {

constexpr std::uint64_t kNever = ~std::uint64_t{0};

bool same_key(const PublicKey& a, const PublicKey& b) noexcept { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }
std::uint64_t age(std::uint64_t now_ns, std::uint64_t then_ns) noexcept { return now_ns >= then_ns ? now_ns - then_ns : 0; }

// The largest batch handed to Output::send_packets at once.
constexpr std::size_t kSendBatch = 64;

}  // namespace

SessionTable::SessionTable(const noise::StaticKey& local, SessionTableConfig config)
    : local_(local),
      local_public_(local.public_key()),
      local_mac1_key_(mac1_key_for(local_public_)),
      config_(config) {
  // Every remote holds up to four indexes (current, previous, next, pending).
  const std::uint64_t wanted = std::uint64_t{config_.limits.max_sessions} * 4;
  std::uint32_t size = 16;
  while (size < wanted && size < (1u << 24)) size <<= 1;
  slots_.resize(size);
  slot_mask_ = size - 1;
  free_slots_.reserve(size);
  for (std::uint32_t i = size; i-- > 0;) free_slots_.push_back(i);
  remotes_.reserve(config_.limits.max_sessions);
  neighbour_buckets_.resize(kNeighbourBuckets);
}

SessionTable::~SessionTable() { drop_queues(); }

// ---- indexes ----

std::optional<std::uint32_t> SessionTable::allocate_index(Remote* r, SlotKind kind) noexcept {
  if (free_slots_.empty()) return std::nullopt;
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  // The low bits name the slot (an array lookup per packet, no hashing); the rest are random.
  const std::uint32_t index = (randombytes_random() & ~slot_mask_) | slot;
  slots_[slot] = Slot{index, r, kind};
  return index;
}

SessionTable::Slot* SessionTable::lookup(std::uint32_t index) noexcept {
  Slot& s = slots_[index & slot_mask_];
  if (s.remote == nullptr || s.index != index) return nullptr;
  return &s;
}

void SessionTable::free_index(std::uint32_t index) noexcept {
  Slot* s = lookup(index);
  if (s == nullptr) return;
  *s = Slot{};
  free_slots_.push_back(index & slot_mask_);
}

void SessionTable::rebind(std::uint32_t index, SlotKind kind) noexcept {
  if (Slot* s = lookup(index)) s->kind = kind;
}

void SessionTable::clear_keys(Keys& keys) noexcept {
  if (keys.live()) free_index(keys.local_index);
  keys = Keys{};
}

void SessionTable::clear_handshake(Remote& r) noexcept {
  if (r.handshake) free_index(r.pending_index);
  r.handshake.reset();
  r.pending_index = 0;
}

void SessionTable::wake_at(std::uint64_t at_ns) noexcept { next_wake_ns_ = std::min(next_wake_ns_, at_ns); }

// ---- remotes ----

Remote* SessionTable::find(const PublicKey& key) const noexcept {
  const auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second;
}

Remote* SessionTable::find(const Address& address) const noexcept {
  const auto it = by_address_.find(address);
  return it == by_address_.end() ? nullptr : it->second;
}

std::size_t SessionTable::established_count() const noexcept {
  std::size_t n = 0;
  for (const auto& r : remotes_) n += r->established();
  return n;
}

Remote* SessionTable::add_remote(const PublicKey& key, std::uint64_t now_ns) noexcept {
  if (remotes_.size() >= config_.limits.max_sessions && !evict_one()) {
    ++stats_.table_full;
    return nullptr;
  }
  try {
    auto r = std::make_unique<Remote>();
    r->peer.key = key;
    r->peer.address = address_of(key);  // the one hash per remote
    r->mac1_key = mac1_key_for(key);
    r->queue.resize(config_.limits.queue_length);
    r->created_ns = now_ns;
    r->last_data_ns = now_ns;
    Remote* raw = r.get();
    by_key_.emplace(key, raw);
    try {
      by_address_.emplace(raw->peer.address, raw);
      remotes_.push_back(std::move(r));
    } catch (...) {
      by_key_.erase(key);
      by_address_.erase(raw->peer.address);
      throw;
    }
    return raw;
  } catch (...) {
    ++stats_.table_full;
    return nullptr;
  }
}

// A full table makes room by forgetting the oldest remote that only has an unconfirmed
// responder session (what a flood of initiations from fresh keys creates); remotes that
// carry traffic or wait for a handshake of ours are never evicted.
bool SessionTable::evict_one() noexcept {
  std::size_t victim = remotes_.size();
  for (std::size_t i = 0; i < remotes_.size(); ++i) {
    const Remote& r = *remotes_[i];
    if (r.current.live() || r.previous.live() || r.attempting || r.queued != 0) continue;
    if (victim == remotes_.size() || r.created_ns < remotes_[victim]->created_ns) victim = i;
  }
  if (victim == remotes_.size()) return false;
  if (remotes_[victim]->next.live()) ++stats_.unconfirmed_dropped;
  remove_remote(victim);
  return true;
}

void SessionTable::remove_remote(std::size_t i) noexcept {
  Remote& r = *remotes_[i];
  clear_keys(r.current);
  clear_keys(r.previous);
  clear_keys(r.next);
  clear_handshake(r);
  while (r.queued != 0) {
    r.queue[r.queue_head].packet->release();
    r.queue_head = (r.queue_head + 1) % config_.limits.queue_length;
    --r.queued;
  }
  by_key_.erase(r.peer.key);
  by_address_.erase(r.peer.address);
  if (i + 1 != remotes_.size()) std::swap(remotes_[i], remotes_.back());
  remotes_.pop_back();
}

void SessionTable::drop_queues() noexcept {
  for (auto& r : remotes_) {
    while (r->queued != 0) {
      r->queue[r->queue_head].packet->release();
      r->queue_head = (r->queue_head + 1) % config_.limits.queue_length;
      --r->queued;
    }
  }
}

// ---- sending ----

bool SessionTable::usable(const Keys& keys, std::uint64_t now_ns) const noexcept {
  return keys.live() && age(now_ns, keys.created_ns) < config_.timers.reject_after_ns &&
         keys.transport.send_counter() < noise::Transport::kRejectAfterMessages;
}

// Prepends [header | protocol], appends the tag and encrypts in place. The caller checked
// headroom and tailroom.
bool SessionTable::seal(Remote& r, Packet& packet, std::uint16_t protocol) noexcept {
  Keys& k = r.current;
  const std::uint32_t plain_size = packet.length + kInnerProtocolSize;
  std::uint8_t* inner = packet.prepend(kInnerProtocolSize);
  put_u16(inner, protocol);
  std::uint8_t* header = packet.prepend(kTransportHeaderSize);
  put_transport_header(header, k.remote_index, k.transport.send_counter());
  packet.append(noise::kTagSize);
  std::uint64_t counter = 0;
  const std::span<std::uint8_t> text(inner, plain_size + noise::kTagSize);
  if (!k.transport.encrypt(text.first(plain_size), text, &counter, ByteView(header, kTransportHeaderSize)).ok()) {
    packet.consume(kTransportHeaderSize + kInnerProtocolSize);
    packet.trim(noise::kTagSize);
    return false;
  }
  ++r.packets_out;
  r.bytes_out += plain_size - kInnerProtocolSize;
  ++stats_.packets_sealed;
  return true;
}

// A small frame on the current session (keepalive, control), from the stack.
bool SessionTable::send_control(Remote& r, ByteView plaintext, std::uint64_t now_ns, Output& out) noexcept {
  constexpr std::size_t kMaxControl = 16;
  Keys& k = r.current;
  if (!usable(k, now_ns) || plaintext.size() > kMaxControl) return false;
  std::uint8_t frame[kTransportHeaderSize + kMaxControl + noise::kTagSize];
  put_transport_header(frame, k.remote_index, k.transport.send_counter());
  if (!plaintext.empty()) std::memcpy(frame + kTransportHeaderSize, plaintext.data(), plaintext.size());
  const std::span<std::uint8_t> text(frame + kTransportHeaderSize, plaintext.size() + noise::kTagSize);
  std::uint64_t counter = 0;
  if (!k.transport.encrypt(text.first(plaintext.size()), text, &counter, ByteView(frame, kTransportHeaderSize)).ok())
    return false;
  r.last_sent_ns = now_ns;
  r.owe_keepalive_since_ns = 0;
  out.send_frame(r.peer.address, ByteView(frame, kTransportHeaderSize + text.size()), kTransportHeaderSize);
  return true;
}

void SessionTable::enqueue(Remote& r, Packet* packet, std::uint16_t protocol) noexcept {
  const std::uint32_t capacity = config_.limits.queue_length;
  if (capacity == 0) {
    packet->release();
    ++stats_.queue_full;
    return;
  }
  if (r.queued == capacity) {  // the oldest makes room
    r.queue[r.queue_head].packet->release();
    r.queue_head = (r.queue_head + 1) % capacity;
    --r.queued;
    ++stats_.queue_full;
  }
  r.queue[(r.queue_head + r.queued) % capacity] = Queued{packet, protocol};
  ++r.queued;
}

void SessionTable::flush_queue(Remote& r, std::uint64_t now_ns, Output& out) noexcept {
  Packet* batch[kSendBatch];
  std::size_t n = 0;
  const std::uint32_t capacity = config_.limits.queue_length;
  while (r.queued != 0) {
    const Queued q = r.queue[r.queue_head];
    r.queue[r.queue_head] = Queued{};
    r.queue_head = (r.queue_head + 1) % capacity;
    --r.queued;
    if (!seal(r, *q.packet, q.protocol)) {
      q.packet->release();
      ++stats_.bad_packet;
      continue;
    }
    batch[n++] = q.packet;
    if (n == kSendBatch) {
      out.send_packets(r.peer.address, batch, n);
      n = 0;
    }
  }
  if (n != 0) out.send_packets(r.peer.address, batch, n);
  r.last_sent_ns = now_ns;
  r.owe_keepalive_since_ns = 0;
}

// The handshake gave up: every queued packet is dropped, and each protocol that had one
// hears that the node is unreachable.
void SessionTable::fail_queue(Remote& r, Output& out) noexcept {
  const std::uint32_t capacity = config_.limits.queue_length;
  std::uint16_t told[8];
  std::size_t told_count = 0;
  while (r.queued != 0) {
    const Queued q = r.queue[r.queue_head];
    r.queue[r.queue_head] = Queued{};
    r.queue_head = (r.queue_head + 1) % capacity;
    --r.queued;
    q.packet->release();
    ++stats_.unreachable;
    if (std::find(told, told + told_count, q.protocol) != told + told_count) continue;
    if (told_count < std::size(told)) told[told_count++] = q.protocol;
    SessionError e;
    e.kind = SessionError::Kind::unreachable;
    e.destination = r.peer.address;
    e.protocol = q.protocol;
    out.on_error(e);
  }
}

std::size_t SessionTable::send(const PublicKey& key, std::uint16_t protocol, Packet* const* packets, std::size_t count,
                               std::uint64_t now_ns, Output& out, std::uint32_t extra_headroom) noexcept {
  if (count == 0) return 0;
  Remote* r = find(key);
  if (r == nullptr) {
    const bool valid = !same_key(key, local_public_) && is_valid_node_key(key);
    if (!valid) ++stats_.invalid_key;
    if (!valid || (r = add_remote(key, now_ns)) == nullptr) {
      for (std::size_t i = 0; i < count; ++i) packets[i]->release();
      SessionError e;
      e.kind = valid ? SessionError::Kind::unreachable : SessionError::Kind::no_route;
      e.destination = address_of(key);
      e.protocol = protocol;
      out.on_error(e);
      return 0;
    }
  }
  const bool ready = usable(r->current, now_ns) && r->queued == 0;
  Packet* batch[kSendBatch];
  std::size_t n = 0, accepted = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet* p = packets[i];
    if (p->headroom() < kSendHeadroom + extra_headroom || p->tailroom() < kSendTailroom) {
      ++stats_.bad_packet;
      p->release();
      continue;
    }
    ++accepted;
    if (!ready) {
      enqueue(*r, p, protocol);
      continue;
    }
    if (!seal(*r, *p, protocol)) {
      enqueue(*r, p, protocol);  // the counter ran out: a new session will carry it
      continue;
    }
    batch[n++] = p;
    if (n == kSendBatch) {
      out.send_packets(r->peer.address, batch, n);
      n = 0;
    }
  }
  if (n != 0) out.send_packets(r->peer.address, batch, n);
  if (accepted != 0) {
    r->last_data_ns = now_ns;
    if (ready) {
      r->last_sent_ns = now_ns;
      r->owe_keepalive_since_ns = 0;
      if (r->unanswered_since_ns == 0) r->unanswered_since_ns = now_ns;
      wake_at(now_ns + config_.timers.silence_rehandshake_ns);
    }
  }
  // A fresh handshake when there is no session, or the one we send with is due a rekey.
  const Keys& c = r->current;
  const std::uint64_t rekey_age = c.initiator ? config_.timers.rekey_after_ns : config_.timers.responder_rekey_after_ns;
  const bool rekey = c.live() && (age(now_ns, c.created_ns) >= rekey_age ||
                                  c.transport.send_counter() >= noise::Transport::kRekeyAfterMessages);
  if (r->queued != 0 || rekey) start_handshake(*r, now_ns, out);
  wake_at(now_ns + config_.timers.idle_timeout_ns);
  return accepted;
}

// ---- handshakes ----

Tai64n SessionTable::next_timestamp(std::uint64_t now_ns) noexcept {
  // Rounded down to 2^24 ns (no precise clock reading leaks), then strictly increasing
  // within a run, so two initiations never carry the same stamp.
  const std::int64_t signed_unix = config_.wall_clock != nullptr
                                       ? config_.wall_clock->unix_ns()
                                       : static_cast<std::int64_t>(now_ns) + config_.unix_time_offset_ns;
  std::uint64_t unix_ns = signed_unix > 0 ? static_cast<std::uint64_t>(signed_unix) : 0;
  unix_ns &= ~((std::uint64_t{1} << 24) - 1);
  if (unix_ns <= last_stamp_unix_ns_) unix_ns = last_stamp_unix_ns_ + 1;
  last_stamp_unix_ns_ = unix_ns;
  return tai64n_from_unix(static_cast<std::int64_t>(unix_ns / kNsPerSecond),
                          static_cast<std::uint32_t>(unix_ns % kNsPerSecond));
}

void SessionTable::start_handshake(Remote& r, std::uint64_t now_ns, Output& out) noexcept {
  if (r.attempting) return;
  r.attempting = true;
  r.attempt_started_ns = now_ns;
  r.retry_ns = config_.timers.handshake_retry_ns;
  send_initiation(r, now_ns, out);
  r.next_attempt_ns = now_ns + r.retry_ns;
  wake_at(r.next_attempt_ns);
}

void SessionTable::send_initiation(Remote& r, std::uint64_t now_ns, Output& out) noexcept {
  clear_handshake(r);
  const auto index = allocate_index(&r, SlotKind::pending);
  if (!index) {
    ++stats_.table_full;
    return;
  }
  std::uint8_t payload[kInitiationPayloadSize];
  const Tai64n stamp = next_timestamp(now_ns);
  std::memcpy(payload, stamp.bytes, kTai64nSize);
  std::uint8_t frame[kInitiationSize];
  r.handshake.emplace(noise::Handshake::initiator(local_, r.peer.key, noise::kSessionPrologue, noise::Psk{}));
  std::size_t written = 0;
  if (!r.handshake->create_initiation(ByteView(payload, sizeof payload),
                                      std::span(frame + kInitiationNoiseOffset, kInitiationNoiseSize), &written).ok() ||
      written != kInitiationNoiseSize) {
    free_index(*index);
    r.handshake.reset();
    ++stats_.handshake_failed;
    return;
  }
  put_header(frame, FrameType::initiation);
  put_u32(frame + kFrameHeaderSize, *index);
  constexpr std::size_t mac1_at = kInitiationNoiseOffset + kInitiationNoiseSize;
  compute_mac1(r.mac1_key, ByteView(frame, mac1_at), frame + mac1_at);
  r.pending_index = *index;
  r.pending_sent_ns = now_ns;
  out.send_frame(r.peer.address, ByteView(frame, sizeof frame), kNoEndToEnd);
  ++stats_.initiations_sent;
}

namespace {

// Refills `credit_ns` for the time since `at_ns` (capped at max) and says whether `cost`
// is there; takes nothing.
bool refill(std::uint64_t& credit_ns, std::uint64_t& at_ns, std::uint64_t now_ns, std::uint64_t cost,
            std::uint64_t max_credit) noexcept {
  credit_ns = std::min(max_credit, credit_ns + (now_ns >= at_ns ? now_ns - at_ns : 0));
  at_ns = now_ns;
  return credit_ns >= cost;
}

}  // namespace

bool SessionTable::handshake_allowed(std::uint64_t now_ns, NeighbourId via) noexcept {
  const std::uint32_t rate = std::max(1u, config_.limits.handshakes_per_second);
  const std::uint32_t burst = std::max(1u, config_.limits.handshake_burst);
  const std::uint64_t cost = kNsPerSecond / rate;
  // A neighbour's bucket holds a quarter of the node's burst and refills at a quarter of
  // its rate: the same cost counted four times over.
  const std::uint64_t neighbour_cost = 4 * cost;
  const std::uint64_t neighbour_max = neighbour_cost * std::max(1u, burst / 4);
  if (node_bucket_.at_ns == 0) node_bucket_.credit_ns = cost * burst;  // start full
  if (!refill(node_bucket_.credit_ns, node_bucket_.at_ns, now_ns, cost, cost * burst)) return false;
  Bucket* b = nullptr;
  if (via != kNoNeighbour) {
    b = &neighbour_buckets_[via % kNeighbourBuckets];
    if (b->owner != via) *b = Bucket{via, neighbour_max, now_ns};  // a new neighbour starts full
    if (!refill(b->credit_ns, b->at_ns, now_ns, neighbour_cost, neighbour_max)) return false;
    b->credit_ns -= neighbour_cost;
  }
  node_bucket_.credit_ns -= cost;
  return true;
}

void SessionTable::install(Remote& r, Keys&& keys) noexcept {
  clear_keys(r.previous);
  if (r.current.live()) {
    r.previous = std::move(r.current);
    rebind(r.previous.local_index, SlotKind::previous);
  }
  r.current = std::move(keys);
  rebind(r.current.local_index, SlotKind::current);
  ++stats_.established;
}

// A session we can send with was just confirmed: the attempt is over and what waited goes.
void SessionTable::session_ready(Remote& r, std::uint64_t now_ns, Output& out) noexcept {
  r.attempting = false;
  r.unanswered_since_ns = 0;
  if (r.queued != 0) {
    r.last_data_ns = now_ns;
    flush_queue(r, now_ns, out);
  }
  wake_at(r.current.created_ns + config_.timers.reject_after_ns);
}

void SessionTable::on_initiation(ByteView frame, std::uint64_t now_ns, Output& out, NeighbourId via) noexcept {
  const auto msg = parse_initiation(frame);
  if (!msg) {
    ++stats_.bad_message;
    return;
  }
  // Cheap checks first: mac1 before any DH, then the responder's handshake budget.
  if (!check_mac1(local_mac1_key_, msg->mac1_covered, msg->mac1)) {
    ++stats_.bad_mac1;
    return;
  }
  if (!handshake_allowed(now_ns, via)) {
    ++stats_.rate_limited;
    return;
  }
  auto hs = noise::Handshake::responder(local_, noise::kSessionPrologue);
  std::uint8_t payload[kInitiationPayloadSize];
  std::size_t payload_size = 0;
  if (!hs.consume_initiation(msg->noise_message, payload, &payload_size).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  if (payload_size != kInitiationPayloadSize) {
    ++stats_.bad_message;
    return;
  }
  Tai64n stamp;
  std::memcpy(stamp.bytes, payload, kTai64nSize);
  const PublicKey remote = hs.remote_static();
  Remote* r = find(remote);
  if (r == nullptr && (same_key(remote, local_public_) || !is_valid_node_key(remote))) {
    ++stats_.invalid_key;
    return;
  }
  if (r != nullptr && r->has_timestamp && !tai64n_is_newer(stamp, r->last_timestamp)) {
    ++stats_.stale_timestamp;
    return;
  }
  if (r == nullptr && (r = add_remote(remote, now_ns)) == nullptr) return;

  // Both sides initiating at once: the initiation from the lower public key wins. Only
  // while ours is young: one outstanding for half a retry was probably lost, and refusing
  // theirs could leave no session at all.
  if (r->handshake) {
    const bool ours_is_young = age(now_ns, r->pending_sent_ns) < config_.timers.handshake_retry_ns / 2;
    if (ours_is_young && std::memcmp(local_public_.bytes, remote.bytes, kPublicKeySize) < 0) {
      ++stats_.collision_lost;
      return;
    }
    clear_handshake(*r);  // theirs wins; the attempt stays, should their side never confirm
  }

  const auto index = allocate_index(r, SlotKind::next);
  if (!index) {
    ++stats_.table_full;
    return;
  }
  std::uint8_t response[kResponseSize];
  std::size_t written = 0;
  Keys fresh;
  if (!hs.create_response({}, std::span(response + kResponseNoiseOffset, kResponseNoiseSize), &written).ok() ||
      written != kResponseNoiseSize || !hs.split(&fresh.transport).ok()) {
    free_index(*index);
    ++stats_.handshake_failed;
    return;
  }
  r->last_timestamp = stamp;
  r->has_timestamp = true;
  // A newer unconfirmed session replaces an older one; `current` stays until confirmation.
  if (r->next.live()) ++stats_.unconfirmed_dropped;
  clear_keys(r->next);
  fresh.local_index = *index;
  fresh.remote_index = msg->sender_index;
  fresh.created_ns = now_ns;
  fresh.initiator = false;
  r->next = std::move(fresh);

  put_header(response, FrameType::response);
  put_u32(response + kFrameHeaderSize, *index);
  put_u32(response + kFrameHeaderSize + kIndexSize, msg->sender_index);
  constexpr std::size_t mac1_at = kResponseNoiseOffset + kResponseNoiseSize;
  compute_mac1(r->mac1_key, ByteView(response, mac1_at), response + mac1_at);
  // To addr(initiator key), never to the mesh header's source.
  out.send_frame(r->peer.address, ByteView(response, sizeof response), kNoEndToEnd);
  ++stats_.responses_sent;
  wake_at(now_ns + config_.timers.handshake_timeout_ns);
}

void SessionTable::on_response(ByteView frame, std::uint64_t now_ns, Output& out) noexcept {
  const auto msg = parse_response(frame);
  if (!msg) {
    ++stats_.bad_message;
    return;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind != SlotKind::pending) {
    ++stats_.unexpected_response;
    return;
  }
  if (!check_mac1(local_mac1_key_, msg->mac1_covered, msg->mac1)) {
    ++stats_.bad_mac1;
    return;
  }
  Remote& r = *slot->remote;
  std::uint8_t none[1];
  std::size_t payload_size = 0;
  // A failed response leaves the handshake as it was (forgery, junk).
  if (!r.handshake->consume_response(msg->noise_message, std::span(none, 0), &payload_size).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  Keys fresh;
  if (!r.handshake->split(&fresh.transport).ok()) {
    ++stats_.handshake_failed;
    return;
  }
  fresh.local_index = r.pending_index;
  fresh.remote_index = msg->sender_index;
  fresh.created_ns = now_ns;
  fresh.initiator = true;
  r.handshake.reset();  // the index moves to the new keys
  r.pending_index = 0;
  // The response authenticated both of us: the initiator switches at once; its first
  // transport packet (the queue, or a keepalive) confirms the session to the responder.
  install(r, std::move(fresh));
  if (r.next.live()) ++stats_.unconfirmed_dropped;
  clear_keys(r.next);
  r.last_received_ns = now_ns;
  const bool had_queue = r.queued != 0;
  session_ready(r, now_ns, out);
  if (!had_queue) send_control(r, {}, now_ns, out);
}

std::optional<Delivery> SessionTable::on_transport(MutableByteView frame, std::uint64_t now_ns, Output& out) noexcept {
  const auto msg = parse_transport(frame);
  if (!msg) {
    ++stats_.bad_message;
    return std::nullopt;
  }
  Slot* slot = lookup(msg->receiver_index);
  if (slot == nullptr || slot->kind == SlotKind::pending) {
    ++stats_.unknown_index;
    return std::nullopt;
  }
  Remote& r = *slot->remote;
  const SlotKind kind = slot->kind;
  Keys& k = r.slot(kind);
  if (age(now_ns, k.created_ns) >= config_.timers.reject_after_ns) {
    ++stats_.expired;
    return std::nullopt;
  }
  const MutableByteView text = frame.subspan(kTransportHeaderSize);
  std::size_t plain_size = 0;
  switch (k.transport.decrypt(msg->counter, msg->ciphertext, text, &plain_size, msg->header)) {
    case noise::DecryptResult::ok: break;
    case noise::DecryptResult::replayed: ++stats_.replayed; return std::nullopt;
    case noise::DecryptResult::forged: ++stats_.decrypt_failed; return std::nullopt;
    case noise::DecryptResult::malformed: ++stats_.bad_message; return std::nullopt;
  }
  r.last_received_ns = now_ns;
  r.unanswered_since_ns = 0;
  if (kind == SlotKind::next) {
    // Key confirmation: the initiator used the new session, so it replaces the old one.
    Keys confirmed = std::move(r.next);
    r.next = Keys{};
    install(r, std::move(confirmed));
    clear_handshake(r);
    session_ready(r, now_ns, out);
  }
  const auto plain = parse_plaintext(text.first(plain_size));
  if (!plain) {
    ++stats_.bad_message;
    return std::nullopt;
  }
  if (plain->keepalive) return std::nullopt;
  if (plain->protocol == kControlProtocol) {
    if (const auto protocol = parse_no_receiver(plain->data)) {
      SessionError e;
      e.kind = SessionError::Kind::no_receiver;
      e.destination = r.peer.address;
      e.protocol = *protocol;
      out.on_error(e);
    } else {
      ++stats_.bad_message;
    }
    return std::nullopt;
  }
  ++r.packets_in;
  r.bytes_in += plain->data.size();
  ++stats_.packets_opened;
  r.last_data_ns = now_ns;
  if (r.owe_keepalive_since_ns == 0) {
    r.owe_keepalive_since_ns = now_ns;
    wake_at(now_ns + config_.timers.keepalive_ns);
  }
  return Delivery{&r, plain->protocol, plain->data};
}

std::optional<Delivery> SessionTable::receive(MutableByteView frame, std::uint64_t now_ns, Output& out,
                                              NeighbourId via) noexcept {
  const auto header = parse_header(frame);
  if (!header || header->version != kSessionVersion) {
    ++stats_.bad_message;
    return std::nullopt;
  }
  switch (static_cast<FrameType>(header->type)) {
    case FrameType::transport: return on_transport(frame, now_ns, out);
    case FrameType::initiation: on_initiation(frame, now_ns, out, via); break;
    case FrameType::response: on_response(frame, now_ns, out); break;
    default: ++stats_.bad_message; break;
  }
  return std::nullopt;
}

void SessionTable::report_no_receiver(Remote& from, std::uint16_t protocol, std::uint64_t now_ns, Output& out) noexcept {
  if (from.last_no_receiver_ns != 0 && age(now_ns, from.last_no_receiver_ns) < kNsPerSecond) return;
  std::uint8_t message[kNoReceiverSize];
  put_u16(message, kControlProtocol);
  message[kInnerProtocolSize] = static_cast<std::uint8_t>(ControlCode::no_receiver);
  put_u16(message + kInnerProtocolSize + 1, protocol);
  if (send_control(from, ByteView(message, sizeof message), now_ns, out)) from.last_no_receiver_ns = now_ns;
}

// ---- timers ----

std::uint64_t SessionTable::service(Remote& r, std::uint64_t now_ns, Output& out) noexcept {
  const Timers& t = config_.timers;
  std::uint64_t wake = kNever;
  auto at = [&](std::uint64_t when) { wake = std::min(wake, when); };

  if (r.previous.live()) {
    if (age(now_ns, r.previous.created_ns) >= t.reject_after_ns) clear_keys(r.previous);
    else at(r.previous.created_ns + t.reject_after_ns);
  }
  if (r.next.live()) {
    if (age(now_ns, r.next.created_ns) >= t.handshake_timeout_ns) {
      clear_keys(r.next);
      ++stats_.unconfirmed_dropped;
    } else {
      at(r.next.created_ns + t.handshake_timeout_ns);
    }
  }
  if (r.current.live()) {
    if (age(now_ns, r.current.created_ns) >= t.reject_after_ns) clear_keys(r.current);
    else at(r.current.created_ns + t.reject_after_ns);
  }

  // Sent data and heard nothing back: the remote may have restarted and lost the session.
  if (r.unanswered_since_ns != 0) {
    if (age(now_ns, r.unanswered_since_ns) >= t.silence_rehandshake_ns) {
      r.unanswered_since_ns = 0;
      start_handshake(r, now_ns, out);
    } else {
      at(r.unanswered_since_ns + t.silence_rehandshake_ns);
    }
  }
  // Nothing usable to send with while packets wait: a handshake must be under way.
  if (r.queued != 0 && !usable(r.current, now_ns)) start_handshake(r, now_ns, out);

  if (r.attempting) {
    if (age(now_ns, r.attempt_started_ns) >= t.handshake_timeout_ns) {
      r.attempting = false;
      clear_handshake(r);
      ++stats_.timed_out;
      fail_queue(r, out);
    } else {
      if (now_ns >= r.next_attempt_ns) {
        // Their initiation we answered is about to be confirmed: give it one retry's time.
        const bool answered_recently = r.next.live() && age(now_ns, r.next.created_ns) < r.retry_ns;
        if (!answered_recently) send_initiation(r, now_ns, out);
        r.retry_ns = std::min(r.retry_ns * 2, t.handshake_retry_max_ns);
        r.next_attempt_ns = now_ns + r.retry_ns;
      }
      at(r.next_attempt_ns);
      at(r.attempt_started_ns + t.handshake_timeout_ns);
    }
  }

  // Received data and sent nothing since: tell the sender the session still works.
  if (r.owe_keepalive_since_ns != 0) {
    if (!usable(r.current, now_ns)) r.owe_keepalive_since_ns = 0;
    else if (age(now_ns, r.owe_keepalive_since_ns) >= t.keepalive_ns) send_control(r, {}, now_ns, out);
    else at(r.owe_keepalive_since_ns + t.keepalive_ns);
  }

  at(r.last_data_ns + t.idle_timeout_ns);
  return wake;
}

std::uint64_t SessionTable::tick(std::uint64_t now_ns, Output& out) noexcept {
  next_wake_ns_ = kNever;
  for (std::size_t i = 0; i < remotes_.size();) {
    Remote& r = *remotes_[i];
    const std::uint64_t wake = service(r, now_ns, out);
    const bool idle = !r.attempting && r.queued == 0 && age(now_ns, r.last_data_ns) >= config_.timers.idle_timeout_ns;
    const bool empty = !r.attempting && r.queued == 0 && !r.current.live() && !r.previous.live() && !r.next.live();
    if (idle || empty) {
      remove_remote(i);  // swaps the last remote into i
      continue;
    }
    wake_at(wake);
    ++i;
  }
  return next_wake_ns_;
}

}  // namespace mh::session
