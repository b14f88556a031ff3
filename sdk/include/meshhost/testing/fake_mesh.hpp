// An in-memory mesh for plugin unit tests (DESIGN §2's "in-memory switch"): nodes that
// each offer mh::Mesh, neighbour links the test makes and cuts, FIBs the plugins under
// test install, and hop-by-hop forwarding with hop limits and error reports, all without
// sockets. Packets move only inside deliver(). Test code only; header-only.
//
//   FakeMeshNetwork net;
//   auto& a = net.add_node(host_a.public_key(), host_a.address());
//   host_a.add_service("switch", &a);          // plugins under test look it up as usual
//   net.connect(a, b, 10);                     // both observers hear on_neighbour_up
//   net.deliver();                             // moves queued packets until none is left
#pragma once

#include <meshhost/mesh.hpp>
#include <meshhost/packet_pool.hpp>

#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace mh::testing {

struct AddressLess {
  bool operator()(const Address& a, const Address& b) const noexcept {
    return std::memcmp(a.bytes, b.bytes, kAddressSize) < 0;
  }
};
inline bool same_address(const Address& a, const Address& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0;
}

class FakeMeshNetwork {
 public:
  class Node;

  struct Stats {
    std::uint64_t delivered = 0;
    std::uint64_t forwarded = 0;
    std::uint64_t no_route = 0;
    std::uint64_t hop_limit_exceeded = 0;
    std::uint64_t no_receiver = 0;
    std::uint64_t too_big = 0;
    std::uint64_t bad_headroom = 0;
  };

  class Node final : public Mesh, public Service {
   public:
    Node(FakeMeshNetwork& net, std::size_t index, const PublicKey& key, const Address& address)
        : net_(net), index_(index), key_(key), address_(address), pool_(1024) {}

    const PublicKey& key() const noexcept { return key_; }
    const Address& address() const noexcept { return address_; }
    // The FIB as the plugin under test installed it.
    const std::map<Address, NeighbourId, AddressLess>& fib() const noexcept { return fib_; }
    // The id this node's observer knows `other` by (kNoNeighbour when not connected).
    NeighbourId neighbour_id(const Node& other) const noexcept {
      const auto it = links_.find(other.index_);
      return it == links_.end() ? kNoNeighbour : it->second.id;
    }
    Stats stats;
    // Payload limit per packet (too_big above it); tests lower it to exercise PMTU.
    std::uint32_t mtu = kMeshMinPayload;

    // ---- mh::Service ----
    void* query(InterfaceId id) noexcept override { return id == kMeshInterface ? static_cast<Mesh*>(this) : nullptr; }

    // ---- mh::Mesh ----
    Status register_protocol(std::uint16_t protocol, MeshReceiver* receiver) noexcept override {
      if (receiver == nullptr) return Status::error(StatusCode::invalid_argument, "null receiver");
      if (!receivers_.emplace(protocol, receiver).second) {
        return Status::error(StatusCode::already_exists, "protocol already registered");
      }
      return Status::success();
    }
    void unregister_protocol(std::uint16_t protocol) noexcept override { receivers_.erase(protocol); }

    std::size_t send(const MeshSend* sends, Packet* const* packets, std::size_t count) noexcept override {
      std::size_t accepted = 0;
      for (std::size_t i = 0; i < count; ++i) {
        Packet* p = packets[i];
        if (p->headroom() < kMeshHeadroom || sends[i].hop_limit == 0) {
          ++stats.bad_headroom;
          p->release();
          continue;
        }
        MeshInfo info;
        info.source = address_;
        info.destination = sends[i].destination;
        info.protocol = sends[i].protocol;
        info.hop_limit = sends[i].hop_limit;
        info.from = kNoNeighbour;
        if (net_.route(*this, info, p)) ++accepted;
      }
      return accepted;
    }

