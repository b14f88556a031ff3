// The routing protocol's state machine (docs/protocol.md, "Routing"), Babel as RFC 8966
// describes it: routes per (destination, neighbour), feasibility distances, route
// selection with hysteresis, triggered and periodic updates, route and seqno requests,
// retractions and hold-down. No clock, no sockets: every call takes the time, and what
// it decides leaves through an Output. Tested with plain calls (route_table_test.cpp).
#pragma once

#include "messages.hpp"

#include <meshhost/mesh.hpp>
#include <meshhost/types.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

namespace mh::router {

inline constexpr std::uint64_t kNsPerMs = 1'000'000;

// Defaults and meaning: docs/protocol.md, "Routing", Timers.
struct Timers {
  std::uint64_t update_interval_ns = 16'000 * kNsPerMs;   // periodic full dump to each neighbour
  std::uint64_t route_expiry_ns = 56'000 * kNsPerMs;      // a route not refreshed this long is retracted
  std::uint64_t hold_down_ns = 32'000 * kNsPerMs;         // a lost destination is advertised as retracted this long
  std::uint64_t source_gc_ns = 180'000 * kNsPerMs;        // a feasibility distance is kept this long
  std::uint64_t request_timeout_ns = 2'000 * kNsPerMs;    // seqno request resend; full-dump rate limit
};

struct Limits {
  std::uint32_t max_routes = 4096;               // route entries in all, and destinations
  std::uint32_t max_routes_per_neighbour = 1024;  // route entries learnt from one neighbour
};

// Hop count a fresh seqno request carries; each forwarding node takes one off.
inline constexpr std::uint8_t kSeqnoRequestHopCount = 64;
// An unanswered seqno request of our own is sent this many more times, request_timeout apart.
inline constexpr int kRequestResends = 2;
// A selected route is replaced only by one at least 1/16 cheaper (hysteresis).
inline constexpr std::uint32_t kHysteresisNumerator = 15, kHysteresisDenominator = 16;

struct Stats {
  std::uint64_t updates_sent = 0;    // update TLVs, retractions included
  std::uint64_t updates_received = 0;
  std::uint64_t route_requests_sent = 0;
  std::uint64_t route_requests_received = 0;
  std::uint64_t seqno_requests_sent = 0;       // our own, resends included
  std::uint64_t seqno_requests_forwarded = 0;
  std::uint64_t seqno_requests_received = 0;
  std::uint64_t own_seqno_raised = 0;          // by a seqno request for our own address
  std::uint64_t key_checks = 0;                // address-from-key hash computations
  // Dropped (metrics: meshhost_router_dropped_total{reason}).
  std::uint64_t bad_message = 0;    // a packet whose header or TLV framing is wrong: all of it
  std::uint64_t bad_key = 0;        // an update whose address is not the hash of its key
  std::uint64_t table_full = 0;     // an update beyond maxRoutes or maxRoutesPerNeighbour
  std::uint64_t unfeasible = 0;     // a new update failing the feasibility condition (kept, never selected)
  std::uint64_t unknown_tlv = 0;    // TLVs of a type this version does not know (skipped)
  std::uint64_t not_neighbour = 0;  // a packet from something that is not a neighbour now
};

// Where the table's decisions go. Called only from inside the table's methods.
class Output {
 public:
  // Queues one TLV for neighbour `to` (the caller batches them into packets).
  virtual void send(NeighbourId to, const Message& message) noexcept = 0;
  // The FIB: `destination` now leaves through `next_hop` / has no route.
  virtual void install_route(const Address& destination, NeighbourId next_hop) noexcept = 0;
  virtual void remove_route(const Address& destination) noexcept = 0;
  // Our own seqno is now `seqno`; called before any update carrying it is sent, so the
  // caller can make it durable first.
  virtual void own_seqno_changed(std::uint16_t seqno) noexcept = 0;

