// Which billing period an instant falls in: local calendar arithmetic on the first day of
// the period, and the reset rule of period.hpp to turn that day into Unix seconds.
#include "period.hpp"

#include <algorithm>
#include <chrono>

namespace mh::billing {

namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr std::int64_t kSecondsPerDay = 86'400;
constexpr int kDaysPerWeek = 7;
constexpr unsigned kIsoThursday = 4;
constexpr unsigned kIsoWeek1Anchor = 4;  // ISO week 1 is the week holding January 4

// Labels: "2026-12", "2026-W49", "2026-12-01".
constexpr std::size_t kYearDigits = 4;
constexpr std::size_t kMonthDigits = 2;
constexpr std::size_t kWeekDigits = 2;
constexpr std::size_t kDayDigits = 2;
constexpr std::size_t kLongestLabel = kYearDigits + 1 + kMonthDigits + 1 + kDayDigits;

sys_days local_day(const TimeZone& zone, std::int64_t unix_s) {
  const std::int64_t local_s = zone.to_local_s(unix_s);
  return sys_days{days{local_s / kSecondsPerDay - (local_s % kSecondsPerDay < 0 ? 1 : 0)}};
}

// The reset rule: the first instant at or after the day's local midnight.
std::int64_t start_of(const TimeZone& zone, sys_days day) {
  return zone.first_instant_at_or_after(day.time_since_epoch().count() * kSecondsPerDay);
}

std::uint8_t reset_day_of(const PeriodRule& rule) noexcept {
  switch (rule.kind) {
    case PeriodKind::day:
      return 1;
    case PeriodKind::week:
      return std::clamp(rule.reset_day, kMinWeekResetDay, kMaxWeekResetDay);
    case PeriodKind::month:
      break;
  }
  return std::clamp(rule.reset_day, kMinMonthResetDay, kMaxMonthResetDay);
}

// The first day of the period holding local day `day`.
sys_days first_day(const PeriodRule& rule, sys_days day) {
  const unsigned reset = reset_day_of(rule);
  switch (rule.kind) {
    case PeriodKind::day:
      return day;
    case PeriodKind::week: {
      const unsigned weekday = std::chrono::weekday{day}.iso_encoding();
      return day - days{(weekday + kDaysPerWeek - reset) % kDaysPerWeek};
    }
    case PeriodKind::month:
      break;
  }
  const year_month_day date{day};
  auto month = date.year() / date.month();
  if (static_cast<unsigned>(date.day()) < reset) month -= std::chrono::months{1};
  return sys_days{month / std::chrono::day{reset}};
}

sys_days next_first_day(const PeriodRule& rule, sys_days first) {
  switch (rule.kind) {
    case PeriodKind::day:
      return first + days{1};
    case PeriodKind::week:
      return first + days{kDaysPerWeek};
    case PeriodKind::month:
      break;
  }
  // The reset day is at most 28, so a month on is always a real date.
  return sys_days{year_month_day{first} + std::chrono::months{1}};
}

// ISO 8601: a week belongs to the year of its Thursday.
void iso_week(sys_days day, int* week_year, unsigned* week) {
  const unsigned weekday = std::chrono::weekday{day}.iso_encoding();
  const sys_days thursday = day + days{kIsoThursday} - days{weekday};
  const std::chrono::year year = year_month_day{thursday}.year();
  *week_year = static_cast<int>(year);
  *week = static_cast<unsigned>((thursday - sys_days{year / std::chrono::January / 1}).count() / kDaysPerWeek) + 1;
}

sys_days iso_week_monday(std::chrono::year year, unsigned week) {
  const sys_days anchor{year / std::chrono::January / kIsoWeek1Anchor};
  const sys_days monday1 = anchor - days{std::chrono::weekday{anchor}.iso_encoding() - 1};
  return monday1 + days{kDaysPerWeek * (static_cast<int>(week) - 1)};
}

// `value` in decimal, zero-padded to `width` digits.
void append_number(std::string* out, unsigned value, std::size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) out->append(width - digits.size(), '0');
  out->append(digits);
}

