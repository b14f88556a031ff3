// The billing plugin (DESIGN §7, issue 6): meters every packet iptunnel's gateway carries
// for a pinned client through the traffic hooks, holds each client to its plan (quota,
// rate limit, over-quota action, price) and keeps the account in the SQLite ledger. The
// decisions live in Meter and Shaper, the durable state in Ledger; this class wires them
// to the hooks, the loop's timers, the admin methods and the metrics.
#pragma once

#include "billing_config.hpp"
#include "ledger.hpp"
#include "meter.hpp"
#include "period.hpp"
#include "shaper.hpp"

#include <meshhost/account.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/traffic.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mh::billing {

// A meter's totals as the ledger keeps them, and back (unbilled bytes are one figure there).
UsageCounters to_counters(const MeterUsage& usage) noexcept;
MeterUsage to_meter_usage(const UsageCounters& counters) noexcept;

class BillingPlugin final : public Plugin, public Service, TrafficHook, AccountReporter {
 public:
  BillingPlugin(Host* host, BillingConfig config);
  ~BillingPlugin();

  BillingPlugin(const BillingPlugin&) = delete;
  BillingPlugin& operator=(const BillingPlugin&) = delete;

  // Registers the admin methods and offers the "billing" service.
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  // Plugin and Service alike: kAccountReporterInterface (account.hpp), else nullptr.
  void* query(InterfaceId id) noexcept override;

  TrafficVerdict on_traffic(const TrafficInfo& info, Packet* packet) noexcept override;

  // AccountReporter: `client`'s plan, period and usage from the plugin's own counters (the
  // ledger's totals of the period plus what is not flushed yet), never the database. A key
  // with no record yet gets the plan it would be held to and nothing used: the clients of
  // the ledger's current period were all loaded at start. unavailable before start().
  Status account_of(const PublicKey& client, AccountReport* out) noexcept override;

  // Unix time in nanoseconds, CLOCK_REALTIME by default. Read at start and at each flush
  // only (periods and hourly buckets follow the loop's monotonic clock in between; a step
  // of the wall clock is seen at the next flush); tests replace it before start() so that
  // the FakeLoop's virtual time drives the wall clock.
  void set_realtime_clock(std::function<std::int64_t()> clock) { realtime_ns_ = std::move(clock); }

  // billing.usage, billing.statement, billing.setPlan, billing.status (billing_admin.cpp).
  Status usage(Str params_json, StringSink* result) noexcept;
  Status statement(Str params_json, StringSink* result) noexcept;
  Status set_plan(Str params_json, StringSink* result) noexcept;
  Status status(Str params_json, StringSink* result) noexcept;

 private:
  // A plan with what the data path needs of it, built once per config: meters borrow the
  // PrefixSet, so a PlanState outlives every client using it (replaced only after every
  // client moved to its successor).
  struct PlanState {
    Plan plan;
    PrefixSet free_prefixes;
    MeterPlan meter_plan;
  };

  // One flush interval's usage of a client in one hourly bucket of one period. A client
  // keeps a few: an interval (at most 10 minutes) crosses at most one hour and one period
  // boundary. The label is a short string ("2026-W49"), kept in its small-string buffer,
  // so opening a slot on the data path never allocates.
  struct Slot {
    std::string period_label;
    std::int64_t period_start_s = 0;
    std::int64_t period_end_s = 0;
    std::int64_t hour_start_s = 0;
    std::int64_t last_seen_s = 0;
    UsageCounters counters;
    // The meter crossed the quota in this slot's period: sent even with no counters, since
    // with overQuota "block" the crossing packet itself is not counted.
    bool quota_crossed = false;
  };
  static constexpr std::size_t kSlots = 4;

  // The previous period's totals, so a statement just after a reset sees what the ledger
  // has not been sent yet.
  struct PastPeriod {
    Period period;
    std::string plan;
    UsageCounters counters;
    std::uint64_t dropped = 0;
    bool quota_crossed = false;
  };