 protected:
  ~Output() = default;
};

struct AddressLess {
  bool operator()(const Address& a, const Address& b) const noexcept {
    return std::memcmp(a.bytes, b.bytes, kAddressSize) < 0;
  }
};
inline bool same_address(const Address& a, const Address& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kAddressSize) == 0;
}
inline bool same_key(const PublicKey& a, const PublicKey& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0;
}

// One neighbour's route to a destination.
struct Route {
  NeighbourId neighbour = kNoNeighbour;
  std::uint16_t seqno = 0;
  std::uint16_t advertised_metric = kInfiniteMetric;  // as the neighbour sent it; infinite: retracted
  std::uint64_t updated_ns = 0;                       // last update for it
  // Finite metric: when it is retracted for want of a refresh. Infinite: when it goes.
  std::uint64_t expires_ns = 0;
};

// Everything known about one destination (a node address).
struct Destination {
  Address address;
  PublicKey key;  // checked: address is the hash of key
  std::vector<Route> routes;  // at most one per neighbour
  NeighbourId selected = kNoNeighbour;

  // Feasibility distance (RFC 8966 §3.5.1): the best (seqno, metric) we advertised.
  bool has_fd = false;
  std::uint16_t fd_seqno = 0;
  std::uint16_t fd_metric = 0;
  std::uint64_t fd_refreshed_ns = 0;

  // What we last advertised, to know when a triggered update is due.
  bool advertised = false;
  std::uint16_t advertised_seqno = 0;
  std::uint16_t advertised_metric = kInfiniteMetric;
  bool dirty = false;                 // a triggered update is queued
  std::uint64_t hold_down_until_ns = 0;  // lost: retractions go out until then

  // Our own outstanding seqno request.
  bool requesting = false;
  std::uint16_t request_seqno = 0;
  NeighbourId request_to = kNoNeighbour;  // kNoNeighbour: every neighbour
  int request_resends_left = 0;
  std::uint64_t request_next_ns = 0;
  // The last seqno request forwarded for it (duplicates are suppressed until then).
  std::uint16_t forwarded_seqno = 0;
  std::uint64_t forwarded_until_ns = 0;

  const Route* find(NeighbourId id) const noexcept {
    for (const auto& r : routes) {
      if (r.neighbour == id) return &r;
    }
    return nullptr;
  }
  Route* find(NeighbourId id) noexcept { return const_cast<Route*>(static_cast<const Destination*>(this)->find(id)); }
};

struct Neighbour {
  NeighbourId id = kNoNeighbour;
  PublicKey key;
  Address address;
  std::uint32_t link_cost = 0;        // as the switch reported it
  std::uint16_t cost = kInfiniteMetric;  // in metric units: 1..0xfffe, or infinite
  std::uint32_t routes = 0;           // route entries learnt from it
  bool dumped = false;
  std::uint64_t last_dump_ns = 0;     // last full dump sent to it
};

// The link cost the switch reports, in metric units (kInfiniteMetric: unusable).
std::uint16_t metric_of_link_cost(std::uint32_t link_cost) noexcept;
// metric + cost, saturating to kInfiniteMetric.
std::uint16_t add_metric(std::uint16_t metric, std::uint16_t cost) noexcept;

class RouteTable {
 public:
  RouteTable(const PublicKey& own_key, const Address& own_address, std::uint16_t own_seqno, Timers timers,
             Limits limits, Output& output, std::uint64_t now_ns);

