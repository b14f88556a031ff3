// The session plugin (DESIGN §1, §4): provides "sessions" (mh::Sessions) on top of the
// switch's mesh, with the session table (session_table.hpp) doing the protocol, the host's
// loop its timers and the router's directory its address → key lookups. `session.list`
// is in session_admin.cpp; the descriptor in session_plugin.cpp.
#pragma once

#include "session_config.hpp"
#include "session_table.hpp"

#include <meshhost/directory.hpp>
#include <meshhost/host.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/sessions.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mh::session {

class SessionPlugin final : public Plugin,
                            public Sessions,
                            private MeshReceiver,
                            private TimerHandler,
                            private Output,
                            private AdminHandler {
 public:
  // Packets in the pool senders get from pool(): 2048 buffers of 2048 bytes (4 MiB).
  // Timer slack: the table's timers are run at most this late, so many remotes' deadlines
  // share one wake-up (a tick visits every remote).
  static constexpr std::uint64_t kTimerSlackNs = 50'000'000;
  static constexpr std::uint32_t kPoolPackets = 2048;
  static constexpr std::uint32_t kPoolBufferSize = 2048;
  // SessionErrors waiting for their later loop turn; more in one turn are dropped (each is
  // only a hint, and a burst of them says the same thing).
  static constexpr std::size_t kMaxPendingErrors = 64;
  // Protocols with a receiver at once.
  static constexpr std::size_t kMaxReceivers = 64;

  SessionPlugin(Host* host, SessionConfig config);
  ~SessionPlugin();

  // Makes the table, provides "sessions", registers `session.list` and the metrics.
  // Called by create().
  Status init() noexcept;

  // ---- Plugin ----
  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

  // ---- Sessions ----
  Status register_protocol(std::uint16_t protocol, SessionReceiver* receiver) noexcept override;
  void unregister_protocol(std::uint16_t protocol) noexcept override;
  std::size_t send_to_key(const PublicKey& key, std::uint16_t protocol, Packet* const* packets,
                          std::size_t count) noexcept override;
  std::size_t send_to_address(const Address& address, std::uint16_t protocol, Packet* const* packets,
                              std::size_t count) noexcept override;
  PacketPool* pool() noexcept override { return &pool_; }
  std::uint32_t max_payload(const Address& address) noexcept override;

  const SessionTable& table() const noexcept { return *table_; }

 private:
  struct SessionsService final : Service {
    explicit SessionsService(Sessions* s) : sessions(s) {}
    void* query(InterfaceId id) noexcept override { return id == kSessionsInterface ? sessions : nullptr; }
    Sessions* sessions;
  };
  // Delivers queued SessionErrors on a later turn of the loop (a zero-delay timer, which,
  // unlike a posted task, is cancelled with the plugin).
  struct ErrorFlush final : TimerHandler {
    explicit ErrorFlush(SessionPlugin* p) : plugin(p) {}
    void on_timer() noexcept override { plugin->flush_errors(); }
    SessionPlugin* plugin;
  };
  // The wall clock for initiation timestamps.
  struct RealtimeClock final : WallClock {
    std::int64_t unix_ns() const noexcept override;
  };

  // MeshReceiver
  void on_mesh_receive(const MeshInfo* infos, Packet* const* packets, std::size_t count) noexcept override;
  void on_mesh_error(const MeshError& error) noexcept override;
  // TimerHandler: the table's timers
  void on_timer() noexcept override;
  // Output
  void send_frame(const Address& to, ByteView frame, std::uint16_t e2e_offset) noexcept override;
  void send_packets(const Address& to, Packet* const* packets, std::size_t count) noexcept override;
  void on_error(const SessionError& error) noexcept override;
  // AdminHandler: session.list (session_admin.cpp)
  Status call(Str params_json, StringSink* result) noexcept override;

  SessionReceiver* receiver_for(std::uint16_t protocol) const noexcept;
  void deliver(Remote* from, std::uint16_t protocol, Packet* const* packets, std::size_t count) noexcept;
  void flush_errors() noexcept;
  void reschedule() noexcept;
  void publish_counters() noexcept;
  void publish_sessions() noexcept;

  Host* host_;
  SessionConfig config_;
  noise::HostStaticKey local_key_;
  RealtimeClock clock_;
  FixedPacketPool pool_;
  std::unique_ptr<SessionTable> table_;
  SessionsService service_{this};
  ErrorFlush error_flush_{this};
  Mesh* mesh_ = nullptr;
  Directory* directory_ = nullptr;
  bool registered_ = false;
  std::vector<std::pair<std::uint16_t, SessionReceiver*>> receivers_;  // few: a flat list

  Timer* timer_ = nullptr;
  std::uint64_t armed_for_ns_ = 0;
  Timer* error_timer_ = nullptr;
  SessionError pending_errors_[kMaxPendingErrors];
  std::size_t pending_error_count_ = 0;

  Gauge* sessions_gauge_ = nullptr;
  struct Published {
    const std::uint64_t* value;  // a Stats field of the table
    std::uint64_t published;
    Counter* counter;
  };
  std::vector<Published> counters_;
  std::uint64_t established_seen_ = 0;
};

}  // namespace mh::session
