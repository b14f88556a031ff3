// A pair of in-memory Links for plugin unit tests: what one sends the other receives on
// the next FakeLoop::run_pending(), with optional loss. Test code only; header-only.
#pragma once

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/testing/fake_loop.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace mh::testing {

// How a LoopbackLink is built (outside the class so it can be a defaulted argument).
struct LoopbackLinkOptions {
  std::uint32_t mtu = 1500;
  std::uint32_t pool_packets = 256;  // this link's pool, which received frames come from
  std::uint32_t buffer_size = FixedPacketPool::kDefaultBufferSize;
  std::uint32_t headroom = FixedPacketPool::kDefaultHeadroom;
  HopEncryption hop_encryption = HopEncryption::full;
  DiscoveredPeerPolicy policy = DiscoveredPeerPolicy::accept_any;
  std::vector<PublicKey> allowed = {};  // with DiscoveredPeerPolicy::allow_list
};

// Delivery is deferred, never inside send(): send() copies each frame into a packet from
// the peer's pool (as a kernel copies), queues it, and posts one task on the FakeLoop; the
// test's run_pending() then hands everything queued so far to the peer's receiver in one
// batch. So a receiver that answers from on_receive() never re-enters its own caller,
// and a ping-pong exchange advances one hop per run_pending() task.
//
// Received packets carry the sender link's endpoint() and come from the receiving link's
// pool(); the receiver owns them and must release them before that link is destroyed.
// Both links and everything using them must die before the FakeLoop.
//
// Also a one-link LinkDriver and a Service, so a test can add_service("link.loopback",
// &link) on a FakeHost and let the plugin under test find it as it finds a real link
// driver; add_peer_hint() plays the part of a configured peer or a heard beacon.
class LoopbackLink final : public Link, public LinkDriver, public Service {
 public:
  // Endpoint::kind of a loopback endpoint; the bytes are the link's name (up to 32).
  static constexpr std::uint8_t kEndpointKind = 0x4c;  // 'L'

  using Options = LoopbackLinkOptions;

  // What happened to frames this link sent (counted on the sender).
  struct Stats {
    std::uint64_t sent = 0;                    // accepted by send(), including those lost below
    std::uint64_t delivered = 0;               // queued for the peer
    std::uint64_t dropped_loss = 0;            // the loss knob took them
    std::uint64_t dropped_oversize = 0;        // over mtu(), or too big for the peer's buffers
    std::uint64_t dropped_no_peer = 0;         // sent while not connected
    std::uint64_t dropped_peer_exhausted = 0;  // the peer's pool had no packet to copy into
  };

  // `loop` must outlive the link. The mtu is capped at what one buffer holds after its
  // headroom. Throws what FixedPacketPool's constructor throws.
  LoopbackLink(FakeLoop& loop, std::string name, Options options = {})
      : loop_(loop),
        name_(std::move(name)),
        pool_(options.pool_packets, options.buffer_size, options.headroom),
        mtu_(std::min(options.mtu, options.buffer_size - options.headroom)),
        hop_encryption_(options.hop_encryption),
        policy_(options.policy),
        allowed_(std::move(options.allowed)),
        rng_(1) {
    endpoint_.kind = kEndpointKind;
    endpoint_.size = static_cast<std::uint8_t>(std::min(name_.size(), Endpoint::kMaxSize));
    std::memcpy(endpoint_.bytes, name_.data(), endpoint_.size);
    // The inbox never holds more than the pool has, so queuing never allocates.
    inbox_.reserve(options.pool_packets);
    batch_.reserve(options.pool_packets);
  }

  // Disconnects, drops queued deliveries (their packets go back to this link's pool).
  ~LoopbackLink() {
    disconnect();
    loop_.cancel_posts(this);
    for (Packet* p : inbox_) p->release();
  }

  LoopbackLink(const LoopbackLink&) = delete;
  LoopbackLink& operator=(const LoopbackLink&) = delete;

  // Joins `a` and `b` point to point, replacing any earlier peer of either.
  static void connect(LoopbackLink& a, LoopbackLink& b) noexcept {
    a.disconnect();
    b.disconnect();
    a.peer_ = &b;
    b.peer_ = &a;
  }

  // Cuts the wire: later sends from either side are dropped (dropped_no_peer). Frames
  // already queued are still delivered.
  void disconnect() noexcept {
    if (peer_ != nullptr) peer_->peer_ = nullptr;
    peer_ = nullptr;
  }

  // ---- mh::Link ----

  Str name() const noexcept override { return Str::of(name_); }
  std::uint32_t mtu() const noexcept override { return mtu_; }
  void set_receiver(LinkReceiver* receiver) noexcept override { receiver_ = receiver; }
  PacketPool* pool() noexcept override { return &pool_; }

  // Takes every packet; returns how many were accepted (not over mtu, peer connected).
  // Accepted frames may still be lost to the loss knob or the peer's exhausted pool.
  std::size_t send(Packet* const* packets, std::size_t count) noexcept override {
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < count; ++i) {
      Packet* p = packets[i];
      if (p == nullptr) continue;
      last_destination_ = p->endpoint;
      if (p->length > mtu_) {
        ++stats_.dropped_oversize;
      } else if (peer_ == nullptr) {
        ++stats_.dropped_no_peer;
      } else {
        ++accepted;
        ++stats_.sent;
        transmit(*p);
      }
      p->release();
    }
    return accepted;
  }

  HopEncryption hop_encryption() const noexcept override { return hop_encryption_; }
  DiscoveredPeerPolicy discovered_peer_policy() const noexcept override { return policy_; }
  bool allows(const PublicKey& key) const noexcept override {
    if (policy_ != DiscoveredPeerPolicy::allow_list) return false;
    return std::any_of(allowed_.begin(), allowed_.end(),
                       [&](const PublicKey& k) { return std::memcmp(k.bytes, key.bytes, sizeof k.bytes) == 0; });
  }
  // "loopback/<the sending link's name>".
  std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept override {
    constexpr char kPrefix[] = "loopback/";
    const std::size_t size = sizeof kPrefix - 1 + endpoint.size;
    if (size > capacity) return 0;
    std::memcpy(out, kPrefix, sizeof kPrefix - 1);
    std::memcpy(out + sizeof kPrefix - 1, endpoint.bytes, endpoint.size);
    return size;
  }

  // ---- mh::LinkDriver ----

  Str driver_name() const noexcept override { return "loopback"; }
  // Announces this one link, then replays every hint added so far.
  void set_observer(LinkObserver* observer) noexcept override {
    observer_ = observer;
    if (observer_ == nullptr) return;
    observer_->on_link_up(this);
    for (const auto& hint : hints_) observer_->on_peer_hint(this, hint.view());
  }

  // ---- mh::Service ----

  void* query(InterfaceId id) noexcept override {
    if (id == kLinkDriverInterface) return static_cast<LinkDriver*>(this);
    return nullptr;
  }

  // ---- test controls ----

  // A peer to tell the observer about: replayed by set_observer, and told at once if an
  // observer is already set (as a beacon heard now).
  void add_peer_hint(const PublicKey& key, std::string password = {}, std::string login = {},
                     bool from_beacon = false) {
    hints_.push_back({key, std::move(password), std::move(login), from_beacon, peer_ ? peer_->endpoint_ : Endpoint{}});
    if (observer_ != nullptr) observer_->on_peer_hint(this, hints_.back().view());
  }
  // Tells the observer this link is going away (as an interface vanishing would).
  void announce_down() noexcept {
    if (observer_ != nullptr) observer_->on_link_down(this);
  }

  const Endpoint& endpoint() const noexcept { return endpoint_; }
  LoopbackLink* peer() const noexcept { return peer_; }
  FixedPacketPool& fixed_pool() noexcept { return pool_; }
  const Stats& stats() const noexcept { return stats_; }
  // The endpoint of the last packet passed to send() (the link ignores it otherwise).
  const Endpoint& last_destination() const noexcept { return last_destination_; }
  // Frames queued for this link's receiver, not yet delivered.
  std::size_t queued_count() const noexcept { return inbox_.size(); }

  // Loses each later frame with `probability` (0 = none, 1 = all), drawn from a
  // generator seeded with `seed`, so a test's losses repeat run to run.
  void set_loss(double probability, std::uint32_t seed = 1) noexcept {
    probability = std::clamp(probability, 0.0, 1.0);
    loss_threshold_ = static_cast<std::uint64_t>(probability * 4294967296.0);  // of 2^32
    rng_.seed(seed);
  }
  // Loses exactly the next `count` frames sent, before the random loss applies.
  void drop_next(std::size_t count) noexcept { drop_next_ = count; }

 private:
  void transmit(const Packet& frame) noexcept {
    if (drop_next_ > 0) {
      --drop_next_;
      ++stats_.dropped_loss;
      return;
    }
    if (loss_threshold_ > 0 && std::uint64_t{rng_()} < loss_threshold_) {
      ++stats_.dropped_loss;
      return;
    }
    LoopbackLink& peer = *peer_;
    if (frame.length > peer.pool_.buffer_size() - peer.pool_.headroom()) {
      ++stats_.dropped_oversize;
      return;
    }
    Packet* copy = peer.pool_.acquire();
    if (copy == nullptr) {
      ++stats_.dropped_peer_exhausted;
      return;
    }
    std::uint8_t* at = copy->append(frame.length);
    if (frame.length > 0) std::memcpy(at, frame.data(), frame.length);
    copy->endpoint = endpoint_;
    ++stats_.delivered;
    peer.enqueue(copy);
  }

  struct StoredHint {
    PublicKey key;
    std::string password;
    std::string login;
    bool from_beacon;
    Endpoint endpoint;
    PeerHint view() const noexcept {
      PeerHint hint;
      hint.endpoint = endpoint;
      hint.key = key;
      hint.password = Str::of(password);
      hint.login = Str::of(login);
      hint.from_beacon = from_beacon;
      return hint;
    }
  };

  void enqueue(Packet* p) noexcept {
    inbox_.push_back(p);  // within the reserved capacity: at most pool_packets are out
    if (!delivery_posted_) {
      delivery_posted_ = true;
      loop_.post(&LoopbackLink::deliver_task, this);
    }
  }

  static void deliver_task(void* context) noexcept { static_cast<LoopbackLink*>(context)->deliver(); }

  void deliver() noexcept {
    delivery_posted_ = false;
    batch_.swap(inbox_);  // frames the receiver sends to itself land in a fresh inbox
    if (receiver_ != nullptr) {
      receiver_->on_receive(this, batch_.data(), batch_.size());
    } else {
      for (Packet* p : batch_) p->release();
    }
    batch_.clear();
  }

  FakeLoop& loop_;
  std::string name_;
  FixedPacketPool pool_;
  std::uint32_t mtu_;
  Endpoint endpoint_;
  Endpoint last_destination_;
  LoopbackLink* peer_ = nullptr;
  LinkReceiver* receiver_ = nullptr;
  std::vector<Packet*> inbox_;
  std::vector<Packet*> batch_;
  bool delivery_posted_ = false;
  Stats stats_;
  std::size_t drop_next_ = 0;
  std::uint64_t loss_threshold_ = 0;
  HopEncryption hop_encryption_;
  DiscoveredPeerPolicy policy_;
  std::vector<PublicKey> allowed_;
  std::vector<StoredHint> hints_;
  LinkObserver* observer_ = nullptr;
  std::mt19937 rng_;
};

}  // namespace mh::testing
