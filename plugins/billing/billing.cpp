// The billing plugin's lifecycle, data path and flushes: see billing.hpp. Start opens the
// ledger and resumes every client's current period from it, then hooks iptunnel's
// traffic; each packet is metered and enforced on the loop thread without allocating;
// every flush interval the per-client deltas go to the ledger thread.
#include "billing.hpp"

#include <link_driver_config.hpp>
#include <plugin_entry.hpp>
#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <exception>
#include <new>

namespace mh::billing {

namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;
constexpr std::int64_t kNsPerS = 1'000'000'000;
constexpr std::int64_t kSecondsPerHour = 3600;
// Packets taken from a shaper per drain() call; drain() is called until it gives fewer.
constexpr std::size_t kDrainBatch = 32;
// A wall clock that disagrees with the loop's clock by more than this was stepped (NTP at
// boot on a board without a real-time clock): periods follow the new time from then on.
constexpr std::int64_t kClockStepNs = kNsPerS;
constexpr std::int64_t kSecondsPerDay = 86'400;
// The first prune of hourly buckets waits an hour after start (time for NTP); a prune
// happens only if the wall clock kept pace with the loop's within this many seconds.
constexpr std::uint64_t kFirstPruneDelayNs = std::uint64_t{kSecondsPerHour} * kNsPerS;
constexpr std::int64_t kPruneClockSlackS = 60;

// a - b per field, 0 where b is larger (a ledger edited by hand, or a batch lost at a crash).
UsageCounters minus(const UsageCounters& a, const UsageCounters& b) noexcept {
  auto sub = [](std::uint64_t x, std::uint64_t y) { return x > y ? x - y : 0; };
  UsageCounters c;
  c.bytes_up = sub(a.bytes_up, b.bytes_up);
  c.bytes_down = sub(a.bytes_down, b.bytes_down);
  c.packets_up = sub(a.packets_up, b.packets_up);
  c.packets_down = sub(a.packets_down, b.packets_down);
  c.billable_bytes = sub(a.billable_bytes, b.billable_bytes);
  c.unbilled_bytes = sub(a.unbilled_bytes, b.unbilled_bytes);
  c.amount_micros = sub(a.amount_micros, b.amount_micros);
  return c;
}

void add_usage(MeterUsage& into, const MeterUsage& u) noexcept {
  into.upstream.packets += u.upstream.packets;
  into.upstream.bytes += u.upstream.bytes;
  into.downstream.packets += u.downstream.packets;
  into.downstream.bytes += u.downstream.bytes;
  into.billable_bytes += u.billable_bytes;
  into.free_bytes += u.free_bytes;
  into.unsolicited_packets += u.unsolicited_packets;
  into.unsolicited_bytes += u.unsolicited_bytes;
  into.blocked_packets += u.blocked_packets;
  into.amount_micros += u.amount_micros;
}

// A string into one of AccountReport's fixed fields, cut at its size (not terminated).
template <std::size_t N>
void copy_field(std::string_view from, char (&to)[N], std::uint8_t* size) noexcept {
  const std::size_t n = std::min(from.size(), N);
  std::memcpy(to, from.data(), n);
  *size = static_cast<std::uint8_t>(n);
}

std::int64_t system_realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * kNsPerS + ts.tv_nsec;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

ShaperConfig shaper_config(const std::optional<std::uint64_t>& rate_bps) {
  ShaperConfig config;
  config.rate_bps = rate_bps.value_or(TokenBucket::kMaxRateBps);
  return config;
}

std::size_t index_of(TrafficDirection d) noexcept { return d == TrafficDirection::upstream ? 0 : 1; }
TrafficDirection direction_of(std::size_t i) noexcept {
  return i == 0 ? TrafficDirection::upstream : TrafficDirection::downstream;
}

}  // namespace

UsageCounters to_counters(const MeterUsage& u) noexcept {
  UsageCounters c;
  c.bytes_up = u.upstream.bytes;
  c.bytes_down = u.downstream.bytes;
  c.packets_up = u.upstream.packets;
  c.packets_down = u.downstream.packets;
  c.billable_bytes = u.billable_bytes;
  c.unbilled_bytes = u.free_bytes + u.unsolicited_bytes;
  c.amount_micros = u.amount_micros;
  return c;
}

// The ledger keeps unbilled bytes as one figure: resumed, they count as free-prefix bytes.
MeterUsage to_meter_usage(const UsageCounters& c) noexcept {
  MeterUsage u;
  u.upstream = {c.packets_up, c.bytes_up};
  u.downstream = {c.packets_down, c.bytes_down};
  u.billable_bytes = c.billable_bytes;
  u.free_bytes = c.unbilled_bytes;
  u.amount_micros = c.amount_micros;
  return u;
}

bool BillingPlugin::KeyLess::operator()(const PublicKey& a, const PublicKey& b) const noexcept {
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) < 0;
}

BillingPlugin::Client::Client(const PublicKey& k, const PlanState& p, Period current, const MeterUsage& resumed,
                              bool resumed_over, std::uint64_t now_ns)
    : key(k),
      key_text(format_public_key(k)),
      plan(&p),
      period(std::move(current)),
      meter(p.meter_plan, p.free_prefixes, resumed, resumed_over),
      shaper{Shaper(shaper_config(p.plan.rate_limit.up_bps), now_ns),
             Shaper(shaper_config(p.plan.rate_limit.down_bps), now_ns)} {}

BillingPlugin::BillingPlugin(Host* host, BillingConfig config)
    : host_(host), config_(std::move(config)), plans_(build_plans(config_)), loop_(host->loop()) {}

BillingPlugin::~BillingPlugin() { stop(); }

void BillingPlugin::log(LogLevel level, const std::string& line) noexcept { host_->log(level, Str::of(line)); }

