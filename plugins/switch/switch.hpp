// The switch plugin (DESIGN §1): observes every link driver, runs the authenticated peer
// table (peer_table.hpp) over their links with the host's loop and node key, and answers
// `switch.peers` (switch_admin.cpp). The descriptor is in switch.cpp.
#pragma once

#include "peer_table.hpp"
#include "switch_config.hpp"

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/loop.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/plugin.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mh::sw {

class SwitchPlugin final : public Plugin,
                           private LinkObserver,
                           private LinkReceiver,
                           private TimerHandler,
                           private Output,
                           private AdminHandler {
 public:
  SwitchPlugin(Host* host, SwitchConfig config) noexcept;
  ~SwitchPlugin();

  // Derives the psks (Argon2id, slow), provides "switch", registers `switch.peers` and the
  // metrics. Called by create().
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

 private:
  // The "switch" service. Forwarding (the working-mesh issue) adds its interface here.
  struct SwitchService final : Service {
    void* query(InterfaceId) noexcept override { return nullptr; }
  };

  // LinkObserver
  void on_link_up(Link* link) noexcept override;
  void on_link_down(Link* link) noexcept override;
  void on_peer_hint(Link* link, const PeerHint& hint) noexcept override;
  // LinkReceiver
  void on_receive(Link* link, Packet* const* packets, std::size_t count) noexcept override;
  // TimerHandler
  void on_timer() noexcept override;
  // Output
  void send_frame(Link* link, const Endpoint& to, ByteView frame) noexcept override;
  void on_event(const PeerEvent& event) noexcept override;
  // AdminHandler: switch.peers (switch_admin.cpp)
  Status call(Str params_json, StringSink* result) noexcept override;

  // Sets the timer to the table's next deadline.
  void reschedule() noexcept;
  std::vector<AuthorizedPassword> derive_passwords(const SwitchConfig& config) const;
  void log(LogLevel level, const std::string& message) noexcept;
  void publish_counters() noexcept;  // drop and event counters only: cheap, once per received batch
  void publish_stats() noexcept;

  Host* host_;
  SwitchConfig config_;
  noise::HostStaticKey local_key_;
  std::unique_ptr<PeerTable> table_;
  SwitchService service_;
  std::vector<LinkDriver*> drivers_;
  std::vector<Link*> links_;
  Timer* timer_ = nullptr;
  std::uint64_t armed_for_ns_ = 0;

  Counter* frames_in_ = nullptr;
  Counter* frames_out_ = nullptr;
  Counter* send_failed_ = nullptr;
  Counter* data_unrouted_ = nullptr;
  Gauge* neighbours_established_ = nullptr;
  struct DropCounter {
    const std::uint64_t* value;  // a Stats field of the table
    std::uint64_t published;
    Counter* counter;
  };
  std::vector<DropCounter> drop_counters_;  // published on each tick and event
};

}  // namespace mh::sw
