// billing's admin methods: billing.usage (what `meshctl usage` shows), billing.statement,
// billing.setPlan and billing.status. JSON in and out; the current period comes from the
// plugin's own counters (the ledger's totals plus what is not flushed yet) and never reads
// the database; past periods and statements read the ledger's read connection on the loop
// thread (see the cost in period_rows()).
#include "billing.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <set>
#include <stdexcept>

namespace mh::billing {

struct BillingPlugin::PeriodRow {
  PublicKey key;
  std::string plan;
  std::string label;
  std::int64_t start_s = 0;
  std::int64_t end_s = 0;
  UsageCounters counters;
  const Client* live = nullptr;  // the client whose current period this is, if it is
  std::uint64_t dropped = 0;
  bool quota_crossed = false;  // for a row not live: with "block" the bytes stay below the quota
};

namespace {

using nlohmann::json;

// Bad params are the caller's mistake: one line naming the field.
struct BadParams : std::runtime_error {
  using std::runtime_error::runtime_error;
};

json parse_params(Str params_json) {
  json params = json::parse(std::string_view(params_json.data, params_json.size), nullptr, false);
  if (params.is_discarded()) throw BadParams("params: expected a JSON object");
  if (params.is_null()) return json::object();
  if (!params.is_object()) throw BadParams("params: expected an object, got " + std::string(params.type_name()));
  return params;
}

std::optional<std::string> optional_string(const json& params, const char* name) {
  const auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw BadParams(std::string(name) + ": expected a string");
  return it->get<std::string>();
}

std::string required_string(const json& params, const char* name) {
  std::optional<std::string> value = optional_string(params, name);
  if (!value) throw BadParams(std::string(name) + ": required");
  return *value;
}

PublicKey key_param(const std::string& text) {
  const std::optional<PublicKey> key = parse_public_key(text);
  if (!key) throw BadParams("publicKey: expected a key of 52 base32 characters and \".k\", got \"" + text + "\"");
  return *key;
}

json counters_json(const UsageCounters& c) {
  return {{"bytesUp", c.bytes_up},
          {"bytesDown", c.bytes_down},
          {"billableBytes", c.billable_bytes},
          {"unbilledBytes", c.unbilled_bytes},
          {"amountMicros", c.amount_micros}};
}

json optional_number(const std::optional<std::uint64_t>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

bool BillingPlugin::is_period_label(std::string_view label) const {
  return std::any_of(plans_.begin(), plans_.end(), [&](const std::unique_ptr<PlanState>& p) {
    return period_by_label(config_.time_zone, p->plan.period, label).has_value();
  });
}

// Runs on the loop thread, over the ledger's read connection (WAL: it never waits for the
// ledger thread's commits, only for another read): an index lookup for one client, or the
// period's rows by the label index plus a scan of the clients table for every client. For
// a thousand clients that measured 2.5 ms warm and 18 ms cold (docs/operations.md), during
// which the loop carries no packets; only an operator's billing.usage PERIOD or
// billing.statement of a past period pays it.
std::vector<BillingPlugin::PeriodRow> BillingPlugin::period_rows(std::string_view label, const PublicKey* only) const {
  std::map<PublicKey, PeriodRow, KeyLess> rows;
  if (ledger_) {
    std::vector<PeriodTotals> totals;
    if (only != nullptr) {
      auto read = ledger_->totals(*only, label);
      if (!read.ok()) throw std::runtime_error(read.error);
      if (read.value) totals.push_back(std::move(*read.value));
    } else {
      auto read = ledger_->period(label);
      if (!read.ok()) throw std::runtime_error(read.error);
      totals = std::move(read.value);
    }
    bool need_plans = false;
    for (PeriodTotals& t : totals) {
      PeriodRow& r = rows[t.key];
      r.key = t.key;
      r.label = std::move(t.period_label);
      r.start_s = t.period_start_s;
      r.end_s = t.period_end_s;
      r.counters = t.counters;
      r.quota_crossed = t.quota_crossed;
      need_plans = true;
    }
    // A period the plugin holds no longer: the plan the ledger recorded last.
    if (need_plans) {
      const auto records = ledger_->clients();
      if (records.ok()) {
        for (const ClientRecord& record : records.value) {
          if (auto it = rows.find(record.key); it != rows.end()) it->second.plan = record.plan;
        }
      }
    }
  }
  // The plugin's own figures win: they hold what the ledger has not been sent yet.
  for (const auto& entry : clients_) {
    const Client& c = entry.second;
    if (only != nullptr && std::memcmp(only->bytes, c.key.bytes, sizeof c.key.bytes) != 0) continue;
    if (c.period.label == label) {
      PeriodRow& r = rows[c.key];
      r.key = c.key;
      r.plan = c.plan->plan.name;
      r.label = c.period.label;
      r.start_s = c.period.start_s;
      r.end_s = c.period.end_s;
      r.counters = to_counters(c.meter.usage());
      r.live = &c;
      r.dropped = c.dropped_quota + c.dropped_queue;
    } else if (c.past && c.past->period.label == label) {
      PeriodRow& r = rows[c.key];
      r.key = c.key;
      r.plan = c.past->plan;
      r.label = c.past->period.label;
      r.start_s = c.past->period.start_s;
      r.end_s = c.past->period.end_s;
      r.counters = c.past->counters;
      r.dropped = c.past->dropped;
      r.quota_crossed = c.past->quota_crossed;
    } else if (auto it = rows.find(c.key); it != rows.end() && it->second.plan.empty()) {
      it->second.plan = c.plan->plan.name;
    }
  }
  std::vector<PeriodRow> out;
  out.reserve(rows.size());
  for (auto& entry : rows) {
    if (entry.second.plan.empty()) entry.second.plan = plan_for(entry.first).plan.name;
    out.push_back(std::move(entry.second));
  }
  return out;
}

// params: {publicKey?, period?}. result: {clients: [{publicKey, plan, period, periodStart,
// periodEnd, bytesUp, bytesDown, packetsUp, packetsDown, billableBytes, unbilledBytes,
// amountMicros, currency, quotaBytes, quotaLeftBytes, state, action, rateUpBps,
// rateDownBps, droppedPackets}]}. Times are Unix seconds; currency, quotas and rates are
// null where the plan has none.
Status BillingPlugin::usage(Str params_json, StringSink* result) noexcept {
  try {
    const json params = parse_params(params_json);
    const std::optional<std::string> key_text = optional_string(params, "publicKey");
    const std::optional<std::string> label = optional_string(params, "period");
    std::optional<PublicKey> key;
    if (key_text) key = key_param(*key_text);
    if (label && !is_period_label(*label)) {
      throw BadParams("period: expected a label like \"2026-05\", \"2026-W19\" or \"2026-05-03\", got \"" + *label + "\"");
    }
    if (!ledger_) return Status::error(StatusCode::unavailable, "billing has not started");

    // The current period, from memory: every client with totals in it has a record (start()
    // loads the ledger's current periods, a period change loads the new one's).
    auto live_row = [](const Client& c) {
      PeriodRow r;
      r.key = c.key;
      r.plan = c.plan->plan.name;
      r.label = c.period.label;
      r.start_s = c.period.start_s;
      r.end_s = c.period.end_s;
      r.counters = to_counters(c.meter.usage());
      r.live = &c;
      r.dropped = c.dropped_quota + c.dropped_queue;
      return r;
    };
    const std::int64_t wall = wall_s(loop_->now_ns());
    bool current_label = false;
    if (label) {
      for (const auto& p : plans_) {
        if (period_at(config_.time_zone, p->plan.period, wall).label == *label) current_label = true;
      }
    }
    std::vector<PeriodRow> rows;
    if (label && !current_label) {
      rows = period_rows(*label, key ? &*key : nullptr);  // a past (or future) period: the ledger's
    } else if (key) {
      if (const auto it = clients_.find(*key); it != clients_.end()) {
        if (!label || it->second.period.label == *label) rows.push_back(live_row(it->second));
      } else {
        // No record: nothing used in its current period.
        const PlanState& plan = plan_for(*key);
        const Period current = period_at(config_.time_zone, plan.plan.period, wall);
        if (!label || current.label == *label) {
          PeriodRow r;
          r.key = *key;
          r.plan = plan.plan.name;
          r.label = current.label;
          r.start_s = current.start_s;
          r.end_s = current.end_s;
          rows.push_back(std::move(r));
        }
      }
    } else {
      for (const auto& entry : clients_) {
        if (!label || entry.second.period.label == *label) rows.push_back(live_row(entry.second));
      }
    }

    json clients = json::array();
    for (const PeriodRow& r : rows) {
      const PlanState* plan_state = r.live != nullptr ? r.live->plan : find_plan(r.plan);
      if (plan_state == nullptr) plan_state = &plan_for(r.key);
      const Plan& plan = plan_state->plan;
      const std::optional<std::uint64_t> quota = plan.quota_bytes;
      bool over = false;
      std::optional<std::uint64_t> left;
      std::optional<std::uint64_t> rate[2];
      if (r.live != nullptr) {
        over = quota && r.live->meter.quota().over();
        if (quota) left = r.live->meter.quota().left_bytes();
        for (std::size_t d = 0; d < 2; ++d) {
          if (r.live->limited[d]) rate[d] = r.live->shaper[d].rate_bps();
        }
      } else {
        // A period that is over, or a client with no record: the recorded crossing decides
        // (meter.hpp's rule: billable == quota is not over, the totals alone never are).
        over = quota && r.quota_crossed;
        if (quota) left = over ? 0 : *quota - std::min(*quota, r.counters.billable_bytes);
        rate[kUp] = plan.rate_limit.up_bps;
        rate[kDown] = plan.rate_limit.down_bps;
      }
      const char* action = !over ? "pass" : plan.over_quota.action == OverQuotaAction::throttle ? "throttle" : "block";
      json entry = {{"publicKey", format_public_key(r.key)},
                    {"plan", r.plan},
                    {"period", r.label},
                    {"periodStart", r.start_s},
                    {"periodEnd", r.end_s},
                    {"bytesUp", r.counters.bytes_up},
                    {"bytesDown", r.counters.bytes_down},
                    {"packetsUp", r.counters.packets_up},
                    {"packetsDown", r.counters.packets_down},
                    {"billableBytes", r.counters.billable_bytes},
                    {"unbilledBytes", r.counters.unbilled_bytes},
                    {"amountMicros", r.counters.amount_micros},
                    {"currency", plan.price ? json(plan.price->currency) : json(nullptr)},
                    {"quotaBytes", optional_number(quota)},
                    {"quotaLeftBytes", optional_number(left)},
                    {"state", over ? "over" : "under"},
                    {"action", action},
                    {"rateUpBps", optional_number(rate[kUp])},
                    {"rateDownBps", optional_number(rate[kDown])},
                    {"droppedPackets", r.dropped}};
      clients.push_back(std::move(entry));
    }
    const std::string text = json{{"clients", std::move(clients)}}.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const BadParams& e) {
    return host_->fail(StatusCode::invalid_argument, Str(e.what()));
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: {period, format?: "json" | "csv"}. result (json): {period, currency?, clients:
// [{publicKey, plan, bytesUp, bytesDown, billableBytes, unbilledBytes, amountMicros}],
// totals: {the same, summed}}; currency only when every client's plan has the same one.
// result (csv): {period, csv}, whose last line "total,,…" holds the column sums.
Status BillingPlugin::statement(Str params_json, StringSink* result) noexcept {
  try {
    const json params = parse_params(params_json);
    const std::string label = required_string(params, "period");
    const std::string format = optional_string(params, "format").value_or("json");
    if (format != "json" && format != "csv") throw BadParams("format: expected \"json\" or \"csv\", got \"" + format + "\"");
    if (!is_period_label(label)) {
      throw BadParams("period: expected a label like \"2026-05\", \"2026-W19\" or \"2026-05-03\", got \"" + label + "\"");
    }
    if (!ledger_) return Status::error(StatusCode::unavailable, "billing has not started");

    const std::vector<PeriodRow> rows = period_rows(label, nullptr);
    UsageCounters totals;
    std::set<std::string> currencies;
    bool unpriced = false;
    for (const PeriodRow& r : rows) {
      totals += r.counters;
      const PlanState* p = r.live != nullptr ? r.live->plan : find_plan(r.plan);
      if (p != nullptr && p->plan.price) {
        currencies.insert(p->plan.price->currency);
      } else {
        unpriced = true;
      }
    }
    json out = {{"period", label}};
    if (format == "csv") {
      std::string csv = "publicKey,plan,bytes_up,bytes_down,billable_bytes,unbilled_bytes,amount_micros\n";
      auto line = [&csv](const std::string& key, const std::string& plan, const UsageCounters& c) {
        csv += key + "," + plan + "," + std::to_string(c.bytes_up) + "," + std::to_string(c.bytes_down) + "," +
               std::to_string(c.billable_bytes) + "," + std::to_string(c.unbilled_bytes) + "," +
               std::to_string(c.amount_micros) + "\n";
      };
      for (const PeriodRow& r : rows) line(format_public_key(r.key), r.plan, r.counters);
      line("total", "", totals);
      out["csv"] = std::move(csv);
    } else {
      if (currencies.size() == 1 && !unpriced) out["currency"] = *currencies.begin();
      json clients = json::array();
      for (const PeriodRow& r : rows) {
        json entry = counters_json(r.counters);
        entry["publicKey"] = format_public_key(r.key);
        entry["plan"] = r.plan;
        clients.push_back(std::move(entry));
      }
      out["clients"] = std::move(clients);
      out["totals"] = counters_json(totals);
    }
    const std::string text = out.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const BadParams& e) {
    return host_->fail(StatusCode::invalid_argument, Str(e.what()));
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: {publicKey, plan}. Holds the client to `plan` from now on, for this run (the
// config's allowedConnections entry is what a restart applies). result: {publicKey, plan}.
Status BillingPlugin::set_plan(Str params_json, StringSink* result) noexcept {
  try {
    const json params = parse_params(params_json);
    const std::string key_text = required_string(params, "publicKey");
    const PublicKey key = key_param(key_text);
    const std::string name = required_string(params, "plan");
    const PlanState* plan = find_plan(name);
    if (plan == nullptr) {
      std::string names;
      for (const auto& p : plans_) names += (names.empty() ? "" : ", ") + p->plan.name;
      throw BadParams("plan: unknown plan \"" + name + "\"; the plans are " + names);
    }
    plan_overrides_[key] = name;
    if (Client* c = find_client(key)) {
      const std::uint64_t now = loop_->now_ns();
      apply_plan(*c, *plan, wall_s(now), now);
    }
    log(LogLevel::info, "client " + format_public_key(key) + " is on plan \"" + name + "\" (billing.setPlan)");
    const std::string text = json{{"publicKey", format_public_key(key)}, {"plan", name}}.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const BadParams& e) {
    return host_->fail(StatusCode::invalid_argument, Str(e.what()));
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: none. result: {flushSeq, flushIntervalMs, timeZone, clients, ledger, lastError,
// hourlyRetentionDays, prunedHourlyRows, unmeteredPackets, ledgerReads}: the ledger's flush sequence
// number (it survives restarts), the clients known in this run, the database file, the
// ledger thread's last error ("" for none), the hourly buckets pruned in this run, and the
// packets carried unmetered (no pending slot for a new key, or out of memory), and the
// database reads admin calls made on the loop thread. From memory.
Status BillingPlugin::status(Str, StringSink* result) noexcept {
  try {
    std::string last_error;
    {
      std::lock_guard lock(errors_mutex_);
      last_error = last_error_;
    }
    const std::uint64_t seq = ledger_ ? ledger_->flush_seq() : flushed_seq_.load(std::memory_order_acquire);
    const std::string text = json{{"flushSeq", seq},
                                  {"flushIntervalMs", config_.flush_interval_ms},
                                  {"timeZone", config_.time_zone_name},
                                  {"clients", clients_.size()},
                                  {"ledger", ledger_path_},
                                  {"lastError", last_error},
                                  {"hourlyRetentionDays", config_.hourly_retention_days},
                                  {"prunedHourlyRows", pruned_rows_.load(std::memory_order_relaxed)},
                                  {"unmeteredPackets", unmetered_packets_},
                                  {"ledgerReads", ledger_ ? ledger_->read_count() : 0}}
                                 .dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

}  // namespace mh::billing