  static constexpr std::size_t kUp = 0, kDown = 1;
  static constexpr std::size_t kBillable = 0, kUnbilled = 1;

  struct Client {
    Client(const PublicKey& k, const PlanState& plan, Period current, const MeterUsage& resumed, bool resumed_over,
           std::uint64_t now_ns);

    PublicKey key;
    std::string key_text;      // "….k", the metrics' label and the admin API's key
    const PlanState* plan;     // never nullptr
    std::string unknown_plan;  // the unknown plan name last warned about, so it is warned once
    Period period;
    Meter meter;
    Shaper shaper[2];   // kUp, kDown: the plan's rate, or the throttle over quota
    bool limited[2] = {false, false};  // false: the shaper is bypassed once empty
    std::array<Slot, kSlots> slots;
    std::size_t slot_count = 0;
    std::optional<PastPeriod> past;
    std::uint64_t dropped_quota = 0;  // this period, this run
    std::uint64_t dropped_queue = 0;
    // The state iptunnel was last asked to tell the client (AccountNotices), or the one it
    // was created in: a notice goes out when the state moves away from it.
    AccountState told = AccountState::open;
    // The period changed (a reset, a step of the wall clock, a client new in this run): its
    // totals so far are to be read from the ledger, on the ledger thread, at the next flush.
    bool load_wanted = false;
    std::uint64_t load_ticket = 0;  // the load in flight; 0: none
    // This period's counters handed to the ledger in this run, and their value when the
    // load in flight was queued: the part of the ledger's answer the meter counted itself.
    UsageCounters sent;
    UsageCounters sent_at_load;
    Counter* bytes[2][2] = {};  // [direction][kBillable/kUnbilled]
    Counter* dropped_quota_counter = nullptr;
    Counter* dropped_queue_counter = nullptr;
    Gauge* quota_left = nullptr;
  };

  // The first packets of a key billing has no record of, which pass unenforced while the
  // record is made off the data path (a zero-delay timer): a new Client allocates its key
  // text, map node and metrics. Replayed through the meter then. Bounded: a key past
  // kPendingClients, or a packet past kPendingPackets, passes unmetered and is counted in
  // unmetered_packets_.
  struct PendingPacket {
    iptunnel::IpAddress remote;
    std::uint32_t ip_length = 0;
    TrafficDirection direction = TrafficDirection::upstream;
    bool client_opened = false;
    bool has_remote = false;  // the header was readable
  };
  static constexpr std::size_t kPendingClients = 8;
  static constexpr std::size_t kPendingPackets = 64;
  struct PendingClient {
    PublicKey key;
    bool used = false;
    std::size_t count = 0;
    std::array<PendingPacket, kPendingPackets> packets;
  };

  struct KeyLess {
    bool operator()(const PublicKey& a, const PublicKey& b) const noexcept;
  };

  // One admin method: calls `method` on the plugin.
  struct AdminMethod final : AdminHandler {
    AdminMethod(BillingPlugin* p, Status (BillingPlugin::*m)(Str, StringSink*)) : plugin(p), method(m) {}
    Status call(Str params_json, StringSink* result) noexcept override { return (plugin->*method)(params_json, result); }
    BillingPlugin* plugin;
    Status (BillingPlugin::*method)(Str, StringSink*);
  };
  // Timer handlers: one object per timer, since on_timer() says not which fired.
  struct TimerCall final : TimerHandler {
    TimerCall(BillingPlugin* p, void (BillingPlugin::*m)() noexcept) : plugin(p), method(m) {}
    void on_timer() noexcept override { (plugin->*method)(); }
    BillingPlugin* plugin;
    void (BillingPlugin::*method)() noexcept;
  };