  // The switch's neighbour events.
  void neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t link_cost, std::uint64_t now_ns);
  void neighbour_cost(NeighbourId id, std::uint32_t link_cost, std::uint64_t now_ns);
  void neighbour_down(NeighbourId id, std::uint64_t now_ns);
  // One routing packet (borrowed) that came through neighbour `from` with mesh source
  // `source`; only a neighbour's own packets count. Bad input is dropped and counted.
  void receive(NeighbourId from, const Address& source, ByteView packet, std::uint64_t now_ns);
  // Periodic updates, expiry, hold-down, request resends and garbage collection.
  void tick(std::uint64_t now_ns);
  // When tick() next has work (it may be called earlier; it never has to be later).
  std::uint64_t next_wake_ns() const noexcept { return next_wake_ns_; }
  // Graceful stop: retracts our own route to every neighbour and removes every FIB entry.
  void retract_all(std::uint64_t now_ns);

  // The key of a destination with a selected route; false otherwise. No hashing.
  bool lookup_key(const Address& address, PublicKey* key) const noexcept;

  const std::map<Address, Destination, AddressLess>& destinations() const noexcept { return destinations_; }
  const std::map<NeighbourId, Neighbour>& neighbours() const noexcept { return neighbours_; }
  const Neighbour* neighbour(NeighbourId id) const noexcept;
  std::uint16_t own_seqno() const noexcept { return own_seqno_; }
  std::uint64_t own_seqno_since_ns() const noexcept { return own_seqno_since_ns_; }
  const PublicKey& own_key() const noexcept { return own_key_; }
  const Address& own_address() const noexcept { return own_address_; }
  std::size_t selected_count() const noexcept { return selected_count_; }
  std::size_t route_count() const noexcept { return route_count_; }
  // The metric this node has for `route` now: advertised + link cost (kInfiniteMetric if unusable).
  std::uint16_t metric(const Route& route) const noexcept;
  // Whether `route` satisfies the feasibility condition against `destination`'s distance.
  static bool feasible(const Destination& destination, std::uint16_t seqno, std::uint16_t advertised_metric) noexcept;
  const Stats& stats() const noexcept { return stats_; }
  const Timers& timers() const noexcept { return timers_; }

 private:
  void handle_update(Neighbour& from, const Update& update);
  void handle_route_request(Neighbour& from, const RouteRequest& request);
  void handle_seqno_request(Neighbour& from, const SeqnoRequest& request);

  bool check_key(const Address& address, const PublicKey& key);
  void reselect(Destination& destination);
  void remove_route_entry(Destination& destination, NeighbourId id);
  void start_request(Destination& destination, std::uint16_t seqno, NeighbourId to);
  void queue_request(const Destination& destination, std::uint16_t seqno, NeighbourId to);
  void send_request(const Address& address, std::uint16_t seqno, NeighbourId to);
  void mark_dirty(Destination& destination);
  // The update we would send for `destination` now (a retraction when nothing is selected).
  Update current_update(const Destination& destination) const noexcept;
  Update own_update() const noexcept;
  void send_update(NeighbourId to, Destination& destination);
  void note_advertised(Destination& destination, const Update& update);
  void send_poisoned(NeighbourId to, const Destination& destination, Message message);
  void full_dump(Neighbour& neighbour);
  void flush();  // triggered updates for what changed in this call
  void wake_at(std::uint64_t ns) noexcept {
    if (ns < next_wake_ns_) next_wake_ns_ = ns;
  }
  void recompute_wake() noexcept;
  std::uint16_t interval_cs() const noexcept;

  PublicKey own_key_;
  Address own_address_;
  std::uint16_t own_seqno_;
  std::uint64_t own_seqno_since_ns_ = 0;
  bool own_dirty_ = false;
  bool own_raised_ = false;  // by a seqno request, at own_seqno_since_ns_
  Timers timers_;
  Limits limits_;
  Output& output_;

  std::map<Address, Destination, AddressLess> destinations_;
  std::map<NeighbourId, Neighbour> neighbours_;
  std::vector<Address> dirty_;
  // Seqno requests to send at the end of the call, after the updates.
  struct PendingRequest {
    Address address;
    std::uint16_t seqno;
    NeighbourId to;
  };
  std::vector<PendingRequest> pending_requests_;
  // Address → (key, verdict), so a repeated update does not hash again. Bounded.
  struct KeyCheck {
    PublicKey key;
    bool valid;
  };
  std::map<Address, KeyCheck, AddressLess> key_checks_;
  std::size_t selected_count_ = 0;
  std::size_t route_count_ = 0;
  std::uint64_t now_ns_ = 0;
  std::uint64_t next_periodic_ns_ = 0;
  std::uint64_t next_wake_ns_ = ~std::uint64_t{0};
  Stats stats_;
};

}  // namespace mh::router
