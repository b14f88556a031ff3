// Test-only: two or more PeerTables joined by in-memory queues with a manual clock and a
// per-direction latency. Used by peer_table_test.cpp and the benchmark.
#pragma once

#include "peer_table.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mh::sw::testing {

// A Link that only answers the policy questions the table asks.
class TestLink final : public Link {
 public:
  explicit TestLink(std::string name, DiscoveredPeerPolicy policy = DiscoveredPeerPolicy::accept_any)
      : policy_(policy), name_(std::move(name)) {}
  Str name() const noexcept override { return Str::of(name_); }
  std::uint32_t mtu() const noexcept override { return 1500; }
  void set_receiver(LinkReceiver*) noexcept override {}
  std::size_t send(Packet* const*, std::size_t) noexcept override { return 0; }
  PacketPool* pool() noexcept override { return nullptr; }
  HopEncryption hop_encryption() const noexcept override { return HopEncryption::full; }
  DiscoveredPeerPolicy discovered_peer_policy() const noexcept override { return policy_; }
  bool allows(const PublicKey& key) const noexcept override {
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const PublicKey& k) { return std::memcmp(k.bytes, key.bytes, kPublicKeySize) == 0; });
  }
  std::size_t format_endpoint(const Endpoint&, char*, std::size_t) const noexcept override { return 0; }

  DiscoveredPeerPolicy policy_;
  std::vector<PublicKey> allowed;

 private:
  std::string name_;
};

inline Endpoint endpoint_named(const std::string& name) {
  Endpoint e;
  e.kind = 1;
  e.size = static_cast<std::uint8_t>(std::min(name.size(), Endpoint::kMaxSize));
  std::memcpy(e.bytes, name.data(), e.size);
  return e;
}

inline noise::LocalStaticKey node_key() {
  const KeyPair pair = generate_node_key();
  return noise::LocalStaticKey(std::span<const std::uint8_t, noise::kKeySize>(pair.priv.bytes, noise::kKeySize));
}

class Net;

struct Frame {
  std::uint64_t due_ns;
  int to;
  int link;  // 0 or 1: which of the nodes' two links
  Endpoint from;
  std::vector<std::uint8_t> bytes;
};

// One node: a key, a table, one link, and what came out of it.
struct Node final : Output {
  Node(Net& net, int id, noise::LocalStaticKey key, PeerTableConfig config,
       DiscoveredPeerPolicy policy = DiscoveredPeerPolicy::accept_any)
      : net(net), id(id), key(std::move(key)), link("test/" + std::to_string(id), policy),
        link2("test2/" + std::to_string(id), policy), endpoint(endpoint_named("node" + std::to_string(id))),
        endpoint2(endpoint_named("node" + std::to_string(id) + "/2")), config(config) {
    table = std::make_unique<PeerTable>(this->key, config);
  }
  // Throws the table away and starts a fresh one with the same key (a restart).
  void restart() { table = std::make_unique<PeerTable>(key, config); }

  void send_frame(Link* l, const Endpoint& to, ByteView frame) noexcept override;
  void on_event(const PeerEvent& e) noexcept override { events.push_back(e); }

  PublicKey pub() const { return key.public_key(); }
  Neighbour* peer(const Node& other) { return table->find(other.pub()); }
  bool established_with(const Node& other) {
    Neighbour* n = peer(other);
    return n != nullptr && n->state == PeerState::established;
  }
  std::size_t count_events(const Node& other, PeerEvent::Kind kind) const {
    const PublicKey k = other.pub();
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const PeerEvent& e) {
      return e.kind == kind && std::memcmp(e.key.bytes, k.bytes, kPublicKeySize) == 0;
    }));
  }

  Net& net;
  int id;
  noise::LocalStaticKey key;
  TestLink link;
  TestLink link2;      // a second link (another interface) to the same neighbours
  Endpoint endpoint;   // how others see this node's frames arrive on link
  Endpoint endpoint2;  // … and on link2
  PeerTableConfig config;
  std::unique_ptr<PeerTable> table;
  std::vector<PeerEvent> events;
  std::vector<std::vector<std::uint8_t>> delivered;   // data payloads received
  std::vector<std::vector<std::uint8_t>> sent_frames;  // every frame it sent, for replays
};