  // ---- lifecycle and accounting (billing.cpp) ----
  static std::vector<std::unique_ptr<PlanState>> build_plans(const BillingConfig& config);
  const PlanState* find_plan(std::string_view name) const noexcept;
  // The plan `key` is held to: billing.setPlan, else iptunnel's allowedConnections entry,
  // else defaultPlan. Warns once per client about a name no plan has.
  const PlanState& resolve_plan(const PublicKey& key, std::string* warned_unknown);
  Client* find_client(const PublicKey& key) noexcept;
  // Creates the state of a client seen for the first time, resuming `resumed`, over its
  // quota when `resumed_over` (the ledger's quota_crossed).
  Client& add_client(const PublicKey& key, const PlanState& plan, const MeterUsage& resumed, bool resumed_over);
  // Creates a client at its first packet: its current period has nothing in the ledger
  // but what start() already loaded (clients of the ledger's current periods exist).
  // nullptr for a key with no record yet: its packet goes to the pending slots.
  Client* client_for_packet(const PublicKey& key) noexcept;
  // Holds the packet of a key with no record for create_pending(); false when no slot is free.
  bool hold_pending(const TrafficInfo& info, const Packet& packet) noexcept;
  // The pending timer: makes the pending keys' records, then replays their packets.
  void create_pending() noexcept;
  // The client's state as AccountState, and the notice to iptunnel when it changed.
  AccountState account_state(const Client& c) const noexcept;
  void note_state(Client& c) noexcept;
  void fill_report(const Client& c, AccountReport* out) const noexcept;
  // At each flush: queues a load for every client whose period changed.
  void request_loads() noexcept;
  // The ledger thread's answers to load(), handed to the loop thread.
  void on_loaded(LoadedTotals&& loaded) noexcept;
  static void loaded_task(void* self) noexcept;
  void apply_loads() noexcept;
  void apply_load(Client& c, const std::optional<PeriodTotals>& totals) noexcept;
  void register_metrics(Client& c);
  // The quota gauge of a client whose plan has a quota, registered the first time it has one.
  void ensure_quota_gauge(Client& c);
  // Moves `c` to `plan`; a different period rule re-reads its new period from the ledger.
  void apply_plan(Client& c, const PlanState& plan, std::int64_t wall_s, std::uint64_t now_ns);
  // The shapers' rates for `c`'s plan and quota state.
  void apply_rates(Client& c, std::uint64_t now_ns) noexcept;
  // Moves `c` to the period holding `wall_s` when that is not its period: at its end (the
  // quota lifts), or after a step of the wall clock either way. The new period's totals so
  // far are loaded from the ledger at the next flush (load_wanted); until then the meter
  // counts from 0.
  void roll_period(Client& c, std::int64_t wall_s, std::uint64_t now_ns);
  void commit(Client& c, const MeterDecision& d, const TrafficInfo& info, std::int64_t wall_s) noexcept;
  Slot& slot_for(Client& c, std::int64_t wall_s) noexcept;
  void update_quota_gauge(Client& c) noexcept;
  // Resumes the packets of one shaper that may leave at `now_ns`.
  void drain(Client& c, std::size_t dir, std::uint64_t now_ns) noexcept;
  // A packet's decision crossed the quota: rates change (a throttle) and the log says so.
  void note_crossing(Client& c, const MeterDecision& d, std::uint64_t now_ns) noexcept;
  void arm_shaper_timer(std::uint64_t wake_ns, std::uint64_t now_ns) noexcept;
  void on_shaper_timer() noexcept;
  void on_flush_timer() noexcept;
  // Sends every client's slots to the ledger; at each flush interval and at stop.
  void flush();
  std::int64_t wall_s(std::uint64_t now_ns) const noexcept;
  void resync_wall_clock(std::uint64_t now_ns) noexcept;
  void release_held_packets() noexcept;
  void log(LogLevel level, const std::string& line) noexcept;

  // The ledger thread's error lines, logged on the loop thread (Host is loop-thread only).
  void on_ledger_error(std::string_view line) noexcept;
  static void ledger_errors_task(void* self) noexcept;
  void log_ledger_errors() noexcept;