std::string label_of(PeriodKind kind, sys_days first) {
  const year_month_day date{first};
  std::string label;
  label.reserve(kLongestLabel);
  if (kind == PeriodKind::week) {
    int week_year = 0;
    unsigned week = 0;
    iso_week(first, &week_year, &week);
    append_number(&label, static_cast<unsigned>(week_year), kYearDigits);
    label += "-W";
    append_number(&label, week, kWeekDigits);
    return label;
  }
  // Years are 1 to 9999: the instants are clamped to kMinUnixS…kMaxUnixS.
  append_number(&label, static_cast<unsigned>(static_cast<int>(date.year())), kYearDigits);
  label += '-';
  append_number(&label, static_cast<unsigned>(date.month()), kMonthDigits);
  if (kind == PeriodKind::day) {
    label += '-';
    append_number(&label, static_cast<unsigned>(date.day()), kDayDigits);
  }
  return label;
}

// Reads a label's fields left to right: fixed-width numbers and the separators between.
class LabelReader {
 public:
  explicit LabelReader(std::string_view text) : text_(text) {}

  bool number(std::size_t width, unsigned* out) noexcept {
    if (text_.size() < width) return false;
    unsigned value = 0;
    for (char c : text_.substr(0, width)) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    text_.remove_prefix(width);
    *out = value;
    return true;
  }
  bool literal(std::string_view expected) noexcept {
    if (text_.substr(0, expected.size()) != expected) return false;
    text_.remove_prefix(expected.size());
    return true;
  }
  bool done() const noexcept { return text_.empty(); }

 private:
  std::string_view text_;
};

Period period_from(const TimeZone& zone, const PeriodRule& rule, sys_days first) {
  const sys_days next = next_first_day(rule, first);
  return Period{start_of(zone, first), start_of(zone, next), label_of(rule.kind, first)};
}

}  // namespace

std::string_view period_kind_name(PeriodKind kind) noexcept {
  switch (kind) {
    case PeriodKind::day:
      return "day";
    case PeriodKind::week:
      return "week";
    case PeriodKind::month:
      break;
  }
  return "month";
}

std::optional<PeriodKind> parse_period_kind(std::string_view name) noexcept {
  for (PeriodKind kind : {PeriodKind::day, PeriodKind::week, PeriodKind::month}) {
    if (name == period_kind_name(kind)) return kind;
  }
  return std::nullopt;
}

Period period_at(const TimeZone& zone, const PeriodRule& rule, std::int64_t unix_s) {
  const std::int64_t t = std::clamp(unix_s, kMinUnixS, kMaxUnixS);
  sys_days first = first_day(rule, local_day(zone, t));
  Period period = period_from(zone, rule, first);
  // The local day at `t` is on or after `first`, so period.start_s <= t. It can be one
  // before the period `t` is in only where a fall-back crosses midnight (the clock shows
  // yesterday again after the new day began); step on until the period holds `t`. One
  // step does it; the bound only keeps the clamped ends of the range from looping.
  constexpr int kMaxSteps = 2;
  for (int step = 0; step < kMaxSteps && t >= period.end_s; ++step) {
    first = next_first_day(rule, first);
    period = period_from(zone, rule, first);
  }
  return period;
}

std::optional<Period> period_by_label(const TimeZone& zone, const PeriodRule& rule, std::string_view label) {
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  unsigned week = 0;
  std::optional<sys_days> first;
  LabelReader in(label);
  switch (rule.kind) {
    case PeriodKind::day:
      if (in.number(kYearDigits, &year) && in.literal("-") && in.number(kMonthDigits, &month) && in.literal("-") &&
          in.number(kDayDigits, &day) && in.done()) {
        const year_month_day date{std::chrono::year{static_cast<int>(year)}, std::chrono::month{month},
                                  std::chrono::day{day}};
        if (date.ok()) first = sys_days{date};
      }
      break;
    case PeriodKind::week:
      if (in.number(kYearDigits, &year) && in.literal("-W") && in.number(kWeekDigits, &week) && in.done() &&
          week >= 1) {
        first = iso_week_monday(std::chrono::year{static_cast<int>(year)}, week) + days{reset_day_of(rule) - 1};
      }
      break;
    case PeriodKind::month:
      if (in.number(kYearDigits, &year) && in.literal("-") && in.number(kMonthDigits, &month) && in.done() &&
          std::chrono::month{month}.ok()) {
        first = sys_days{std::chrono::year{static_cast<int>(year)} / std::chrono::month{month} /
                         std::chrono::day{reset_day_of(rule)}};
      }
      break;
  }
  if (!first) return std::nullopt;
  Period period = period_from(zone, rule, *first);
  // A week past the year's last ("2025-W53", 2025 having 52) lands in the next year; the
  // label it gives back then differs, and so the label named no period.
  if (period.label != label) return std::nullopt;
  return period;
}

}  // namespace mh::billing
