// The iptunnel plugin (DESIGN §6): a key-pinned Internet gateway and its client over
// end-to-end sessions, each on its own TUN. The decisions live in GatewayTable and
// ClientTable; this class wires them to sessions, the TUN devices, the kernel's routes,
// rules and sysctls (NetConfig, SysctlState), the `inet meshhost` nftables table
// (NftTable), the flow table and the traffic hooks billing uses.
#pragma once

#include "client_table.hpp"
#include "flow_table.hpp"
#include "gateway_table.hpp"
#include "iptunnel_config.hpp"
#include "lease_store.hpp"
#include "tunnel_device.hpp"

#include <meshhost/account.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/sessions.hpp>
#include <meshhost/traffic.hpp>

#include <array>
#include <cstdio>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace mh::iptunnel {

class NetConfig;
class NftTable;
class SysctlState;

// Why a packet was dropped; each is a label of meshhost_iptunnel_dropped_total.
enum class Drop : std::uint8_t {
  bad_message,      // a control or data message that did not parse
  not_a_client,     // IP data or an account request from a key holding no lease with this gateway
  spoofed_source,   // a client's packet from outside its Alloc
  no_client,        // read from the gateway TUN for an address no client holds
  unsolicited,      // inbound IPv6 to a client on no flow it opened
  not_our_gateway,  // IP data from a key that is not a gateway we hold a lease with
  wrong_destination,  // from our gateway, but not to an address it granted us
  no_lease,         // read from the client TUN with a source no gateway granted
  hook,             // a traffic hook said drop
  no_buffers,       // a pool was empty
  too_big,          // read from a TUN larger than its MTU
  send_failed,      // the sessions refused it
  tun_write_failed, // the kernel did not take it
  rate_limited,     // an account request over its client's rate (GatewayTable::account_request)
  count_,
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::count_);
const char* drop_name(Drop d) noexcept;

