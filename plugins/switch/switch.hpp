// The switch plugin (DESIGN §1): observes every link driver, runs the authenticated peer
// table (peer_table.hpp) over their links with the host's loop and node key, and is the
// mesh layer (mh::Mesh, service "switch"): forwarding by destination address through the
// FIB, local delivery by protocol number, hop limit, and the control protocol's echoes and
// error reports. Admin methods are in switch_admin.cpp; the descriptor is in switch.cpp.
#pragma once

#include "control.hpp"
#include "fib.hpp"
#include "mesh_header.hpp"
#include "neighbour_ids.hpp"
#include "peer_table.hpp"
#include "psk_worker.hpp"
#include "switch_config.hpp"

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/link_metrics.hpp>
#include <meshhost/loop.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/plugin.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mh::sw {

// What the mesh layer dropped and did, beside the peer table's Stats.
struct MeshStats {
  std::uint64_t forwarded = 0;  // packets passed on to a next hop
  std::uint64_t delivered = 0;  // packets handed to a local receiver (or the control protocol)
  std::uint64_t errors_sent = 0;
  // Drops.
  std::uint64_t no_route = 0;
  std::uint64_t hop_limit_exceeded = 0;
  std::uint64_t too_big = 0;
  std::uint64_t no_receiver = 0;
  std::uint64_t bad_mesh_header = 0;
  std::uint64_t bad_control = 0;        // a control message that does not parse, or an error not about us
  std::uint64_t local_queue_full = 0;   // packets to this node's own address beyond the queue
  std::uint64_t bad_send = 0;           // Mesh::send with too little headroom or hop limit 0
  // Psks for neighbours heard by beacons (derived off the loop thread).
  std::uint64_t psk_busy = 0;                    // drop: a beacon's hint beyond the pending derivations
  std::uint64_t psks_derived_in_background = 0;  // derivations the worker finished
  std::uint64_t psk_cache_hits = 0;              // beacon hints that needed a psk already derived
};

