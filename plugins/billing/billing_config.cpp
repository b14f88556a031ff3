// Reading the billing config object: plans, the time zone, the flush interval (DESIGN §7).
#include "billing_config.hpp"

#include <link_driver_config.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

namespace mh::billing {

namespace {

using nlohmann::json;
using link_common::describe_found;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

template <std::size_t N>
bool is_one_of(const std::string& key, const char* const (&keys)[N]) {
  return std::any_of(std::begin(keys), std::end(keys), [&](const char* k) { return key == k; });
}

// Reports every key of `object` not in `keys`; false if there was one.
template <std::size_t N>
bool known_keys_only(const json& object, const char* const (&keys)[N], const std::string& prefix,
                     const std::string& listing, ErrorSink* errors) {
  bool valid = true;
  for (const auto& item : object.items()) {
    if (!is_one_of(item.key(), keys)) {
      report(errors, prefix + item.key(), listing, "an unknown key");
      valid = false;
    }
  }
  return valid;
}

// An unsigned integer in [lo, hi] at `value`; false (reported at `path`) otherwise.
bool read_uint(const json& value, const std::string& path, const std::string& expected, std::uint64_t lo,
               std::uint64_t hi, std::uint64_t* out, ErrorSink* errors) {
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() < lo || value.get<std::uint64_t>() > hi) {
    report(errors, path, expected, describe_found(value));
    return false;
  }
  *out = value.get<std::uint64_t>();
  return true;
}

std::string rate_expected() {
  return "a rate in bits/s from " + std::to_string(kMinRateBps) + " to " + std::to_string(kMaxRateBps);
}

bool read_rate(const json& value, const std::string& path, std::uint64_t* out, ErrorSink* errors) {
  return read_uint(value, path, rate_expected(), kMinRateBps, kMaxRateBps, out, errors);
}

bool is_plan_name(const std::string& name) {
  return !name.empty() && name.size() <= kMaxPlanNameBytes && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
         });
}

bool read_time_zone(const json& value, BillingConfig* config, ErrorSink* errors) {
  const std::string expected = "an IANA time zone like \"Europe/Berlin\" (a TZif file under " +
                               std::string(kZoneInfoDir) + ")";
  if (!value.is_string()) {
    report(errors, "timeZone", expected, describe_found(value));
    return false;
  }
  const std::string name = value.get<std::string>();
  std::string problem;
  auto zone = TimeZone::load(name, &problem);
  if (!zone) {
    report(errors, "timeZone", expected, describe_found(value) + " (" + problem + ")");
    return false;
  }
  config->time_zone_name = name;
  config->time_zone = std::move(*zone);
  return true;
}

bool read_period(const json& entry, const std::string& path, PeriodRule* out, ErrorSink* errors) {
  if (auto it = entry.find("period"); it != entry.end()) {
    std::optional<PeriodKind> kind;
    if (it->is_string()) kind = parse_period_kind(it->get<std::string>());
    if (!kind) {
      report(errors, path + ".period", "\"day\", \"week\" or \"month\"", describe_found(*it));
      return false;
    }
    out->kind = *kind;
  }
  auto it = entry.find("resetDay");
  if (it == entry.end()) return true;
  std::uint64_t day = 0;
  bool valid = false;
  switch (out->kind) {
    case PeriodKind::day:
      report(errors, path + ".resetDay", "resetDay only with period \"week\" or \"month\"", "period \"day\"");
      return false;
    case PeriodKind::week:
      valid = read_uint(*it, path + ".resetDay", "an ISO weekday from 1 (Monday) to 7 (Sunday)", kMinWeekResetDay,
                        kMaxWeekResetDay, &day, errors);
      break;
    case PeriodKind::month:
      valid = read_uint(*it, path + ".resetDay",
                        "a day of the month from 1 to 28 (every month has it; later days would need a rule for "
                        "short months)",
                        kMinMonthResetDay, kMaxMonthResetDay, &day, errors);
      break;
  }
  if (valid) out->reset_day = static_cast<std::uint8_t>(day);
  return valid;
}

bool read_rate_limit(const json& value, const std::string& path, RateLimit* out, ErrorSink* errors) {
  if (!value.is_object()) {
    report(errors, path, "an object like {\"upBps\": 1000000, \"downBps\": 8000000}", describe_found(value));
    return false;
  }
  static const char* const kKeys[] = {"upBps", "downBps"};
  bool valid = known_keys_only(value, kKeys, path + ".", "upBps or downBps", errors);
  std::uint64_t bps = 0;
  if (auto it = value.find("upBps"); it != value.end()) {
    if (read_rate(*it, path + ".upBps", &bps, errors)) out->up_bps = bps;
    else valid = false;
  }
  if (auto it = value.find("downBps"); it != value.end()) {
    if (read_rate(*it, path + ".downBps", &bps, errors)) out->down_bps = bps;
    else valid = false;
  }
  return valid;
}

