// The client's side of iptunnel (DESIGN §6): the gateways it asks for addresses, the
// leases it holds, which gateways are alive, and which one carries the default route.
// No sockets, no clocks: the plugin passes the time in, sends what tick() asks for, and
// makes the kernel match kernel_state().
#pragma once

#include "iptunnel_config.hpp"
#include "iptunnel_messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mh::iptunnel {

enum class GatewayState : std::uint8_t {
  requesting,  // asking for a lease (every requestRetryMs)
  leased,      // holds a lease and the gateway answers its probes
  dead,        // holds a lease, but the gateway has been silent for gatewayDeadMs
  denied,      // the gateway said no; asked again every deniedRetry
  refused,     // this node refused the grant (it overlapped); asked again every deniedRetry
};
const char* to_string(GatewayState s) noexcept;

// The account a gateway keeps for this client, as its last account report or notice said.
struct ClientAccount {
  AccountStatus status = AccountStatus::ok;
  AccountReport report;           // with status ok
  std::uint64_t received_ns = 0;  // monotonic, when it arrived
  std::int64_t received_unix = 0;  // the same moment, Unix seconds
  bool notice = false;            // unasked (account_notice) rather than an answer
  // While blocked: when the period ends on the monotonic clock. A lost "open again" notice
  // does not keep the gateway out of the default route past it.
  std::uint64_t blocked_until_ns = 0;
  // While blocked: when to ask again (every deniedRetryMs), so a block the gateway lifted
  // early (a new plan) without a notice that arrived does not outlive it here.
  std::uint64_t refresh_ns = 0;
};

struct ClientGateway {
  OutgoingConnection config;
  GatewayState state = GatewayState::requesting;
  Grant grant;  // the lease, while leased or dead
  std::uint64_t lease_start_ns = 0;
  std::uint64_t lease_end_ns = 0;
  std::uint64_t last_heard_ns = 0;   // the last answer of any kind
  std::uint64_t next_send_ns = 0;    // the next request, renew or probe
  std::uint32_t nonce = 0;           // of the request or renew in flight
  std::string reason;                // why denied or refused, for the log and the admin view
  // Traffic through this gateway (inner IP bytes).
  std::uint64_t packets_up = 0, bytes_up = 0, packets_down = 0, bytes_down = 0;
  std::optional<ClientAccount> account;  // the last report or notice, kept across leases
  std::uint32_t account_nonce = 0;       // of the account request in flight, 0: none
  std::uint64_t account_asked_ns = 0;    // when it was sent

  bool holds_lease() const noexcept { return state == GatewayState::leased || state == GatewayState::dead; }
  // The gateway said it lets nothing through until the period ends.
  bool blocked() const noexcept {
    return account && account->status == AccountStatus::ok && account->report.state == AccountState::blocked;
  }
  bool account_pending() const noexcept { return account_nonce != 0; }
};

// What the client's TUN and routes should look like now.
struct ClientKernelState {
  // Each granted address as a host address (/32, /128) on the client TUN.
  std::vector<IpBlock> addresses;
  // The default route (table routingTable) per family: the preferred gateway's address
  // as its preferred source; unset when no gateway of that family holds a lease.
  std::optional<IpAddress> default_source4;
  std::optional<IpAddress> default_source6;
  // Grants with prefix > 0: a route to that block (main table) from the address.
  struct PrefixRoute {
    IpBlock destination;
    IpAddress source;

    friend bool operator==(const PrefixRoute&, const PrefixRoute&) = default;
  };
  std::vector<PrefixRoute> prefix_routes;

  friend bool operator==(const ClientKernelState&, const ClientKernelState&) = default;
};


// One line for people about `report` from gateway `gateway` (a short key): what the
// client's log says when the account is blocked, throttled or open again.
std::string format_account_line(const std::string& gateway, const AccountReport& report);
// A key as people read it in a log line, as meshctl shortens it: "abcdef...uvw.k".
std::string short_key(const PublicKey& key);
// Unix seconds as 2026-12-02T00:00:00Z.
std::string format_utc(std::int64_t unix_s);