std::vector<std::unique_ptr<BillingPlugin::PlanState>> BillingPlugin::build_plans(const BillingConfig& config) {
  std::vector<std::unique_ptr<PlanState>> plans;
  for (const Plan& p : config.plans) {
    auto state = std::make_unique<PlanState>();
    state->plan = p;
    state->free_prefixes = PrefixSet(p.free_prefixes);
    state->meter_plan.quota_bytes = p.quota_bytes.value_or(QuotaTracker::kUnlimited);
    state->meter_plan.over_quota =
        p.over_quota.action == OverQuotaAction::throttle ? QuotaAction::throttle : QuotaAction::block;
    state->meter_plan.throttle_rate_bps = p.over_quota.throttle_bps;
    state->meter_plan.per_gb_micros = p.price ? p.price->per_gb_micros : 0;
    plans.push_back(std::move(state));
  }
  return plans;
}

const BillingPlugin::PlanState* BillingPlugin::find_plan(std::string_view name) const noexcept {
  for (const auto& p : plans_) {
    if (p->plan.name == name) return p.get();
  }
  return nullptr;
}

const BillingPlugin::PlanState& BillingPlugin::plan_for(const PublicKey& key) const noexcept {
  if (const auto it = plan_overrides_.find(key); it != plan_overrides_.end()) {
    if (const PlanState* p = find_plan(it->second)) return *p;
  }
  if (hooks_ != nullptr) {
    const Str named = hooks_->plan_of(key);
    if (const PlanState* p = find_plan(std::string_view(named.data, named.size)); p != nullptr) return *p;
  }
  const PlanState* fallback = find_plan(config_.default_plan);
  return fallback != nullptr ? *fallback : *plans_.front();  // the config guarantees the default exists
}

const BillingPlugin::PlanState& BillingPlugin::resolve_plan(const PublicKey& key, std::string* warned_unknown) {
  if (hooks_ != nullptr && plan_overrides_.find(key) == plan_overrides_.end()) {
    const Str named = hooks_->plan_of(key);
    const std::string_view name(named.data, named.size);
    if (!name.empty() && find_plan(name) == nullptr && *warned_unknown != name) {
      *warned_unknown = name;
      log(LogLevel::warn, "client " + format_public_key(key) + " names plan \"" + std::string(name) +
                              "\", which billing does not know: plan \"" + config_.default_plan + "\" applies");
    }
  }
  return plan_for(key);
}

BillingPlugin::Client* BillingPlugin::find_client(const PublicKey& key) noexcept {
  const auto it = clients_.find(key);
  return it == clients_.end() ? nullptr : &it->second;
}

BillingPlugin::Client& BillingPlugin::add_client(const PublicKey& key, const PlanState& plan,
                                                 const MeterUsage& resumed, bool resumed_over) {
  const std::uint64_t now = loop_->now_ns();
  Period current = period_at(config_.time_zone, plan.plan.period, wall_s(now));
  Client& c = clients_.try_emplace(key, key, plan, std::move(current), resumed, resumed_over, now).first->second;
  register_metrics(c);
  apply_rates(c, now);
  update_quota_gauge(c);
  c.told = account_state(c);  // nothing changed for the client: no notice
  return c;
}

BillingPlugin::Client* BillingPlugin::client_for_packet(const PublicKey& key) noexcept { return find_client(key); }

bool BillingPlugin::hold_pending(const TrafficInfo& info, const Packet& packet) noexcept {
  PendingClient* slot = nullptr;
  for (PendingClient& p : pending_) {
    if (p.used && std::memcmp(p.key.bytes, info.client.bytes, sizeof p.key.bytes) == 0) {
      slot = &p;
      break;
    }
    if (!p.used && slot == nullptr) slot = &p;
  }
  if (slot == nullptr || pending_timer_ == nullptr) return false;
  if (!slot->used) {
    slot->used = true;
    slot->key = info.client;
    slot->count = 0;
  }
  if (slot->count == kPendingPackets) return false;
  PendingPacket& held = slot->packets[slot->count++];
  held.ip_length = info.ip_length;
  held.direction = info.direction;
  held.client_opened = info.client_opened;
  held.has_remote = remote_address(packet.view(), info.direction, &held.remote);
  if (!pending_armed_) {
    pending_armed_ = true;
    pending_timer_->arm(0);
  }
  return true;
}

void BillingPlugin::create_pending() noexcept {
  pending_armed_ = false;
  const std::uint64_t now = loop_->now_ns();
  const std::int64_t wall = wall_s(now);
  for (PendingClient& p : pending_) {
    if (!p.used) continue;
    try {
      Client* c = find_client(p.key);
      if (c == nullptr) {
        std::string unknown;
        const PlanState& plan = resolve_plan(p.key, &unknown);
        c = &add_client(p.key, plan, MeterUsage{}, false);
        c->unknown_plan = std::move(unknown);
        // Its period may hold totals start() did not load: a clock step since, or a plan
        // whose period rule changed. The ledger thread reads them at the next flush.
        c->load_wanted = true;
      }
      // These packets went on unenforced; each is counted as it would have been.
      for (std::size_t i = 0; i < p.count; ++i) {
        const PendingPacket& held = p.packets[i];
        TrafficInfo info;
        info.direction = held.direction;
        info.client = p.key;
        info.ip_length = held.ip_length;
        info.client_opened = held.client_opened;
        const MeterDecision d = c->meter.decide_passed(info, held.has_remote ? &held.remote : nullptr);
        if (d.quota == QuotaState::crossed_now) note_crossing(*c, d, now);
        commit(*c, d, info, wall);
      }
    } catch (const std::exception&) {  // std::bad_alloc: carried unmetered
      unmetered_packets_ += p.count;
    }
    p.used = false;
    p.count = 0;
  }
}

AccountState BillingPlugin::account_state(const Client& c) const noexcept {
  if (!c.plan->plan.quota_bytes || !c.meter.quota().over()) return AccountState::open;
  return c.plan->plan.over_quota.action == OverQuotaAction::throttle ? AccountState::throttled : AccountState::blocked;
}

void BillingPlugin::note_state(Client& c) noexcept {
  const AccountState now = account_state(c);
  if (now == c.told) return;
  c.told = now;
  if (notices_ == nullptr) return;
  AccountReport report;
  fill_report(c, &report);
  notices_->notify_account(c.key, report);
}