    bool send_to_neighbour(NeighbourId neighbour, std::uint16_t protocol, Packet* packet) noexcept override {
      Node* next = find_neighbour(neighbour);
      if (next == nullptr) {
        packet->release();
        return false;
      }
      MeshInfo info;
      info.source = address_;
      info.destination = next->address_;
      info.protocol = protocol;
      info.hop_limit = 1;
      net_.enqueue(*this, *next, info, packet);
      return true;
    }

    void set_neighbour_observer(NeighbourObserver* observer) noexcept override {
      observer_ = observer;
      if (observer_ == nullptr) return;
      for (const auto& [other, link] : links_) observer_->on_neighbour_up(link.id, net_.nodes_[other]->key_, link.cost);
    }

    Status set_route(const Address& destination, NeighbourId next_hop) noexcept override {
      if (same_address(destination, address_) || find_neighbour(next_hop) == nullptr) {
        return Status::error(StatusCode::invalid_argument, "bad route");
      }
      fib_[destination] = next_hop;
      return Status::success();
    }
    void remove_route(const Address& destination) noexcept override { fib_.erase(destination); }

    PacketPool* pool() noexcept override { return &pool_; }
    std::uint32_t max_payload(const Address&) noexcept override { return mtu; }

   private:
    friend class FakeMeshNetwork;
    struct LinkState {
      NeighbourId id;
      std::uint32_t cost;
    };

    Node* find_neighbour(NeighbourId id) noexcept {
      for (const auto& [other, link] : links_) {
        if (link.id == id) return net_.nodes_[other].get();
      }
      return nullptr;
    }

    FakeMeshNetwork& net_;
    std::size_t index_;
    PublicKey key_;
    Address address_;
    FixedPacketPool pool_;
    std::map<std::uint16_t, MeshReceiver*> receivers_;
    std::map<std::size_t, LinkState> links_;  // by the other node's index
    std::map<Address, NeighbourId, AddressLess> fib_;
    NeighbourObserver* observer_ = nullptr;
    std::uint32_t generation_ = 0;
  };

  FakeMeshNetwork() = default;
  FakeMeshNetwork(const FakeMeshNetwork&) = delete;
  FakeMeshNetwork& operator=(const FakeMeshNetwork&) = delete;
  // Releases every packet still in flight before the nodes' pools go.
  ~FakeMeshNetwork() {
    for (auto& f : queue_) f.packet->release();
  }

  Node& add_node(const PublicKey& key, const Address& address) {
    nodes_.push_back(std::make_unique<Node>(*this, nodes_.size(), key, address));
    return *nodes_.back();
  }

