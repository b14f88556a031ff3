// The billing plugin's config (DESIGN §7, issue 6): the gateway's time zone, how often the
// ledger is flushed, and the plans clients are held to. Parsing and checking only.
#pragma once

#include "period.hpp"
#include "time_zone.hpp"

#include <ip_block.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mh::billing {

// DESIGN §7: a GB is 10^9 bytes of inner IP packets; money is integer micro-units.
inline constexpr std::uint64_t kBytesPerGb = 1'000'000'000;
inline constexpr std::uint64_t kMicroUnitsPerUnit = 1'000'000;

// `kill -9` loses at most one interval of usage; the ledger thread writes once per interval.
inline constexpr std::uint32_t kDefaultFlushIntervalMs = 10'000;
inline constexpr std::uint32_t kMinFlushIntervalMs = 100;
inline constexpr std::uint32_t kMaxFlushIntervalMs = 600'000;

// Hourly buckets older than this many days are deleted (per-period totals are kept for
// good): 400 days keeps a year and a month of hourly detail, about 9 MB per client that is
// busy every hour at ~100 bytes a row (SQLite's WITHOUT ROWID rows plus the key's text).
inline constexpr std::uint32_t kDefaultHourlyRetentionDays = 400;
inline constexpr std::uint32_t kMinHourlyRetentionDays = 1;
inline constexpr std::uint32_t kMaxHourlyRetentionDays = 36'600;  // a hundred years

// Below 8 kbit/s (1 kB/s) one full-size packet waits more than a second: the shaper would
// stall connections rather than slow them. The ceiling, 1 Tbit/s, is above any uplink a
// gateway has: a larger number is a typo.
inline constexpr std::uint64_t kMinRateBps = 8'000;
inline constexpr std::uint64_t kMaxRateBps = 1'000'000'000'000;
// A million currency units per GB: more than any real price, and amounts of a 64-bit byte
// count stay inside 128-bit arithmetic.
inline constexpr std::uint64_t kMaxPricePerGbMicros = 1'000'000 * kMicroUnitsPerUnit;
// Plan names appear in admin commands, statements and metric labels.
// 32: what an account report carries to the client (AccountReport::plan, account.hpp).
inline constexpr std::size_t kMaxPlanNameBytes = 32;
// Free prefixes are matched on every billed packet; a community's own services are a few.
inline constexpr std::size_t kMaxFreePrefixes = 256;
inline constexpr std::size_t kCurrencyCodeSize = 3;  // ISO 4217 alphabetic code

// Either direction may be unlimited (nullopt).
struct RateLimit {
  std::optional<std::uint64_t> up_bps;    // client → Internet
  std::optional<std::uint64_t> down_bps;  // Internet → client
};

enum class OverQuotaAction : std::uint8_t { block, throttle };

struct OverQuota {
  OverQuotaAction action = OverQuotaAction::block;
  std::uint64_t throttle_bps = 0;  // with throttle: both directions at most this rate
};

struct Price {
  std::uint64_t per_gb_micros = 0;  // micro-units of `currency` per kBytesPerGb billable bytes
  std::string currency;            // "EUR": three capital letters (not checked against the ISO list)
};

struct Plan {
  std::string name;
  std::optional<std::uint64_t> quota_bytes;  // billable bytes per period; nullopt for none
  PeriodRule period;                          // default: month from the 1st
  RateLimit rate_limit;
  OverQuota over_quota;  // meaningful only with quota_bytes
  std::optional<Price> price;
  // Destinations (upstream) and sources (downstream) whose traffic is not billed, host
  // bits cleared.
  std::vector<iptunnel::IpBlock> free_prefixes;
};

struct BillingConfig {
  // The zone periods follow. Absent in the config: UTC built in, needing no tzdata.
  std::string time_zone_name = "UTC";
  TimeZone time_zone = TimeZone::utc();
  std::uint32_t flush_interval_ms = kDefaultFlushIntervalMs;
  std::uint32_t hourly_retention_days = kDefaultHourlyRetentionDays;
  std::vector<Plan> plans;  // by name, in name order
  std::string default_plan;  // names one of `plans`

  // nullptr when no plan has that name.
  const Plan* find_plan(std::string_view name) const noexcept;
};

// Parses and checks the plugin's config object (comments allowed); every problem goes to
// `errors` with its JSON path ("plans.basic.rateLimit.upBps"), and the result is nullopt
// if there was any. Unknown keys are errors. A timeZone is read from kZoneInfoDir (file
// I/O, so at config time only): it must name a TZif file there.
std::optional<BillingConfig> parse_billing_config(Str config_json, ErrorSink* errors);

}  // namespace mh::billing