void BillingPlugin::fill_report(const Client& c, AccountReport* out) const noexcept {
  const Plan& plan = c.plan->plan;
  const MeterUsage& u = c.meter.usage();
  *out = AccountReport{};
  out->state = account_state(c);
  copy_field(plan.name, out->plan, &out->plan_size);
  if (plan.price) {
    copy_field(plan.price->currency, out->currency, &out->currency_size);
    out->price_micro_per_gb = plan.price->per_gb_micros;
  }
  out->period_start_unix = c.period.start_s;
  out->period_end_unix = c.period.end_s;
  out->quota_bytes = plan.quota_bytes.value_or(0);
  out->billable_bytes = u.billable_bytes;
  out->bytes_up = u.upstream.bytes;
  out->bytes_down = u.downstream.bytes;
  out->unbilled_bytes = u.free_bytes + u.unsolicited_bytes;
  out->rate_up_bps = plan.rate_limit.up_bps.value_or(0);
  out->rate_down_bps = plan.rate_limit.down_bps.value_or(0);
  if (plan.quota_bytes && plan.over_quota.action == OverQuotaAction::throttle) {
    out->throttle_bps = plan.over_quota.throttle_bps;
  }
  out->amount_micro = u.amount_micros;
}

Status BillingPlugin::account_of(const PublicKey& client, AccountReport* out) noexcept {
  if (out == nullptr) return Status::error(StatusCode::invalid_argument, "account_of: no report to fill");
  if (!ledger_) return Status::error(StatusCode::unavailable, "billing has not started");
  if (const Client* c = find_client(client)) {
    fill_report(*c, out);
    return Status::success();
  }
  // No record yet: nothing used this period (start() made a record of every client the
  // ledger has totals of for it), under the plan the key would be held to.
  try {
    const PlanState& plan = plan_for(client);
    const Period current = period_at(config_.time_zone, plan.plan.period, wall_s(loop_->now_ns()));
    Client blank(client, plan, current, MeterUsage{}, false, loop_->now_ns());
    fill_report(blank, out);
    return Status::success();
  } catch (const std::exception&) {
    return Status::error(StatusCode::internal, "out of memory");
  }
}

void BillingPlugin::register_metrics(Client& c) {
  static constexpr const char* kDirections[2] = {"up", "down"};
  static constexpr const char* kKinds[2] = {"billable", "unbilled"};
  for (std::size_t d = 0; d < 2; ++d) {
    for (std::size_t k = 0; k < 2; ++k) {
      const Label labels[] = {{"client", Str::of(c.key_text)}, {"direction", kDirections[d]}, {"kind", kKinds[k]}};
      c.bytes[d][k] = host_->counter("meshhost_billing_bytes_total",
                                     "Inner IP bytes a client sent (up) or received (down), billed or not", labels, 3);
    }
  }
  const Label quota[] = {{"client", Str::of(c.key_text)}, {"reason", "quota"}};
  c.dropped_quota_counter =
      host_->counter("meshhost_billing_dropped_total", "Packets billing dropped, by reason", quota, 2);
  const Label queue[] = {{"client", Str::of(c.key_text)}, {"reason", "queue_full"}};
  c.dropped_queue_counter =
      host_->counter("meshhost_billing_dropped_total", "Packets billing dropped, by reason", queue, 2);
  ensure_quota_gauge(c);
}

void BillingPlugin::ensure_quota_gauge(Client& c) {
  // Only clients held to a quota have one left; a plan change may add it later.
  if (c.plan->plan.quota_bytes && c.quota_left == nullptr) {
    const Label client[] = {{"client", Str::of(c.key_text)}};
    c.quota_left = host_->gauge("meshhost_billing_quota_left_bytes", "Billable bytes left in the period's quota",
                                client, 1);
  }
}

void BillingPlugin::update_quota_gauge(Client& c) noexcept {
  if (c.quota_left != nullptr) c.quota_left->set(static_cast<double>(c.meter.quota().left_bytes()));
}

void BillingPlugin::apply_rates(Client& c, std::uint64_t now_ns) noexcept {
  const Plan& plan = c.plan->plan;
  const bool throttled =
      plan.quota_bytes && plan.over_quota.action == OverQuotaAction::throttle && c.meter.quota().over();
  for (std::size_t d = 0; d < 2; ++d) {
    std::optional<std::uint64_t> rate = d == kUp ? plan.rate_limit.up_bps : plan.rate_limit.down_bps;
    if (throttled) rate = rate ? std::min(*rate, plan.over_quota.throttle_bps) : plan.over_quota.throttle_bps;
    Shaper& s = c.shaper[d];
    c.limited[d] = rate.has_value();
    // Unlimited: the shaper is bypassed once it has let go of what it holds, at once.
    const std::uint64_t want = rate.value_or(TokenBucket::kMaxRateBps);
    if (s.rate_bps() != want) s.set_rate(want, now_ns);
    if (s.queued_packets() > 0) arm_shaper_timer(s.next_wakeup(now_ns), now_ns);
  }
}

void BillingPlugin::roll_period(Client& c, std::int64_t wall, std::uint64_t now_ns) {
  Period next = period_at(config_.time_zone, c.plan->plan.period, wall);
  if (next.label == c.period.label && next.start_s == c.period.start_s) {
    c.period = std::move(next);
    return;
  }
  // What was counted of the old period is in its slots, which keep its label and bounds:
  // the next flush closes it in the ledger, whichever way the clock went.
  c.past = PastPeriod{std::move(c.period), c.plan->plan.name, to_counters(c.meter.usage()),
                      c.dropped_quota + c.dropped_queue, c.meter.quota().over()};
  c.period = std::move(next);
  c.meter.reset_period();  // the quota lifts at the period's reset
  c.dropped_quota = c.dropped_queue = 0;
  // A clock stepped back, or forth into a period this ledger has seen, has totals there.
  c.load_wanted = true;
  c.load_ticket = 0;  // a load of another period still in flight is stale
  c.sent = {};
  apply_rates(c, now_ns);
  update_quota_gauge(c);
  note_state(c);
}

