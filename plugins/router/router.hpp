// The router plugin (DESIGN §1): runs the route table (route_table.hpp) over the switch's
// mesh — neighbours from its observer, routing messages to and from neighbours with
// protocol kProtocolRouting, selected next hops into its FIB — on the host's loop and
// timer. Provides "router" (an mh::Directory) and `router.routes` (router_admin.cpp).
#pragma once

#include "route_table.hpp"
#include "router_config.hpp"
#include "seqno_store.hpp"

#include <meshhost/directory.hpp>
#include <meshhost/host.hpp>
#include <meshhost/loop.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/plugin.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mh::router {

class RouterPlugin final : public Plugin,
                           private MeshReceiver,
                           private NeighbourObserver,
                           private TimerHandler,
                           private AdminHandler,
                           private Output {
 public:
  RouterPlugin(Host* host, RouterConfig config);
  ~RouterPlugin();

  // Provides "router", registers `router.routes` and the metrics. Called by create().
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

 private:
  // The "router" service: address → key for sessions.
  struct RouterService final : Service, Directory {
    explicit RouterService(RouterPlugin& plugin) : plugin_(plugin) {}
    void* query(InterfaceId id) noexcept override {
      return id == kDirectoryInterface ? static_cast<Directory*>(this) : nullptr;
    }
    bool lookup_key(const Address& address, PublicKey* key) noexcept override {
      return plugin_.table_ != nullptr && plugin_.table_->lookup_key(address, key);
    }
    RouterPlugin& plugin_;
  };

  // MeshReceiver
  void on_mesh_receive(const MeshInfo* infos, Packet* const* packets, std::size_t count) noexcept override;
  void on_mesh_error(const MeshError&) noexcept override {}
  // NeighbourObserver
  void on_neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t cost) noexcept override;
  void on_neighbour_cost(NeighbourId id, std::uint32_t cost) noexcept override;
  void on_neighbour_down(NeighbourId id) noexcept override;
  // TimerHandler
  void on_timer() noexcept override;
  // AdminHandler: router.routes (router_admin.cpp)
  Status call(Str params_json, StringSink* result) noexcept override;
  // Output
  void send(NeighbourId to, const Message& message) noexcept override;
  void install_route(const Address& destination, NeighbourId next_hop) noexcept override;
  void remove_route(const Address& destination) noexcept override;
  void own_seqno_changed(std::uint16_t seqno) noexcept override;

  // After every table call: sends the open packets, publishes metrics, re-arms the timer.
  void finish_turn() noexcept;
  void send_packet(NeighbourId to, Packet* packet) noexcept;
  void release_open_packets() noexcept;
  void publish() noexcept;
  void log(LogLevel level, const std::string& message) noexcept;
  std::uint64_t now() const noexcept { return host_->loop()->now_ns(); }

  Host* host_;
  RouterConfig config_;
  RouterService service_{*this};
  SeqnoStore seqno_store_;
  Mesh* mesh_ = nullptr;
  std::unique_ptr<RouteTable> table_;
  bool started_ = false;
  Timer* timer_ = nullptr;
  std::uint64_t armed_for_ns_ = 0;
  // One packet being filled per neighbour until the end of the turn (or until full).
  struct OpenPacket {
    NeighbourId to;
    Packet* packet;
    std::uint32_t limit;  // payload bytes it may grow to
  };
  std::vector<OpenPacket> open_;

  Counter* updates_sent_ = nullptr;
  Counter* updates_received_ = nullptr;
  Counter* packets_sent_ = nullptr;
  Counter* send_failed_ = nullptr;
  Counter* fib_errors_ = nullptr;
  Gauge* routes_ = nullptr;
  Gauge* route_entries_ = nullptr;
  std::vector<Counter*> drop_counters_;     // one per reason, in kDropReasons' order
  std::vector<Counter*> request_counters_;  // one per kind, in kRequestKinds' order
  Stats published_;                      // the table's stats as last published
};

}  // namespace mh::router