class IptunnelPlugin final : public Plugin,
                             public Service,
                             public TrafficHooks,
                             public AccountNotices,
                             SessionReceiver,
                             FdHandler,
                             TimerHandler {
 public:
  IptunnelPlugin(Host* host, IptunnelConfig config);
  ~IptunnelPlugin();

  // Registers the admin methods and offers the "iptunnel" service.
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId id) noexcept override;  // Plugin and Service alike: the hooks

  // TrafficHooks
  Status add_hook(TrafficHook* hook) noexcept override;
  void remove_hook(TrafficHook* hook) noexcept override;
  void resume(TrafficHook* after, const TrafficInfo& info, Packet* packet) noexcept override;
  Str plan_of(const PublicKey& client) noexcept override;

  // AccountNotices: billing tells a client its account changed (sent as an account_notice).
  void notify_account(const PublicKey& client, const AccountReport& report) noexcept override;

  // iptunnel.status, iptunnel.reload, iptunnel.requestAccount and iptunnel.account
  // (iptunnel_admin.cpp).
  Status status(Str params_json, StringSink* result) noexcept;
  Status reload(Str params_json, StringSink* result) noexcept;
  Status request_account(Str params_json, StringSink* result) noexcept;
  Status account(Str params_json, StringSink* result) noexcept;

 private:
  // ---- control plane (iptunnel.cpp) ----
  Status start_gateway();
  Status start_client();
  void on_control(const SessionPeer& from, const struct Message& message);
  void gateway_request(const PublicKey& from, const ControlMessage& request, MessageType type);
  void gateway_lease_ended(const LeaseRecord& record);
  void gateway_account_request(const PublicKey& from, std::uint32_t nonce);
  void client_account(const PublicKey& from, MessageType type, const AccountMessage& message);
  void client_tick();
  void apply_client_kernel_state();
  // Replaces table inet meshhost for `config` in one transaction; false with *why when the
  // kernel refused it (the old table stays).
  bool apply_gateway_firewall(const IptunnelConfig& config, std::string* why);
  void install_lease_routes(const std::vector<GrantedAddress>& addresses, bool add);
  void send_control(const PublicKey& to, const std::uint8_t* bytes, std::size_t size);
  void log_lease(const LeaseRecord& record);       // the log and the lease log
  void log_lease_file(const LeaseRecord& record);  // the lease log only
  void warn(const std::string& line);
  void info(const std::string& line);
  std::uint64_t now_s() const noexcept;                          // monotonic seconds
  std::uint64_t wall_s(std::uint64_t monotonic_s) const noexcept;  // the same moment, Unix seconds
  LeaseRecord on_wall_clock(LeaseRecord record) const;

  // ---- data path (iptunnel_datapath.cpp) ----
  void on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept override;
  void on_session_error(const SessionError& error) noexcept override;
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  void on_timer() noexcept override;
  void read_gateway_tun() noexcept;
  void read_client_tun() noexcept;
  void read_gateway_batch() noexcept;
  void read_client_batch() noexcept;
  // Runs the hooks after `after` (nullptr: all); then delivers: upstream to the gateway
  // TUN, downstream into the client's session.
  void run_hooks(TrafficHook* after, const TrafficInfo& info, Packet* packet) noexcept;
  void deliver(const TrafficInfo& info, Packet* packet) noexcept;
  void write_tun(int fd, Packet* packet) noexcept;
  // Queues IP data for `to`; consecutive packets to one key go to the sessions as one
  // batch. flush_ip_data() sends what is queued (after each read batch and resume).
  void send_ip_data(const PublicKey& to, Packet* packet) noexcept;
  void flush_ip_data() noexcept;
  void drop(Drop reason, Packet* packet) noexcept;

  struct Traffic {
    std::uint64_t packets_up = 0, bytes_up = 0, packets_down = 0, bytes_down = 0;
  };

  // One admin method: calls `method` on the plugin.
  struct AdminMethod final : AdminHandler {
    AdminMethod(IptunnelPlugin* p, Status (IptunnelPlugin::*m)(Str, StringSink*)) : plugin(p), method(m) {}
    Status call(Str params_json, StringSink* result) noexcept override { return (plugin->*method)(params_json, result); }
    IptunnelPlugin* plugin;
    Status (IptunnelPlugin::*method)(Str, StringSink*);
  };

  Host* host_;
  IptunnelConfig config_;
  AdminMethod status_method_{this, &IptunnelPlugin::status};
  AdminMethod reload_method_{this, &IptunnelPlugin::reload};
  AdminMethod request_account_method_{this, &IptunnelPlugin::request_account};
  AdminMethod account_method_{this, &IptunnelPlugin::account};
  Sessions* sessions_ = nullptr;
  bool started_ = false;

  std::unique_ptr<NetConfig> net_;
  std::unique_ptr<SysctlState> sysctl_;
  std::unique_ptr<NftTable> nft_;
  std::unique_ptr<FileLeaseStore> lease_store_;
  std::unique_ptr<GatewayTable> gateway_;
  std::unique_ptr<ClientTable> client_;
  std::unique_ptr<TunnelDevice> gateway_tun_;
  std::unique_ptr<TunnelDevice> client_tun_;
  FdWatch* gateway_watch_ = nullptr;
  FdWatch* client_watch_ = nullptr;
  Timer* timer_ = nullptr;
  std::uint64_t next_expiry_ns_ = 0;
  std::FILE* lease_log_ = nullptr;

  std::unique_ptr<FlowTable> flows_;  // gateway only (about 6 MB)
  // Upstream packets arrive in buffers the sessions may not let us keep; a hook that
  // queues gets a copy from here.
  std::unique_ptr<FixedPacketPool> hook_pool_;
  std::vector<TrafficHook*> hooks_;
  struct KeyLess {
    bool operator()(const PublicKey& a, const PublicKey& b) const noexcept;
  };
  // Gateway side, per client key: a tree lookup per packet, no allocation once a key is in.
  std::map<PublicKey, Traffic, KeyLess> client_traffic_;
  std::array<std::uint64_t, kDropCount> drops_{};
  std::array<Counter*, kDropCount> drop_counters_{};

  static constexpr std::size_t kSendBatch = 64;
  PublicKey batch_key_;
  std::size_t batch_count_ = 0;
  Packet* batch_[kSendBatch] = {};

  ClientKernelState applied_;  // what the client TUN and routes hold now
  std::uint32_t client_mtu_ = 0;  // mhup0's MTU now
  mutable std::int64_t wall_offset_ = 0;  // Unix seconds minus monotonic seconds (wall_s)
  mutable bool wall_offset_known_ = false;
  bool kernel_dirty_ = false;     // a kernel change failed: try again at the next tick
  // Keys whose denial was logged at info (once per key and run), bounded.
  static constexpr std::size_t kMaxDeniedLogged = 1024;
  std::set<PublicKey, KeyLess> denied_logged_;
  std::vector<IpBlock> gateway_addresses_;  // on the gateway TUN
  bool rules_installed_ = false;
};

}  // namespace mh::iptunnel