class ClientTable {
 public:
  ClientTable(const std::vector<OutgoingConnection>& gateways, const ClientTimers& timers);

  // A message to send to gateways()[gateway].
  struct Send {
    std::size_t gateway;
    MessageType type;
    ControlMessage message;
  };
  // Requests, renewals (past half the lease) and probes due at `now_ns`, and account
  // requests to gateways that block us (every deniedRetryMs); marks gateways dead that
  // have been silent too long and drops leases that ran out. `*next_ns` is when
  // to call again. `*changed` is set when kernel_state() may differ.
  std::vector<Send> tick(std::uint64_t now_ns, std::uint64_t* next_ns, bool* changed);

  enum class GrantOutcome : std::uint8_t {
    accepted,  // a new or changed lease: reconfigure the kernel
    renewed,   // the same addresses, a later end
    stale,     // not the nonce in flight, or from a key that is not our gateway: ignored
    refused,   // overlaps another lease or a local route: send a release; `*why` says which
  };
  // `local_routes` are the kernel's routes this node did not make (main table, no default).
  GrantOutcome on_grant(const PublicKey& from, const Grant& grant, const std::vector<IpBlock>& local_routes,
                        std::uint64_t now_ns, std::string* why);
  // True when the denial answered our request (then the gateway is `denied`).
  bool on_denial(const PublicKey& from, const Denial& denial, std::uint64_t now_ns);
  // A probe answered: the gateway is alive; with families 0 it lost our lease (it
  // restarted), so ask again at once. `*changed` as in tick().
  void on_probe_reply(const PublicKey& from, const ControlMessage& reply, std::uint64_t now_ns, bool* changed);
  // Account requests to every gateway holding our lease (`meshctl tunnel usage`); each is
  // then pending until its report arrives.
  std::vector<Send> request_accounts(std::uint64_t now_ns);
  enum class AccountOutcome : std::uint8_t {
    ignored,    // not from a gateway holding our lease, or a report answering no request of ours
    kept,       // stored; the account's state is what it was
    changed,    // stored, and its state (open, blocked, throttled) is not what we knew: log it
  };
  // A report (answering request `message.nonce`) or notice from `from`. `*changed` is set
  // when kernel_state() may differ (a blocked gateway loses the default route).
  AccountOutcome on_account(const PublicKey& from, MessageType type, const AccountMessage& message,
                            std::uint64_t now_ns, std::int64_t now_unix, bool* changed);
  // Data from a gateway counts as hearing from it.
  void heard(const PublicKey& from, std::uint64_t now_ns) noexcept;

  // Data path. The gateway whose grant owns `source` (the one a packet with that source
  // leaves through), or nullptr. No allocation.
  ClientGateway* gateway_for_source(const IpAddress& source) noexcept;
  // The gateway with key `from` if it holds our lease and `destination` lies in one of
  // the blocks it granted us; nullptr otherwise (the packet is dropped).
  ClientGateway* accepts(const PublicKey& from, const IpAddress& destination) noexcept;

  // Of the gateways whose lease has a default-route address (prefix 0) of `family`: the
  // healthy one with the lowest priority, then the earliest configured; one that says it
  // blocks us (over quota) only when none is healthy, and a dead one only after that.
  const ClientGateway* preferred(Family family) const noexcept;

  ClientKernelState kernel_state() const;

  const std::vector<ClientGateway>& gateways() const noexcept { return gateways_; }
  ClientGateway* find(const PublicKey& key) noexcept;

 private:
  // Never 0, which marks "nothing in flight".
  std::uint32_t next_nonce() noexcept {
    if (++nonce_counter_ == 0) ++nonce_counter_;
    return nonce_counter_;
  }
  static bool grant_blocks_overlap(const Grant& grant, const IpBlock& block);

  std::vector<ClientGateway> gateways_;
  ClientTimers timers_;
  std::uint32_t nonce_counter_ = 0;
};

}  // namespace mh::iptunnel