class SwitchPlugin final : public Plugin,
                           private LinkObserver,
                           private LinkReceiver,
                           private TimerHandler,
                           private FdHandler,
                           private Output,
                           private Mesh {
 public:
  SwitchPlugin(Host* host, SwitchConfig config) noexcept;
  ~SwitchPlugin();

  // Derives the psks (Argon2id, slow), provides "switch", registers the admin methods and
  // the metrics. Called by create().
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

  const MeshStats& mesh_stats() const noexcept { return mesh_stats_; }
  // Tests: the eventfd the psk worker signals, and a bounded wait for its queue to empty.
  int psk_event_fd() const noexcept { return psk_worker_.fd(); }
  bool wait_for_psks(std::chrono::milliseconds timeout) noexcept { return psk_worker_.wait_idle(timeout); }

 private:
  // The "switch" service: answers kMeshInterface with the plugin's Mesh.
  struct SwitchService final : Service {
    SwitchPlugin* self = nullptr;
    void* query(InterfaceId id) noexcept override {
      return id == kMeshInterface ? static_cast<Mesh*>(self) : nullptr;
    }
  };
  // One admin method: a member function of the plugin (switch_admin.cpp).
  struct AdminMethod final : AdminHandler {
    SwitchPlugin* self = nullptr;
    Status (SwitchPlugin::*fn)(Str params_json, StringSink* result) = nullptr;
    Status call(Str params_json, StringSink* result) noexcept override { return (self->*fn)(params_json, result); }
  };
  // The observer handed to one link metric source ("linkmetric.*"): which source spoke is
  // the table's source number, so one source's forget never drops another's metric.
  struct MetricObserver final : LinkMetricObserver {
    SwitchPlugin* self = nullptr;
    LinkMetricSource* source = nullptr;
    std::uint32_t number = 0;
    void on_link_metric(Str link_name, const Endpoint& endpoint, const LinkMetric& metric) noexcept override {
      self->on_link_metric(number, link_name, endpoint, metric);
    }
    void on_link_metric_forget(Str link_name, const Endpoint& endpoint) noexcept override {
      self->on_link_metric_forget(number, link_name, endpoint);
    }
  };
  struct ProbeTimerHandler final : TimerHandler {
    SwitchPlugin* self = nullptr;
    void on_timer() noexcept override { self->on_probe_timer(); }
  };

  // LinkObserver
  void on_link_up(Link* link) noexcept override;
  void on_link_down(Link* link) noexcept override;
  void on_peer_hint(Link* link, const PeerHint& hint) noexcept override;
  // LinkReceiver
  void on_receive(Link* link, Packet* const* packets, std::size_t count) noexcept override;
  // TimerHandler
  void on_timer() noexcept override;
  // FdHandler: the psk worker's eventfd, results of beacon derivations
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  // Output
  void send_frame(Link* link, const Endpoint& to, ByteView frame) noexcept override;
  void on_event(const PeerEvent& event) noexcept override;
  // Mesh
  Status register_protocol(std::uint16_t protocol, MeshReceiver* receiver) noexcept override;
  void unregister_protocol(std::uint16_t protocol) noexcept override;
  std::size_t send(const MeshSend* sends, Packet* const* packets, std::size_t count) noexcept override;
  bool send_to_neighbour(NeighbourId neighbour, std::uint16_t protocol, Packet* packet) noexcept override;
  void set_neighbour_observer(NeighbourObserver* observer) noexcept override;
  Status set_route(const Address& destination, NeighbourId next_hop) noexcept override;
  void remove_route(const Address& destination) noexcept override;
  PacketPool* pool() noexcept override { return pool_.get(); }
  std::uint32_t max_payload(const Address& destination) noexcept override;

  // Link metric sources.
  void start_metric_sources() noexcept;
  void stop_metric_sources() noexcept;
  void on_link_metric(std::uint32_t source, Str link_name, const Endpoint& endpoint, const LinkMetric& metric) noexcept;
  void on_link_metric_forget(std::uint32_t source, Str link_name, const Endpoint& endpoint) noexcept;

  // Admin methods (switch_admin.cpp).
  Status admin_peers(Str params_json, StringSink* result) noexcept;
  Status admin_routes(Str params_json, StringSink* result) noexcept;
  Status admin_ping(Str params_json, StringSink* result) noexcept;
  Status admin_traceroute(Str params_json, StringSink* result) noexcept;
  Status admin_probe(Str params_json, StringSink* result) noexcept;

  // ---- forwarding (switch.cpp) ----

  // How a packet (data = mesh header + payload) left towards its destination.
  enum class Outcome : std::uint8_t { queued, no_route, too_big, no_session };
  // Finds the next hop, checks its link's MTU (*mtu: the payload that fits, for too_big),
  // seals the packet in place and queues it in the outgoing batch. On anything but queued
  // the packet is unchanged and still the caller's.
  Outcome route(Packet* packet, const Address& destination, std::uint32_t* mtu) noexcept;
  // A data frame a neighbour sent us: deliver, forward or report; takes the packet.
  void on_mesh_packet(Packet* packet, Neighbour* from, std::uint64_t now_ns) noexcept;
  // Queues packet (payload only, mesh header consumed) for its protocol's receiver.
  void deliver_local(const MeshInfo& info, Packet* packet) noexcept;
  void flush_local() noexcept;  // hands the local batch to the receivers
  void flush_out() noexcept;    // Link::send per link for the outgoing batch
  // Sends an error about `packet` (header + payload, as received) to its source, if the
  // rate limit allows and it is no error itself. Does not take the packet.
  void send_error(const Packet& packet, const MeshHeader& header, MeshError::Kind kind, std::uint32_t mtu) noexcept;
  void on_control(const MeshInfo& info, Packet* packet) noexcept;
  void report_local_error(const MeshError& error) noexcept;  // to a local receiver, on a later turn
  void post_drain() noexcept;
  static void drain_task(void* self) noexcept;
  void drain() noexcept;
  MeshReceiver* receiver_for(std::uint16_t protocol) const noexcept;
  Neighbour* next_hop(const Address& destination, NeighbourIds::Entry** entry = nullptr) noexcept;
  // Sends a control echo request from this node (ping, traceroute); false if no route.
  bool send_echo(const Address& destination, std::uint16_t id, std::uint16_t sequence, std::uint8_t hop_limit,
                 std::uint32_t size) noexcept;
  void neighbour_up(Neighbour& n, std::uint32_t cost) noexcept;
  void neighbour_down(Neighbour& n) noexcept;

  // ---- probes: ping and traceroute (switch_admin.cpp) ----
  struct Probe {
    enum class Kind : std::uint8_t { ping, traceroute };
    bool used = false;
    Kind kind = Kind::ping;
    std::uint16_t id = 0;  // the echo id, also the probe number admin returns
    Address address;
    std::uint32_t count = 0;        // echoes to send
    std::uint32_t sent = 0;
    std::uint64_t interval_ns = 0;
    std::uint64_t timeout_ns = 0;
    std::uint32_t size = 0;
    std::uint64_t started_ns = 0;
    std::uint64_t next_send_ns = 0;
    std::uint64_t done_ns = 0;  // 0 while running
    bool reached = false;
    std::vector<std::uint64_t> sent_ns;  // per sequence (1-based sequence → index − 1)
    struct Reply { std::uint16_t seq; double rtt_ms; Address from; std::uint8_t hop_limit; };
    struct Error { std::uint16_t seq; MeshError::Kind kind; Address from; double rtt_ms; };
    std::vector<Reply> replies;
    std::vector<Error> errors;
  };
  static constexpr std::size_t kMaxProbes = 16;
  static constexpr std::uint64_t kProbeKeepNs = 60'000'000'000ull;
  Status start_probe(Probe::Kind kind, Str params_json, StringSink* result) noexcept;
  Probe* find_probe(std::uint16_t id) noexcept;
  void on_probe_timer() noexcept;
  void on_echo_reply(const MeshInfo& info, const EchoView& echo) noexcept;
  void on_probe_error(const Address& reporter, const ErrorView& error) noexcept;
  void reschedule_probes() noexcept;

  // Sets the timer to the table's next deadline.
  void reschedule() noexcept;
  std::vector<AuthorizedPassword> derive_passwords(const SwitchConfig& config) const;
  void log(LogLevel level, const std::string& message) noexcept;
  void publish_counters() noexcept;  // drop and event counters only: cheap, once per received batch
  void publish_stats() noexcept;

  Host* host_;
  SwitchConfig config_;
  noise::HostStaticKey local_key_;
  Address own_address_;
  std::unique_ptr<PeerTable> table_;
  SwitchService service_;
  std::vector<LinkDriver*> drivers_;
  std::vector<Link*> links_;
  static constexpr std::size_t kMaxMetricSources = 8;
  std::array<MetricObserver, kMaxMetricSources> metric_observers_{};
  std::size_t metric_sources_ = 0;
  PskWorker psk_worker_;
  PskCache psk_cache_;
  std::vector<PskJob> psk_done_;  // capacity PskWorker::kMaxPending
  Gauge* psk_pending_ = nullptr;
  Timer* timer_ = nullptr;
  std::uint64_t armed_for_ns_ = 0;

  // The mesh layer.
  std::unique_ptr<Fib> fib_;
  std::unique_ptr<NeighbourIds> ids_;
  std::unique_ptr<FixedPacketPool> pool_;
  NeighbourObserver* observer_ = nullptr;
  struct ProtocolEntry {
    std::uint16_t protocol = 0;
    MeshReceiver* receiver = nullptr;
  };
  static constexpr std::size_t kMaxProtocols = 32;
  std::array<ProtocolEntry, kMaxProtocols> receivers_{};

  static constexpr std::size_t kBatch = 64;
  std::array<Link*, kBatch> out_links_{};
  std::array<Packet*, kBatch> out_packets_{};
  std::size_t out_count_ = 0;
  std::array<MeshInfo, kBatch> local_infos_{};
  std::array<Packet*, kBatch> local_packets_{};
  std::size_t local_count_ = 0;

  // Work for a later turn of the loop: packets to our own address, errors for local senders.
  static constexpr std::size_t kLocalQueue = 64;
  std::array<MeshInfo, kLocalQueue> queued_infos_{};
  std::array<Packet*, kLocalQueue> queued_packets_{};
  std::size_t queued_count_ = 0;
  std::array<MeshError, kLocalQueue> queued_errors_{};
  std::size_t queued_error_count_ = 0;
  bool drain_posted_ = false;
  bool stopped_ = false;

  // Token bucket for the errors this node sends.
  double error_tokens_ = 0;
  std::uint64_t error_tokens_ns_ = 0;

  std::array<Probe, kMaxProbes> probes_{};
  std::uint16_t next_probe_id_ = 1;
  Timer* probe_timer_ = nullptr;
  ProbeTimerHandler probe_timer_handler_;
  std::array<AdminMethod, 5> admin_methods_{};

  MeshStats mesh_stats_;
  Counter* frames_in_ = nullptr;
  Counter* frames_out_ = nullptr;
  Counter* send_failed_ = nullptr;
  Gauge* neighbours_established_ = nullptr;
  Gauge* routes_ = nullptr;
  struct DropCounter {
    const std::uint64_t* value;  // a Stats or MeshStats field
    std::uint64_t published;
    Counter* counter;
  };
  std::vector<DropCounter> drop_counters_;  // published on each batch, tick and event
};

}  // namespace mh::sw