bool read_over_quota(const json& value, const std::string& path, OverQuota* out, ErrorSink* errors) {
  const std::string expected = "\"block\" or {\"throttleBps\": bits/s}";
  if (value.is_string() && value.get<std::string>() == "block") {
    out->action = OverQuotaAction::block;
    return true;
  }
  if (!value.is_object() || !value.contains("throttleBps")) {
    report(errors, path, expected, describe_found(value));
    return false;
  }
  static const char* const kKeys[] = {"throttleBps"};
  bool valid = known_keys_only(value, kKeys, path + ".", "throttleBps", errors);
  std::uint64_t bps = 0;
  if (!read_rate(value["throttleBps"], path + ".throttleBps", &bps, errors)) return false;
  out->action = OverQuotaAction::throttle;
  out->throttle_bps = bps;
  return valid;
}

bool read_price(const json& value, const std::string& path, std::optional<Price>* out, ErrorSink* errors) {
  if (!value.is_object() || !value.contains("perGB") || !value.contains("currency")) {
    report(errors, path, "an object like {\"perGB\": 500000, \"currency\": \"EUR\"}", describe_found(value));
    return false;
  }
  static const char* const kKeys[] = {"perGB", "currency"};
  bool valid = known_keys_only(value, kKeys, path + ".", "perGB or currency", errors);
  Price price;
  valid = read_uint(value["perGB"], path + ".perGB",
                    "micro-units of currency per 10^9 bytes, an integer from 0 to " +
                        std::to_string(kMaxPricePerGbMicros),
                    0, kMaxPricePerGbMicros, &price.per_gb_micros, errors) &&
          valid;
  const json& currency = value["currency"];
  if (currency.is_string()) price.currency = currency.get<std::string>();
  const bool code =
      price.currency.size() == kCurrencyCodeSize &&
      std::all_of(price.currency.begin(), price.currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!code) {
    report(errors, path + ".currency", "an ISO 4217 code of three capital letters, like \"EUR\"",
           describe_found(currency));
    valid = false;
  }
  if (valid) *out = price;
  return valid;
}

bool read_free_prefixes(const json& value, const std::string& path, std::vector<iptunnel::IpBlock>* out,
                        ErrorSink* errors) {
  if (!value.is_array() || value.size() > kMaxFreePrefixes) {
    report(errors, path, "an array of at most " + std::to_string(kMaxFreePrefixes) + " blocks like \"10.0.0.0/8\"",
           describe_found(value));
    return false;
  }
  bool valid = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::optional<iptunnel::IpBlock> block;
    if (value[i].is_string()) block = iptunnel::parse_block(value[i].get<std::string>());
    if (!block) {
      report(errors, path + "[" + std::to_string(i) + "]", "an IPv4 or IPv6 block like \"10.0.0.0/8\" or \"fc00::/8\"",
             describe_found(value[i]));
      valid = false;
      continue;
    }
    // As the iptunnel pools do: "10.1.2.3/8" means 10.0.0.0/8.
    block->address = iptunnel::network_of(*block);
    out->push_back(*block);
  }
  return valid;
}

bool read_plan(const std::string& name, const json& entry, Plan* plan, ErrorSink* errors) {
  const std::string path = "plans." + name;
  if (!is_plan_name(name)) {
    report(errors, path,
           "a plan name of 1 to " + std::to_string(kMaxPlanNameBytes) + " letters, digits, '_', '-' or '.'",
           describe_found(json(name)));
    return false;
  }
  if (!entry.is_object()) {
    report(errors, path, "an object like {\"quotaBytes\": 50000000000, \"period\": \"month\"}", describe_found(entry));
    return false;
  }
  plan->name = name;
  static const char* const kKeys[] = {"quotaBytes", "period", "resetDay", "rateLimit",
                                      "overQuota", "price", "freePrefixes"};
  bool valid = known_keys_only(entry, kKeys, path + ".",
                               "quotaBytes, period, resetDay, rateLimit, overQuota, price or freePrefixes", errors);
  if (auto it = entry.find("quotaBytes"); it != entry.end()) {
    std::uint64_t quota = 0;
    if (read_uint(*it, path + ".quotaBytes", "a byte count, an integer from 0", 0,
                  std::numeric_limits<std::uint64_t>::max(), &quota, errors)) {
      plan->quota_bytes = quota;
    } else {
      valid = false;
    }
  }
  valid = read_period(entry, path, &plan->period, errors) && valid;
  if (auto it = entry.find("rateLimit"); it != entry.end()) {
    valid = read_rate_limit(*it, path + ".rateLimit", &plan->rate_limit, errors) && valid;
  }
  if (auto it = entry.find("overQuota"); it != entry.end()) {
    // Without a quota nothing is ever over it: the key would silently do nothing.
    if (!entry.contains("quotaBytes")) {
      report(errors, path + ".overQuota", "overQuota only together with quotaBytes", "no quotaBytes");
      valid = false;
    } else {
      valid = read_over_quota(*it, path + ".overQuota", &plan->over_quota, errors) && valid;
    }
  }
  if (auto it = entry.find("price"); it != entry.end()) {
    valid = read_price(*it, path + ".price", &plan->price, errors) && valid;
  }
  if (auto it = entry.find("freePrefixes"); it != entry.end()) {
    valid = read_free_prefixes(*it, path + ".freePrefixes", &plan->free_prefixes, errors) && valid;
  }
  return valid;
}

}  // namespace