  // Makes `a` and `b` neighbours at `cost` (both directions); their observers hear it.
  void connect(Node& a, Node& b, std::uint32_t cost = 10) {
    link_up(a, b, cost);
    link_up(b, a, cost);
  }
  // Changes the cost both ways; observers hear on_neighbour_cost.
  void set_cost(Node& a, Node& b, std::uint32_t cost) {
    for (auto [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      auto it = x->links_.find(y->index_);
      if (it == x->links_.end()) continue;
      it->second.cost = cost;
      if (x->observer_ != nullptr) x->observer_->on_neighbour_cost(it->second.id, cost);
    }
  }
  // Cuts the link: packets in flight on it are lost, observers hear on_neighbour_down.
  void disconnect(Node& a, Node& b) {
    for (auto [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      auto it = x->links_.find(y->index_);
      if (it == x->links_.end()) continue;
      const NeighbourId id = it->second.id;
      x->links_.erase(it);
      if (x->observer_ != nullptr) x->observer_->on_neighbour_down(id);
    }
    for (auto it = queue_.begin(); it != queue_.end();) {
      const bool on_link = (it->from == a.index_ && it->to == b.index_) || (it->from == b.index_ && it->to == a.index_);
      if (on_link) {
        it->packet->release();
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Moves packets hop by hop (each hop one step) until nothing is queued or `max_steps`
  // hops were taken; returns the hops taken.
  std::size_t deliver(std::size_t max_steps = 1'000'000) {
    std::size_t steps = 0;
    while ((!queue_.empty() || !errors_.empty()) && steps < max_steps) {
      ++steps;
      if (!errors_.empty()) {
        const auto [node, error] = errors_.front();
        errors_.pop_front();
        const auto r = nodes_[node]->receivers_.find(error.protocol);
        if (r != nodes_[node]->receivers_.end()) r->second->on_mesh_error(error);
        continue;
      }
      Frame f = queue_.front();
      queue_.pop_front();
      arrive(*nodes_[f.to], f);
    }
    return steps;
  }
  std::size_t in_flight() const noexcept { return queue_.size() + errors_.size(); }

 private:
  struct Frame {
    std::size_t from;  // node index; the sender itself for local delivery
    std::size_t to;
    MeshInfo info;
    Packet* packet;
  };

  void link_up(Node& x, Node& y, std::uint32_t cost) {
    auto it = x.links_.find(y.index_);
    if (it != x.links_.end()) {
      it->second.cost = cost;
      return;
    }
    const NeighbourId id = (++x.generation_ << 16) | static_cast<NeighbourId>(y.index_ + 1);
    x.links_.emplace(y.index_, Node::LinkState{id, cost});
    if (x.observer_ != nullptr) x.observer_->on_neighbour_up(id, y.key_, cost);
  }

  void enqueue(Node& from, Node& to, const MeshInfo& info, Packet* packet) {
    queue_.push_back(Frame{from.index_, to.index_, info, packet});
  }

  // At `at`: local delivery, or the next hop by FIB. False when dropped.
  bool route(Node& at, MeshInfo info, Packet* packet) {
    if (same_address(info.destination, at.address_)) {
      queue_.push_back(Frame{at.index_, at.index_, info, packet});
      return true;
    }
    if (packet->length > at.mtu) {
      ++at.stats.too_big;
      report(at, info, MeshError::Kind::too_big, at.mtu);
      packet->release();
      return false;
    }
    const auto it = at.fib_.find(info.destination);
    Node* next = it == at.fib_.end() ? nullptr : at.find_neighbour(it->second);
    if (next == nullptr) {
      ++at.stats.no_route;
      report(at, info, MeshError::Kind::no_route, 0);
      packet->release();
      return false;
    }
    if (info.from != kNoNeighbour) ++at.stats.forwarded;
    enqueue(at, *next, info, packet);
    return true;
  }

  void arrive(Node& at, Frame& f) {
    MeshInfo info = f.info;
    if (f.from != f.to) {
      const auto link = at.links_.find(f.from);
      info.from = link == at.links_.end() ? kNoNeighbour : link->second.id;
      if (!same_address(info.destination, at.address_)) {
        if (info.hop_limit <= 1) {
          ++at.stats.hop_limit_exceeded;
          report(at, info, MeshError::Kind::hop_limit_exceeded, 0);
          f.packet->release();
          return;
        }
        --info.hop_limit;
        route(at, info, f.packet);
        return;
      }
    }
    const auto r = at.receivers_.find(info.protocol);
    if (r == at.receivers_.end()) {
      ++at.stats.no_receiver;
      report(at, info, MeshError::Kind::unreachable_protocol, 0);
      f.packet->release();
      return;
    }
    ++at.stats.delivered;
    Packet* packets[1] = {f.packet};
    r->second->on_mesh_receive(&info, packets, 1);
  }

  // Errors reach the source node's receiver of the packet's protocol in the next step of
  // deliver() (the real switch sends them over the mesh; here they cannot be lost).
  void report(Node& at, const MeshInfo& info, MeshError::Kind kind, std::uint32_t mtu) {
    for (auto& n : nodes_) {
      if (!same_address(n->address_, info.source)) continue;
      MeshError e;
      e.kind = kind;
      e.reporter = at.address_;
      e.destination = info.destination;
      e.protocol = info.protocol;
      e.mtu = mtu;
      errors_.emplace_back(n->index_, e);
      return;
    }
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::deque<Frame> queue_;
  std::deque<std::pair<std::size_t, MeshError>> errors_;
};

}  // namespace mh::testing