void BillingPlugin::apply_plan(Client& c, const PlanState& plan, std::int64_t wall, std::uint64_t now_ns) {
  const bool same_rule = plan.plan.period == c.plan->plan.period;
  const std::string old_name = c.plan->plan.name;
  c.plan = &plan;
  c.meter.set_plan(plan.meter_plan, plan.free_prefixes);
  if (!same_rule) {
    Period next = period_at(config_.time_zone, plan.plan.period, wall);
    if (next.start_s != c.period.start_s || next.end_s != c.period.end_s) {
      // Another kind of period: its totals so far are the kept past one's, or else the
      // ledger's, read on the ledger thread at the next flush (load_wanted).
      MeterUsage resumed;
      bool resumed_over = false;
      const bool was_past =
          c.past && c.past->period.start_s == next.start_s && c.past->period.end_s == next.end_s;
      if (was_past) {
        resumed = to_meter_usage(c.past->counters);
        resumed_over = c.past->quota_crossed;
      }
      c.past = PastPeriod{std::move(c.period), old_name, to_counters(c.meter.usage()),
                          c.dropped_quota + c.dropped_queue, c.meter.quota().over()};
      c.period = std::move(next);
      c.meter = Meter(plan.meter_plan, plan.free_prefixes, resumed, resumed_over);
      c.dropped_quota = c.dropped_queue = 0;
      c.load_wanted = !was_past;
      c.load_ticket = 0;
      c.sent = {};
    }
  }
  ensure_quota_gauge(c);
  apply_rates(c, now_ns);
  update_quota_gauge(c);
  note_state(c);  // a larger quota opens a blocked client again
}

std::int64_t BillingPlugin::wall_s(std::uint64_t now_ns) const noexcept {
  return floor_div(wall_offset_ns_ + static_cast<std::int64_t>(now_ns), kNsPerS);
}

void BillingPlugin::resync_wall_clock(std::uint64_t now_ns) noexcept {
  std::int64_t real = 0;
  try {
    real = realtime_ns_ ? realtime_ns_() : system_realtime_ns();
  } catch (...) {
    return;
  }
  const std::int64_t offset = real - static_cast<std::int64_t>(now_ns);
  if (offset > wall_offset_ns_ + kClockStepNs || offset < wall_offset_ns_ - kClockStepNs) wall_offset_ns_ = offset;
}

Status BillingPlugin::init() noexcept {
  if (Status s = host_->provide("billing", this); !s.ok()) return s;
  if (Status s = host_->register_admin_method("billing.usage", &usage_method_); !s.ok()) return s;
  if (Status s = host_->register_admin_method("billing.statement", &statement_method_); !s.ok()) return s;
  if (Status s = host_->register_admin_method("billing.setPlan", &set_plan_method_); !s.ok()) return s;
  return host_->register_admin_method("billing.status", &status_method_);
}

void* BillingPlugin::query(InterfaceId id) noexcept {
  return id == kAccountReporterInterface ? static_cast<AccountReporter*>(this) : nullptr;
}