// Frames sent to an endpoint go to the node with that endpoint after `latency_ns`, unless
// `cut` or `filter` drops them.
class Net {
 public:
  Node& add(noise::LocalStaticKey key, PeerTableConfig config = {},
            DiscoveredPeerPolicy policy = DiscoveredPeerPolicy::accept_any) {
    nodes.push_back(std::make_unique<Node>(*this, static_cast<int>(nodes.size()), std::move(key), config, policy));
    return *nodes.back();
  }

  // `from` learns of `to` as a configured peer.
  void hint(Node& from, Node& to, std::string password = {}, std::string login = {}, bool from_beacon = false,
            int link = 0) {
    PeerHint h;
    h.endpoint = link == 0 ? to.endpoint : to.endpoint2;
    h.key = to.pub();
    h.password = Str::of(password);
    h.login = Str::of(login);
    h.from_beacon = from_beacon;
    from.table->add_hint(link == 0 ? &from.link : &from.link2, h, now_ns, from);
  }

  void send(Node& from, int link, const Endpoint& to, ByteView frame) {
    from.sent_frames.emplace_back(frame.begin(), frame.end());
    if (cut || (link == 1 && cut2)) return;
    if (filter && !filter(from, frame)) return;
    for (auto& n : nodes) {
      const Endpoint& there = link == 0 ? n->endpoint : n->endpoint2;
      if (n.get() != &from && std::memcmp(&there, &to, sizeof to) == 0) {
        queue.push_back(Frame{now_ns + (link == 0 ? latency_ns : latency2_ns), n->id, link,
                              link == 0 ? from.endpoint : from.endpoint2,
                              std::vector<std::uint8_t>(frame.begin(), frame.end())});
        return;
      }
    }
  }

  void deliver(Frame& f) {
    Node& to = *nodes[static_cast<std::size_t>(f.to)];
    auto d = to.table->receive(f.link == 0 ? &to.link : &to.link2, f.from, f.bytes, now_ns, to);
    if (d) to.delivered.emplace_back(d->payload.begin(), d->payload.end());
  }

  // Runs frames and timers until `end_ns` (absolute).
  void run_until(std::uint64_t end_ns) {
    for (int guard = 0; guard < 10'000'000; ++guard) {
      bool progressed = false;
      for (auto it = queue.begin(); it != queue.end();) {
        if (it->due_ns <= now_ns) {
          Frame f = std::move(*it);
          it = queue.erase(it);
          deliver(f);
          progressed = true;
          break;  // deliver may queue more; start over
        }
        ++it;
      }
      for (auto& n : nodes) {
        if (n->table->next_wake_ns() <= now_ns) {
          n->table->tick(now_ns, *n);
          progressed = true;
        }
      }
      if (progressed) continue;
      std::uint64_t next = end_ns;
      for (auto& n : nodes) next = std::min(next, n->table->next_wake_ns());
      for (const auto& f : queue) next = std::min(next, f.due_ns);
      if (next <= now_ns) {
        if (now_ns >= end_ns) return;
        next = now_ns + 1;
      }
      now_ns = next;
    }
  }
  void run_for(std::uint64_t duration_ns) { run_until(now_ns + duration_ns); }

  std::vector<std::unique_ptr<Node>> nodes;
  std::deque<Frame> queue;
  std::uint64_t now_ns = 1'000 * kNsPerSecond;
  std::uint64_t latency_ns = 5 * kNsPerMs;   // each way, on link
  std::uint64_t latency2_ns = 5 * kNsPerMs;  // each way, on link2
  bool cut = false;   // every link
  bool cut2 = false;  // link2 only
  std::function<bool(Node& from, ByteView frame)> filter;
};

inline void Node::send_frame(Link* l, const Endpoint& to, ByteView frame) noexcept {
  net.send(*this, l == &link2 ? 1 : 0, to, frame);
}

}  // namespace mh::sw::testing