const Plan* BillingConfig::find_plan(std::string_view name) const noexcept {
  auto it = std::find_if(plans.begin(), plans.end(), [&](const Plan& p) { return p.name == name; });
  return it == plans.end() ? nullptr : &*it;
}

std::optional<BillingConfig> parse_billing_config(Str config_json, ErrorSink* errors) {
  const json root = link_common::parse_config_json(config_json);
  if (root.is_discarded()) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (!root.is_object()) {
    report(errors, "", "an object with \"plans\" and \"defaultPlan\"", describe_found(root));
    return std::nullopt;
  }
  BillingConfig config;
  static const char* const kKeys[] = {"timeZone", "flushIntervalMs", "hourlyRetentionDays", "defaultPlan", "plans"};
  bool valid = known_keys_only(root, kKeys, "", "timeZone, flushIntervalMs, hourlyRetentionDays, defaultPlan or plans",
                               errors);
  if (auto it = root.find("timeZone"); it != root.end()) valid = read_time_zone(*it, &config, errors) && valid;
  if (auto it = root.find("flushIntervalMs"); it != root.end()) {
    std::uint64_t ms = 0;
    if (read_uint(*it, "flushIntervalMs",
                  "milliseconds from " + std::to_string(kMinFlushIntervalMs) + " to " +
                      std::to_string(kMaxFlushIntervalMs),
                  kMinFlushIntervalMs, kMaxFlushIntervalMs, &ms, errors)) {
      config.flush_interval_ms = static_cast<std::uint32_t>(ms);
    } else {
      valid = false;
    }
  }
  if (auto it = root.find("hourlyRetentionDays"); it != root.end()) {
    std::uint64_t days = 0;
    if (read_uint(*it, "hourlyRetentionDays",
                  "days from " + std::to_string(kMinHourlyRetentionDays) + " to " +
                      std::to_string(kMaxHourlyRetentionDays),
                  kMinHourlyRetentionDays, kMaxHourlyRetentionDays, &days, errors)) {
      config.hourly_retention_days = static_cast<std::uint32_t>(days);
    } else {
      valid = false;
    }
  }
  const auto plans = root.find("plans");
  if (plans == root.end() || !plans->is_object() || plans->empty()) {
    report(errors, "plans", "an object of at least one plan by name, like {\"basic\": {\"quotaBytes\": …}}",
           plans == root.end() ? "none" : plans->is_object() ? "an empty object" : describe_found(*plans));
    valid = false;
  } else {
    for (const auto& item : plans->items()) {
      Plan plan;
      if (read_plan(item.key(), item.value(), &plan, errors)) {
        config.plans.push_back(std::move(plan));
      } else {
        valid = false;
      }
    }
  }
  const auto default_plan = root.find("defaultPlan");
  if (default_plan == root.end() || !default_plan->is_string()) {
    report(errors, "defaultPlan", "the name of one of plans, for clients whose entry names none",
           default_plan == root.end() ? "none" : describe_found(*default_plan));
    valid = false;
  } else if (plans != root.end() && plans->is_object() && !plans->empty() &&
             !plans->contains(default_plan->get<std::string>())) {
    std::string names;
    for (const auto& item : plans->items()) names += (names.empty() ? "" : ", ") + item.key();
    report(errors, "defaultPlan", "one of plans (" + names + ")", describe_found(*default_plan));
    valid = false;
  } else {
    config.default_plan = default_plan->get<std::string>();
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::billing