Status BillingPlugin::start() noexcept {
  try {
    Service* service = host_->lookup("iptunnel");
    hooks_ = service != nullptr ? static_cast<TrafficHooks*>(service->query(kTrafficHooksInterface)) : nullptr;
    if (hooks_ == nullptr) {
      return Status::error(StatusCode::unavailable,
                           "no service \"iptunnel\" offering meshhost.iptunnel.traffic.v1: enable the iptunnel plugin");
    }
    // An iptunnel that cannot carry notices yet: clients are not told, the rest works.
    notices_ = static_cast<AccountNotices*>(service->query(kAccountNoticesInterface));
    const std::uint64_t now = loop_->now_ns();
    wall_offset_ns_ = (realtime_ns_ ? realtime_ns_() : system_realtime_ns()) - static_cast<std::int64_t>(now);

    ledger_path_ = std::string(host_->state_dir().data, host_->state_dir().size) + "/ledger.sqlite";
    LedgerOptions options;
    options.path = ledger_path_;
    options.on_flushed = [this](std::uint64_t seq) { flushed_seq_.store(seq, std::memory_order_release); };
    options.on_error = [this](std::string_view line) { on_ledger_error(line); };
    options.on_loaded = [this](LoadedTotals&& loaded) { on_loaded(std::move(loaded)); };
    options.on_pruned = [this](std::uint64_t rows, std::int64_t) {
      pruned_rows_.fetch_add(rows, std::memory_order_relaxed);
    };
    std::string error;
    ledger_ = Ledger::open(std::move(options), &error);
    if (!ledger_) return host_->fail(StatusCode::io_error, Str::of(error));
    flushed_seq_.store(ledger_->flush_seq(), std::memory_order_release);

    // A restart resumes each client's totals of its current period. Clients are made here,
    // not at their first packet, so the data path never reads the database.
    const std::int64_t wall = wall_s(now);
    std::vector<PeriodRule> rules;
    for (const auto& p : plans_) {
      if (std::find(rules.begin(), rules.end(), p->plan.period) == rules.end()) rules.push_back(p->plan.period);
    }
    std::size_t resumed = 0;
    for (const PeriodRule& rule : rules) {
      const Period current = period_at(config_.time_zone, rule, wall);
      const auto read = ledger_->period(current.label);
      if (!read.ok()) {
        log(LogLevel::warn, read.error + ": totals of " + current.label + " start from 0");
        continue;
      }
      for (const PeriodTotals& t : read.value) {
        if (find_client(t.key) != nullptr) continue;
        // Labels name a period by its first day's month or week: a changed resetDay gives the
        // same label to another span, whose totals are not this period's.
        if (t.period_start_s != current.start_s || t.period_end_s != current.end_s) continue;
        std::string unknown;
        const PlanState& plan = resolve_plan(t.key, &unknown);
        if (!(plan.plan.period == rule)) continue;  // that client's period is another kind now
        add_client(t.key, plan, to_meter_usage(t.counters), t.quota_crossed).unknown_plan = std::move(unknown);
        ++resumed;
      }
    }
    if (Status s = loop_->create_timer(&flush_call_, &flush_timer_); !s.ok()) {
      stop();
      return s;
    }
    if (Status s = loop_->create_timer(&shaper_call_, &shaper_timer_); !s.ok()) {
      stop();
      return s;
    }
    if (Status s = loop_->create_timer(&pending_call_, &pending_timer_); !s.ok()) {
      stop();
      return s;
    }
    // Hourly buckets past the retention go on the ledger thread an hour after start and
    // then daily — never at start: a board that booted with its clock ahead would delete
    // every recent bucket for good, before NTP corrects it.
    prune_anchor_ns_ = now;
    prune_anchor_wall_s_ = wall;
    next_prune_ns_ = now + kFirstPruneDelayNs;
    flush_timer_->arm(std::uint64_t{config_.flush_interval_ms} * kNsPerMs);
    if (Status s = hooks_->add_hook(this); !s.ok()) {
      stop();
      return s;
    }
    hooked_ = true;
    log(LogLevel::info, "ledger " + ledger_path_ + " at flush " + std::to_string(ledger_->flush_seq()) + ", " +
                            std::to_string(resumed) + " clients resumed, " + std::to_string(plans_.size()) +
                            " plans, periods in " + config_.time_zone_name);
    return Status::success();
  } catch (const std::bad_alloc&) {
    stop();
    return Status::error(StatusCode::internal, "out of memory");
  } catch (const std::exception& e) {
    stop();
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

void BillingPlugin::release_held_packets() noexcept {
  for (auto& entry : clients_) {
    for (Shaper& s : entry.second.shaper) s.clear([](Packet* p) noexcept { p->release(); });
  }
  held_[0] = held_[1] = 0;
}

void BillingPlugin::stop() noexcept {
  if (flush_timer_ != nullptr) flush_timer_->cancel();
  if (shaper_timer_ != nullptr) shaper_timer_->cancel();
  if (pending_timer_ != nullptr) pending_timer_->cancel();
  if (ledger_) create_pending();  // packets that went on are counted in the last flush
  shaper_deadline_ns_ = TokenBucket::kNever;
  // traffic.hpp: every packet held goes back before the hook is removed. They were never
  // counted (counting happens when a packet leaves the shaper), so nothing is billed.
  release_held_packets();
  if (hooked_) hooks_->remove_hook(this);
  hooked_ = false;
  if (ledger_) {
    try {
      flush();
    } catch (const std::exception& e) {
      log(LogLevel::error, std::string("the last flush failed: ") + e.what());
    }
    ledger_->close();  // writes what is queued, joins the ledger thread
    ledger_.reset();
    log_ledger_errors();  // the thread is gone: what it reported last is logged here
  }
  if (flush_timer_ != nullptr) flush_timer_->release();
  if (shaper_timer_ != nullptr) shaper_timer_->release();
  if (pending_timer_ != nullptr) pending_timer_->release();
  flush_timer_ = shaper_timer_ = pending_timer_ = nullptr;
  pending_armed_ = false;
  notices_ = nullptr;
  {
    std::lock_guard lock(loads_mutex_);
    loaded_.clear();  // answers for this run's clients: a restart loads afresh
  }
}

ReconfigureResult BillingPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  std::vector<std::unique_ptr<PlanState>> old;
  try {
    std::optional<BillingConfig> next = parse_billing_config(config_json, errors);
    if (!next) return ReconfigureResult::error;
    // Periods and the ledger's labels follow the zone: changing it mid-period would split a
    // period in two under different names.
    if (next->time_zone_name != config_.time_zone_name) return ReconfigureResult::restart_required;
    std::vector<std::unique_ptr<PlanState>> plans = build_plans(*next);
    const std::uint32_t old_interval = config_.flush_interval_ms;
    old = std::move(plans_);
    plans_ = std::move(plans);
    config_ = std::move(*next);
    const std::uint64_t now = loop_->now_ns();
    const std::int64_t wall = wall_s(now);
    for (auto& entry : clients_) {
      Client& c = entry.second;
      apply_plan(c, resolve_plan(c.key, &c.unknown_plan), wall, now);
    }
    if (config_.flush_interval_ms != old_interval && flush_timer_ != nullptr) {
      flush_timer_->arm(std::uint64_t{config_.flush_interval_ms} * kNsPerMs);
    }
    log(LogLevel::info, "applied: " + std::to_string(plans_.size()) + " plans, default \"" + config_.default_plan +
                            "\", flush every " + std::to_string(config_.flush_interval_ms) + " ms");
    return ReconfigureResult::applied;
  } catch (const std::exception& e) {
    // Some clients may still point at the old plans: keep them alive for good.
    for (auto& p : old) retired_plans_.push_back(std::move(p));
    errors->error("", "a config billing can apply", Str(e.what()));
    return ReconfigureResult::error;
  }
}

// ---- the data path ----

BillingPlugin::Slot& BillingPlugin::slot_for(Client& c, std::int64_t wall) noexcept {
  const std::int64_t hour = floor_div(wall, kSecondsPerHour) * kSecondsPerHour;
  if (c.slot_count > 0) {
    Slot& last = c.slots[c.slot_count - 1];
    // A timer far too late for the slots kept: the rest goes into the last one.
    if ((last.hour_start_s == hour && last.period_start_s == c.period.start_s) || c.slot_count == kSlots) return last;
  }
  Slot& s = c.slots[c.slot_count++];
  s.period_label = c.period.label;  // short: fits the string's own buffer, no allocation
  s.period_start_s = c.period.start_s;
  s.period_end_s = c.period.end_s;
  s.hour_start_s = hour;
  s.last_seen_s = wall;
  s.counters = {};
  s.quota_crossed = false;
  return s;
}

void BillingPlugin::commit(Client& c, const MeterDecision& d, const TrafficInfo& info, std::int64_t wall) noexcept {
  const std::uint64_t micros_before = c.meter.usage().amount_micros;
  c.meter.commit(d, info);
  Slot& s = slot_for(c, wall);
  s.last_seen_s = wall;
  const std::size_t dir = index_of(info.direction);
  if (dir == kUp) {
    s.counters.bytes_up += info.ip_length;
    s.counters.packets_up++;
  } else {
    s.counters.bytes_down += info.ip_length;
    s.counters.packets_down++;
  }
  const bool billable = d.traffic == TrafficClass::billable;
  if (billable) {
    s.counters.billable_bytes += info.ip_length;
    s.counters.amount_micros += c.meter.usage().amount_micros - micros_before;
    update_quota_gauge(c);
  } else {
    s.counters.unbilled_bytes += info.ip_length;
  }
  if (Counter* counter = c.bytes[dir][billable ? kBillable : kUnbilled]) counter->add(info.ip_length);
}

TrafficVerdict BillingPlugin::on_traffic(const TrafficInfo& info, Packet* packet) noexcept {
  Client* c = client_for_packet(info.client);
  if (c == nullptr) {
    // No record yet: made off the data path, the packet replayed then. No pending slot
    // left: better carried unmetered than a gateway that fails closed.
    if (!hold_pending(info, *packet)) ++unmetered_packets_;
    return TrafficVerdict::pass;
  }
  const std::uint64_t now = loop_->now_ns();
  const std::int64_t wall = wall_s(now);
  if (wall >= c->period.end_s) {
    try {
      roll_period(*c, wall, now);
    } catch (const std::exception&) {  // std::bad_alloc: the next packet tries again
    }
  }
  const MeterDecision d = c->meter.decide(info, packet->view());
  if (d.quota == QuotaState::crossed_now) note_crossing(*c, d, now);
  if (d.action == Enforcement::block) {
    c->dropped_quota++;
    if (c->dropped_quota_counter != nullptr) c->dropped_quota_counter->add(1);
    return TrafficVerdict::drop;
  }
  const std::size_t dir = index_of(info.direction);
  Shaper& shaper = c->shaper[dir];
  if (!c->limited[dir] && shaper.queued_packets() == 0) {
    commit(*c, d, info, wall);
    return TrafficVerdict::pass;
  }
  // What may leave goes first: a full queue whose head is due would refuse this packet, and
  // overtaking it would reorder the client's flows.
  if (shaper.queued_packets() > 0 && shaper.next_wakeup(now) <= now) drain(*c, dir, now);
  // iptunnel's pools are shared by every client (traffic.hpp): all shapers together hold at
  // most kMaxHeld[dir]. Past it a packet that would wait is dropped; one that finds its
  // queue empty may still pass, or wait as the one over the bound its client adds.
  if (held_[dir] >= kMaxHeld[dir] && shaper.queued_packets() > 0) {
    c->dropped_queue++;
    if (c->dropped_queue_counter != nullptr) c->dropped_queue_counter->add(1);
    return TrafficVerdict::drop;
  }
  switch (shaper.offer(packet, info.ip_length, now)) {
    case ShaperVerdict::pass:
      commit(*c, d, info, wall);
      return TrafficVerdict::pass;
    case ShaperVerdict::queued:
      // Ours now, tags included.
      // The decision is made again when it leaves (drain): it is counted then, after
      // enforcement (DESIGN §7), against the usage of that moment.
      packet->tag[0] = info.client_opened ? 1 : 0;
      held_[dir]++;
      arm_shaper_timer(shaper.next_wakeup(now), now);
      return TrafficVerdict::queued;
    case ShaperVerdict::drop:
      break;
  }
  c->dropped_queue++;
  if (c->dropped_queue_counter != nullptr) c->dropped_queue_counter->add(1);
  return TrafficVerdict::drop;
}

// By the plan's action, not the decision's: a replayed first packet crosses with action pass.
void BillingPlugin::note_crossing(Client& c, const MeterDecision&, std::uint64_t now_ns) noexcept {
  apply_rates(c, now_ns);  // a throttle starts now
  update_quota_gauge(c);
  note_state(c);
  // The next flush tells the ledger, so a restart resumes the client over its quota.
  const std::int64_t wall = wall_s(now_ns);
  Slot& s = slot_for(c, wall);
  s.last_seen_s = wall;
  if (s.period_start_s == c.period.start_s) s.quota_crossed = true;  // not a full set's older last slot
  try {  // once per client and period: not the steady state
    const char* what = c.plan->plan.over_quota.action == OverQuotaAction::throttle ? "throttled" : "blocked";
    log(LogLevel::info, "client " + c.key_text + " crossed the quota of plan \"" + c.plan->plan.name + "\" in " +
                            c.period.label + ": " + what + " until the period ends");
  } catch (const std::exception&) {
  }
}

void BillingPlugin::drain(Client& c, std::size_t dir, std::uint64_t now_ns) noexcept {
  Packet* out[kDrainBatch];
  const std::int64_t wall = wall_s(now_ns);
  for (;;) {
    const std::size_t n = c.shaper[dir].drain(now_ns, out, kDrainBatch);
    for (std::size_t i = 0; i < n; ++i) {
      Packet* p = out[i];
      TrafficInfo info;
      info.direction = direction_of(dir);
      info.client = c.key;
      info.ip_length = p->length;
      info.client_opened = p->tag[0] != 0;
      // The quota again, now: packets queued together were all admitted against usage
      // that did not count each other (nor the other direction since).
      const MeterDecision d = c.meter.decide(info, p->view());
      if (d.quota == QuotaState::crossed_now) note_crossing(c, d, now_ns);
      if (d.action == Enforcement::block) {
        held_[dir]--;
        c.dropped_quota++;
        if (c.dropped_quota_counter != nullptr) c.dropped_quota_counter->add(1);
        p->release();
        continue;
      }
      held_[dir]--;
      commit(c, d, info, wall);
      hooks_->resume(this, info, p);
    }
    if (n < kDrainBatch) return;
  }
}

void BillingPlugin::arm_shaper_timer(std::uint64_t wake_ns, std::uint64_t now_ns) noexcept {
  if (shaper_timer_ == nullptr || wake_ns == TokenBucket::kNever || wake_ns >= shaper_deadline_ns_) return;
  shaper_deadline_ns_ = wake_ns;
  shaper_timer_->arm(wake_ns > now_ns ? wake_ns - now_ns : 0);
}

void BillingPlugin::on_shaper_timer() noexcept {
  shaper_deadline_ns_ = TokenBucket::kNever;
  const std::uint64_t now = loop_->now_ns();
  std::uint64_t earliest = TokenBucket::kNever;
  for (auto& entry : clients_) {
    Client& c = entry.second;
    for (std::size_t d = 0; d < 2; ++d) {
      Shaper& s = c.shaper[d];
      if (s.queued_packets() == 0) continue;
      if (s.next_wakeup(now) <= now) drain(c, d, now);
      if (s.queued_packets() > 0) earliest = std::min(earliest, s.next_wakeup(now));
    }
  }
  arm_shaper_timer(earliest, now);
}

// ---- flushes ----

void BillingPlugin::on_flush_timer() noexcept {
  const std::uint64_t now = loop_->now_ns();
  try {
    resync_wall_clock(now);
    const std::int64_t wall = wall_s(now);
    for (auto& entry : clients_) {
      Client& c = entry.second;
      // Idle clients too: usage shows the new period, and the quota lifted, from its start.
      // A wall clock stepped back (NTP on a board that booted with a clock ahead) moves the
      // client back into the period it now is in.
      if (wall >= c.period.end_s || wall < c.period.start_s) roll_period(c, wall, now);
      // iptunnel may have been reconfigured (billing is not told when only its config changed).
      const PlanState& plan = resolve_plan(c.key, &c.unknown_plan);
      if (&plan != c.plan) apply_plan(c, plan, wall, now);
    }
    flush();
    request_loads();  // behind the batch: the ledger's answer holds what was just sent
    if (ledger_ && now >= next_prune_ns_) {
      // Only over a wall clock that kept pace with the monotonic one since the last
      // chance: after a step the next prune waits a day on the corrected clock.
      const auto mono_s = static_cast<std::int64_t>((now - prune_anchor_ns_) / kNsPerS);
      const std::int64_t drift = (wall - prune_anchor_wall_s_) - mono_s;
      if (drift <= kPruneClockSlackS && drift >= -kPruneClockSlackS) {
        ledger_->prune_hourly(wall - std::int64_t{config_.hourly_retention_days} * kSecondsPerDay);
      }
      prune_anchor_ns_ = now;
      prune_anchor_wall_s_ = wall;
      next_prune_ns_ = now + std::uint64_t{kSecondsPerDay} * kNsPerS;
    }
  } catch (const std::exception& e) {
    log(LogLevel::warn, std::string("flush: ") + e.what());
  }
  if (flush_timer_ != nullptr) flush_timer_->arm(std::uint64_t{config_.flush_interval_ms} * kNsPerMs);
}

void BillingPlugin::flush() {
  if (!ledger_) return;
  Batch batch;
  for (const auto& entry : clients_) {
    const Client& c = entry.second;
    for (std::size_t i = 0; i < c.slot_count; ++i) {
      const Slot& s = c.slots[i];
      const bool current = s.period_start_s == c.period.start_s && s.period_label == c.period.label;
      const bool crossed = s.quota_crossed || (current && c.meter.quota().over());
      if (s.counters == UsageCounters{} && !crossed) continue;
      UsageDelta delta;
      delta.key = c.key;
      delta.plan = c.plan->plan.name;
      delta.period_label = s.period_label;
      delta.period_start_s = s.period_start_s;
      delta.period_end_s = s.period_end_s;
      delta.hour_start_s = s.hour_start_s;
      delta.last_seen_s = s.last_seen_s;
      delta.counters = s.counters;
      delta.quota_crossed = crossed;
      batch.deltas.push_back(std::move(delta));
    }
  }
  // Only a batch the ledger took empties the slots; otherwise they go with the next flush.
  if (!batch.deltas.empty() && !ledger_->submit(std::move(batch))) {
    log(LogLevel::warn, "ledger: cannot queue a batch (out of memory); kept for the next flush");
    return;
  }
  for (auto& entry : clients_) {
    Client& c = entry.second;
    for (std::size_t i = 0; i < c.slot_count; ++i) {
      const Slot& s = c.slots[i];
      if (s.period_start_s == c.period.start_s && s.period_label == c.period.label) c.sent += s.counters;
    }
    c.slot_count = 0;
  }
}

// ---- loading a period's totals on the ledger thread ----

void BillingPlugin::request_loads() noexcept {
  if (!ledger_) return;
  try {
    std::vector<TotalsQuery> queries;
    for (const auto& entry : clients_) {
      const Client& c = entry.second;
      if (c.load_wanted && c.load_ticket == 0) queries.push_back({c.key, c.period.label});
    }
    if (queries.empty()) return;
    const std::uint64_t ticket = next_ticket_++;
    if (!ledger_->load(ticket, std::move(queries))) return;  // out of memory: the next flush asks again
    for (auto& entry : clients_) {
      Client& c = entry.second;
      if (!c.load_wanted || c.load_ticket != 0) continue;
      c.load_ticket = ticket;
      c.sent_at_load = c.sent;  // the ledger has these now, or will before it reads
    }
  } catch (const std::exception&) {  // std::bad_alloc: the next flush asks again
  }
}

void BillingPlugin::on_loaded(LoadedTotals&& loaded) noexcept {
  bool post = false;
  {
    std::lock_guard lock(loads_mutex_);
    try {
      loaded_.push_back(std::move(loaded));
    } catch (const std::exception&) {
      // Lost: those clients keep their ticket and count from where they are. Logged nowhere
      // (ledger thread); the next period change asks again.
      return;
    }
    if (!loads_posted_) post = loads_posted_ = true;
  }
  // As with the errors: the plugin outlives the task, the host refusing tasks first.
  if (post) loop_->post(&BillingPlugin::loaded_task, this);
}

void BillingPlugin::loaded_task(void* self) noexcept { static_cast<BillingPlugin*>(self)->apply_loads(); }

void BillingPlugin::apply_loads() noexcept {
  std::vector<LoadedTotals> answers;
  {
    std::lock_guard lock(loads_mutex_);
    answers.swap(loaded_);
    loads_posted_ = false;
  }
  if (!ledger_) return;  // stopped meanwhile
  for (LoadedTotals& answer : answers) {
    for (std::size_t i = 0; i < answer.queries.size(); ++i) {
      Client* c = find_client(answer.queries[i].key);
      // A client whose period changed again since has another load coming.
      if (c == nullptr || c->load_ticket != answer.ticket || c->period.label != answer.queries[i].period_label) {
        continue;
      }
      if (!answer.error.empty()) {
        c->load_ticket = 0;  // load_wanted stays: the next flush asks again
        continue;
      }
      apply_load(*c, answer.totals[i]);
    }
    if (!answer.error.empty()) {
      try {
        log(LogLevel::warn, answer.error + "; asked again at the next flush");
      } catch (const std::exception&) {
      }
    }
  }
}

void BillingPlugin::apply_load(Client& c, const std::optional<PeriodTotals>& totals) noexcept {
  c.load_wanted = false;
  c.load_ticket = 0;
  // Labels name a period by its first day: the same label over another span (a changed
  // resetDay) is not this period's.
  if (!totals || totals->period_start_s != c.period.start_s || totals->period_end_s != c.period.end_s) return;
  // The ledger's totals hold what this run sent of the period before the load was queued;
  // the meter has counted that itself, and more since.
  const UsageCounters before = minus(totals->counters, c.sent_at_load);
  MeterUsage usage = c.meter.usage();
  add_usage(usage, to_meter_usage(before));
  const bool over = c.meter.quota().over() || totals->quota_crossed;
  c.meter = Meter(c.plan->meter_plan, c.plan->free_prefixes, usage, over);
  const std::uint64_t now = loop_->now_ns();
  apply_rates(c, now);
  update_quota_gauge(c);
  note_state(c);
}

// ---- the ledger thread's errors ----

void BillingPlugin::on_ledger_error(std::string_view line) noexcept {
  bool post = false;
  {
    std::lock_guard lock(errors_mutex_);
    try {
      last_error_.assign(line);
      if (error_count_ < kErrorLines) {
        error_lines_[error_count_++].assign(line);
      } else {
        ++errors_lost_;
      }
    } catch (const std::exception&) {
      ++errors_lost_;
    }
    if (!errors_posted_) post = errors_posted_ = true;
  }
  // The loop's post() is the one call safe here; the lines wait in the plugin, which the
  // host destroys only after refusing new tasks, so the task never outlives them.
  if (post) loop_->post(&BillingPlugin::ledger_errors_task, this);
}

void BillingPlugin::ledger_errors_task(void* self) noexcept { static_cast<BillingPlugin*>(self)->log_ledger_errors(); }

void BillingPlugin::log_ledger_errors() noexcept {
  std::array<std::string, kErrorLines> lines;
  std::size_t count = 0;
  std::uint64_t lost = 0;
  {
    std::lock_guard lock(errors_mutex_);
    for (std::size_t i = 0; i < error_count_; ++i) lines[i].swap(error_lines_[i]);
    count = error_count_;
    lost = errors_lost_;
    error_count_ = 0;
    errors_lost_ = 0;
    errors_posted_ = false;
  }
  for (std::size_t i = 0; i < count; ++i) log(LogLevel::error, lines[i]);
  if (lost > 0) {
    try {
      log(LogLevel::error, "ledger: " + std::to_string(lost) + " more errors");
    } catch (const std::exception&) {
    }
  }
}

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

namespace {

constexpr char kName[] = "billing";
using Entry = link_common::PluginEntry<BillingPlugin, parse_billing_config, kName>;

constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "description": "per-key metering, plans and the ledger for an iptunnel gateway; see docs/operations.md",
  "required": ["plans", "defaultPlan"],
  "properties": {
    "timeZone": {"type": "string", "default": "UTC",
      "description": "IANA zone the periods follow, a TZif file under /usr/share/zoneinfo; changing it needs a restart"},
    "flushIntervalMs": {"type": "integer", "minimum": 100, "maximum": 600000, "default": 10000,
      "description": "how often usage goes to the ledger; kill -9 loses at most this much"},
    "hourlyRetentionDays": {"type": "integer", "minimum": 1, "maximum": 36600, "default": 400,
      "description": "hourly buckets older than this are deleted at start and daily; per-period totals are kept"},
    "defaultPlan": {"type": "string", "description": "the plan of clients whose allowedConnections entry names none"},
    "plans": {"type": "object", "minProperties": 1,
      "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"},
      "additionalProperties": {"type": "object", "additionalProperties": false, "properties": {
        "quotaBytes": {"type": "integer", "minimum": 0, "description": "billable bytes per period; none: unlimited"},
        "period": {"enum": ["day", "week", "month"], "default": "month"},
        "resetDay": {"type": "integer", "minimum": 1, "maximum": 28,
          "description": "month: day of the month (1-28); week: ISO weekday (1 = Monday ... 7)", "default": 1},
        "rateLimit": {"type": "object", "additionalProperties": false, "properties": {
          "upBps": {"type": "integer", "minimum": 8000, "maximum": 1000000000000},
          "downBps": {"type": "integer", "minimum": 8000, "maximum": 1000000000000}}},
        "overQuota": {"description": "with quotaBytes", "oneOf": [
          {"const": "block"},
          {"type": "object", "required": ["throttleBps"], "additionalProperties": false, "properties": {
            "throttleBps": {"type": "integer", "minimum": 8000, "maximum": 1000000000000}}}], "default": "block"},
        "price": {"type": "object", "required": ["perGB", "currency"], "additionalProperties": false, "properties": {
          "perGB": {"type": "integer", "minimum": 0, "maximum": 1000000000000,
            "description": "micro-units of currency per 10^9 billable bytes"},
          "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}},
        "freePrefixes": {"type": "array", "maxItems": 256, "items": {"type": "string"},
          "description": "IPv4/IPv6 blocks whose traffic is counted but not billed"}}}}
  },
  "additionalProperties": false
})json";

const Str kProvided[] = {"billing"};
const Str kRequired[] = {"iptunnel"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = kName,
    .version = "0.1.0",
    .description = "Per-key metering, plans (quota, rate limit, price) and a durable ledger for the gateway",
    .kind = "billing",
    .provided = kProvided,
    .provided_count = 1,
    .required = kRequired,
    .required_count = 1,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = Entry::validate,
    .create = Entry::create,
    .destroy = Entry::destroy,
};

}  // namespace
}  // namespace mh::billing

MESHHOST_PLUGIN(mh::billing::kDescriptor)