  // ---- admin (billing_admin.cpp) ----
  // Every client's totals of the period `label` (only `only`'s when not nullptr), as
  // complete as the plugin knows them: the live meter for a client's current period, the
  // kept past period, otherwise the ledger. Throws std::runtime_error when the ledger
  // cannot be read.
  struct PeriodRow;
  std::vector<PeriodRow> period_rows(std::string_view label, const PublicKey* only) const;
  // The plan `key` would be held to, without warning about unknown names: for admin views
  // of clients not seen in this run.
  const PlanState& plan_for(const PublicKey& key) const noexcept;
  // Whether `label` names a period under some plan's rule ("2026-05", "2026-W19", …).
  bool is_period_label(std::string_view label) const;

  Host* host_;
  BillingConfig config_;
  std::vector<std::unique_ptr<PlanState>> plans_;
  // Plans a failed reconfigure may have left some client on: kept until destruction.
  std::vector<std::unique_ptr<PlanState>> retired_plans_;
  AdminMethod usage_method_{this, &BillingPlugin::usage};
  AdminMethod statement_method_{this, &BillingPlugin::statement};
  AdminMethod set_plan_method_{this, &BillingPlugin::set_plan};
  AdminMethod status_method_{this, &BillingPlugin::status};
  TimerCall flush_call_{this, &BillingPlugin::on_flush_timer};
  TimerCall shaper_call_{this, &BillingPlugin::on_shaper_timer};
  TimerCall pending_call_{this, &BillingPlugin::create_pending};

  Loop* loop_;  // kept so the ledger thread can post without calling Host
  TrafficHooks* hooks_ = nullptr;
  AccountNotices* notices_ = nullptr;  // nullptr: an iptunnel without notices, skipped
  // Packets all shapers hold now, per direction, and the bound on it: well under iptunnel's
  // shared pools (1024 upstream copies, the sessions' 2048 downstream; traffic.hpp).
  std::size_t held_[2] = {0, 0};
  static constexpr std::size_t kMaxHeld[2] = {256, 512};  // kUp, kDown
  bool hooked_ = false;
  std::unique_ptr<Ledger> ledger_;
  std::string ledger_path_;
  Timer* flush_timer_ = nullptr;
  Timer* shaper_timer_ = nullptr;
  Timer* pending_timer_ = nullptr;
  bool pending_armed_ = false;
  std::array<PendingClient, kPendingClients> pending_{};
  std::uint64_t shaper_deadline_ns_ = TokenBucket::kNever;

  std::map<PublicKey, Client, KeyLess> clients_;
  std::map<PublicKey, std::string, KeyLess> plan_overrides_;  // billing.setPlan, for this run
  std::uint64_t unmetered_packets_ = 0;  // passed unmetered: no pending slot, or no memory for a new client
  // The next prune of hourly buckets (monotonic), and the clocks when it was scheduled.
  std::uint64_t next_prune_ns_ = 0;
  std::uint64_t prune_anchor_ns_ = 0;
  std::int64_t prune_anchor_wall_s_ = 0;
  std::uint64_t next_ticket_ = 1;

  std::function<std::int64_t()> realtime_ns_;
  std::int64_t wall_offset_ns_ = 0;  // Unix ns minus the loop's monotonic ns

  std::atomic<std::uint64_t> flushed_seq_{0};
  std::atomic<std::uint64_t> pruned_rows_{0};  // hourly buckets deleted in this run

  std::mutex loads_mutex_;  // guards what follows: the ledger thread writes, the loop reads
  std::vector<LoadedTotals> loaded_;
  bool loads_posted_ = false;

  static constexpr std::size_t kErrorLines = 8;
  std::mutex errors_mutex_;  // guards what follows: the ledger thread writes, the loop reads
  std::array<std::string, kErrorLines> error_lines_;
  std::size_t error_count_ = 0;
  std::uint64_t errors_lost_ = 0;
  bool errors_posted_ = false;
  std::string last_error_;
};

}  // namespace mh::billing
