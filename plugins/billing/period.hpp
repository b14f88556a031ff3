// Billing periods (DESIGN §7): the day, week or month an instant is billed in, in the
// gateway's time zone, as Unix-second bounds and the label the ledger and statements use.
#pragma once

// A period starts at the reset's local midnight (00:00 on its first day). When a DST change
// makes that midnight skipped or repeated, the rule is: a period starts at the first instant
// whose local time is at or after the reset's local midnight. So a skipped midnight
// (America/Santiago springs from 24:00 to 01:00) starts the period at the first valid local
// time after it, 01:00; a repeated one (America/Havana falls back from 01:00 to 00:00)
// starts it at its first occurrence. Periods therefore tile time with no gap or overlap,
// and a day period lasts 23 to 25 hours where DST changes.
//
// Pure: no clock, no TZ variable. Time comes in as Unix seconds; the zone is a TimeZone
// value read once at config time.

#include "time_zone.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mh::billing {

enum class PeriodKind : std::uint8_t { day, week, month };

// A month resets on day 1 to 28: every month has those days, so each period is exactly one
// calendar month from the same day number, with no rule needed for "the 31st" in April or
// "the 29th" in February.
inline constexpr std::uint8_t kMinMonthResetDay = 1;
inline constexpr std::uint8_t kMaxMonthResetDay = 28;
// A week resets on an ISO weekday: 1 = Monday … 7 = Sunday.
inline constexpr std::uint8_t kMinWeekResetDay = 1;
inline constexpr std::uint8_t kMaxWeekResetDay = 7;

struct PeriodRule {
  PeriodKind kind = PeriodKind::month;
  // month: the day of the month a period starts on; week: the ISO weekday; day: unused.
  // Out of range it is clamped (the config never yields one).
  std::uint8_t reset_day = 1;

  friend bool operator==(const PeriodRule&, const PeriodRule&) = default;
};

struct Period {
  std::int64_t start_s = 0;  // Unix seconds, the first instant of the period
  std::int64_t end_s = 0;    // the first instant after it: the next period's start_s
  // Names the period by its first local day, stable across restarts and zone-data updates
  // that do not move that day: month "2026-12", week "2026-W49" (the ISO week-year and
  // week holding the first day; with reset day 1 the period is that ISO week), day
  // "2026-12-01".
  std::string label;

  friend bool operator==(const Period&, const Period&) = default;
};

// "day", "week", "month" — the config's and the admin API's words.
std::string_view period_kind_name(PeriodKind kind) noexcept;
std::optional<PeriodKind> parse_period_kind(std::string_view name) noexcept;

// The period holding `unix_s` (clamped to years 0001–9999).
Period period_at(const TimeZone& zone, const PeriodRule& rule, std::int64_t unix_s);

// The period a label names under `rule`, for `billing.statement PERIOD`; nullopt when the
// label is not one period_at could give ("2026-13", "2026-W53" in a 52-week year).
std::optional<Period> period_by_label(const TimeZone& zone, const PeriodRule& rule, std::string_view label);

}  // namespace mh::billing
