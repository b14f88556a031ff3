// Reading TZif files (RFC 8536) and POSIX TZ rules, and converting between UTC and one
// zone's local time with them.
#include "time_zone.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

namespace mh::billing {

namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;
constexpr std::int32_t kSecondsPerHour = 3'600;
constexpr std::int32_t kSecondsPerMinute = 60;
constexpr std::size_t kMaxZoneNameBytes = 255;

// POSIX offsets run to 24 h. RFC 8536 lets a change's time of day run to ±167 h (a week
// less an hour), so Santiago's "M9.1.6/24" is the end of the first Saturday of September.
constexpr int kMaxOffsetHours = 24;
constexpr int kMaxRuleTimeHours = 167;
constexpr std::int32_t kDefaultRuleTimeS = 2 * kSecondsPerHour;  // POSIX: changes at 02:00
constexpr std::int32_t kDefaultDstShiftS = kSecondsPerHour;      // POSIX: DST is one hour ahead
constexpr std::size_t kMinZoneAbbreviation = 3;                  // POSIX: at least three characters

// TZif layout (RFC 8536 §3): a 44-byte header, then the data block. Version 2+ files repeat
// header and block with 64-bit times, then a footer "\n<POSIX rule>\n".
constexpr std::size_t kTzifMagicSize = 4;
constexpr std::size_t kTzifHeaderSize = 4 + 1 + 15 + 6 * 4;  // magic, version, unused, six counts
constexpr std::size_t kTzifVersionOffset = 4;
constexpr std::size_t kTzifCountsOffset = 20;
constexpr std::size_t kTzifTypeSize = 4 + 1 + 1;  // utoff, isdst, desigidx
constexpr std::size_t kTzifV1TimeSize = 4;
constexpr std::size_t kTzifV2TimeSize = 8;
constexpr std::size_t kTzifLeapCorrectionSize = 4;

// Days since 1970-01-01 of a local seconds count, rounding towards the past.
std::int64_t days_of(std::int64_t local_s) noexcept {
  return local_s / kSecondsPerDay - (local_s % kSecondsPerDay < 0 ? 1 : 0);
}

std::chrono::year_month_day date_of(std::int64_t local_s) noexcept {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{days_of(local_s)}}};
}

std::int64_t days_since_epoch(std::chrono::year_month_day date) noexcept {
  return std::chrono::sys_days{date}.time_since_epoch().count();
}

// ---- POSIX TZ rules ----

class RuleReader {
 public:
  explicit RuleReader(std::string_view text) : text_(text) {}

  bool done() const noexcept { return pos_ == text_.size(); }
  bool peek(char c) const noexcept { return pos_ < text_.size() && text_[pos_] == c; }
  bool take(char c) noexcept {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }

  // "CET", or "<-04>" quoted where the abbreviation holds digits or signs.
  bool abbreviation() noexcept {
    const std::size_t start = pos_;
    if (take('<')) {
      while (pos_ < text_.size() && (is_alnum(text_[pos_]) || text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      const std::size_t length = pos_ - start - 1;
      return take('>') && length >= kMinZoneAbbreviation;
    }
    while (pos_ < text_.size() && is_alpha(text_[pos_])) ++pos_;
    return pos_ - start >= kMinZoneAbbreviation;
  }

  // [+-]hh[:mm[:ss]] with hh up to max_hours, as signed seconds.
  bool hms(int max_hours, std::int32_t* out) noexcept {
    const bool negative = take('-');
    if (!negative) take('+');
    int hours = 0;
    int minutes = 0;
    int seconds = 0;
    if (!number(0, max_hours, &hours)) return false;
    if (take(':')) {
      if (!number(0, 59, &minutes)) return false;
      if (take(':') && !number(0, 59, &seconds)) return false;
    }
    const std::int32_t total = hours * kSecondsPerHour + minutes * kSecondsPerMinute + seconds;
    *out = negative ? -total : total;
    return true;
  }

  // Jn, n or Mm.w.d, then an optional /time.
  bool date(PosixTzRule::Date* out) noexcept {
    using Form = PosixTzRule::Date::Form;
    int value = 0;
    if (take('J')) {
      out->form = Form::julian_no_leap;
      if (!number(1, 365, &value)) return false;
      out->day = static_cast<std::uint16_t>(value);
    } else if (take('M')) {
      out->form = Form::month_week_day;
      int week = 0;
      int weekday = 0;
      if (!number(1, 12, &value) || !take('.') || !number(1, 5, &week) || !take('.') || !number(0, 6, &weekday)) {
        return false;
      }
      out->month = static_cast<std::uint8_t>(value);
      out->week = static_cast<std::uint8_t>(week);
      out->weekday = static_cast<std::uint8_t>(weekday);
    } else {
      out->form = Form::zero_based;
      if (!number(0, 365, &value)) return false;
      out->day = static_cast<std::uint16_t>(value);
    }
    out->time_s = kDefaultRuleTimeS;
    return !take('/') || hms(kMaxRuleTimeHours, &out->time_s);
  }

 private:
  static bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool is_alnum(char c) noexcept { return is_alpha(c) || (c >= '0' && c <= '9'); }

  bool number(int lo, int hi, int* out) noexcept {
    const std::size_t start = pos_;
    int value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      value = value * 10 + (text_[pos_] - '0');
      if (value > hi) return false;
      ++pos_;
    }
    *out = value;
    return pos_ > start && value >= lo;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// The day (since the epoch) a rule date falls on in `year`.
std::int64_t rule_day(const PosixTzRule::Date& date, int year) noexcept {
  using namespace std::chrono;
  using Form = PosixTzRule::Date::Form;
  const std::int64_t jan1 = days_since_epoch(std::chrono::year{year} / January / 1);
  switch (date.form) {
    case Form::julian_no_leap: {
      constexpr int kFirstDayAfterFeb28 = 60;  // J60 is March 1 every year
      const bool skip_leap_day = std::chrono::year{year}.is_leap() && date.day >= kFirstDayAfterFeb28;
      return jan1 + date.day - 1 + (skip_leap_day ? 1 : 0);
    }
    case Form::zero_based:
      return jan1 + date.day;
    case Form::month_week_day:
      break;
  }
  constexpr unsigned kLastWeek = 5;
  const auto ym = std::chrono::year{year} / month{date.month};
  const weekday wd{date.weekday};
  const sys_days day = date.week == kLastWeek ? sys_days{ym / wd[last]} : sys_days{ym / wd[date.week]};
  return day.time_since_epoch().count();
}

// ---- TZif ----

std::uint32_t read_be32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | static_cast<std::uint32_t>(p[3]);
}

std::int64_t read_time(const std::uint8_t* p, std::size_t size) noexcept {
  if (size == kTzifV1TimeSize) return static_cast<std::int32_t>(read_be32(p));
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(read_be32(p)) << 32 | read_be32(p + 4));
}

struct TzifCounts {
  std::uint32_t isut = 0;
  std::uint32_t isstd = 0;
  std::uint32_t leap = 0;
  std::uint32_t time = 0;
  std::uint32_t type = 0;
  std::uint32_t chars = 0;

  std::size_t block_size(std::size_t time_size) const noexcept {
    return std::size_t{time} * time_size + time + std::size_t{type} * kTzifTypeSize + chars +
           std::size_t{leap} * (time_size + kTzifLeapCorrectionSize) + isstd + isut;
  }
};

bool read_header(std::span<const std::uint8_t> data, char* version, TzifCounts* counts) noexcept {
  static constexpr std::array<std::uint8_t, kTzifMagicSize> kMagic = {'T', 'Z', 'i', 'f'};
  if (data.size() < kTzifHeaderSize || !std::equal(kMagic.begin(), kMagic.end(), data.begin())) return false;
  *version = static_cast<char>(data[kTzifVersionOffset]);
  const std::uint8_t* c = data.data() + kTzifCountsOffset;
  *counts = TzifCounts{read_be32(c), read_be32(c + 4), read_be32(c + 8), read_be32(c + 12), read_be32(c + 16),
                       read_be32(c + 20)};
  return true;
}

}  // namespace

bool is_zone_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxZoneNameBytes || name.front() == '/') return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    const bool plain = std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '+' || c == '-';
    });
    if (!plain) return false;
    start = end + 1;
  }
  return true;
}

std::optional<PosixTzRule> parse_posix_tz_rule(std::string_view text) {
  RuleReader in(text);
  PosixTzRule rule;
  std::int32_t west_s = 0;
  if (!in.abbreviation() || !in.hms(kMaxOffsetHours, &west_s)) return std::nullopt;
  rule.std_offset_s = -west_s;
  if (in.done()) return rule;
  if (!in.abbreviation()) return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset_s = rule.std_offset_s + kDefaultDstShiftS;
  if (!in.peek(',')) {
    if (!in.hms(kMaxOffsetHours, &west_s)) return std::nullopt;
    rule.dst_offset_s = -west_s;
  }
  if (!in.take(',') || !in.date(&rule.dst_start) || !in.take(',') || !in.date(&rule.dst_end) || !in.done()) {
    return std::nullopt;
  }
  if (rule.dst_offset_s == rule.std_offset_s) return std::nullopt;
  return rule;
}

TimeZone TimeZone::utc() {
  TimeZone zone;
  zone.name_ = "UTC";
  return zone;
}

std::optional<TimeZone> TimeZone::from_posix_rule(std::string_view text, std::string* problem) {
  auto rule = parse_posix_tz_rule(text);
  if (!rule || std::abs(rule->std_offset_s) >= kMaxUtcOffsetS || std::abs(rule->dst_offset_s) >= kMaxUtcOffsetS) {
    *problem = "not a POSIX TZ rule";
    return std::nullopt;
  }
  TimeZone zone;
  zone.name_ = std::string(text);
  zone.initial_offset_s_ = rule->std_offset_s;
  zone.rule_ = rule;
  return zone;
}

std::optional<TimeZone> TimeZone::from_tzif(std::string_view name, std::span<const std::uint8_t> data,
                                            std::string* problem) {
  char version = 0;
  TzifCounts counts;
  if (!read_header(data, &version, &counts)) {
    *problem = "not a TZif file";
    return std::nullopt;
  }
  std::size_t time_size = kTzifV1TimeSize;
  std::size_t block = kTzifHeaderSize;
  if (version != '\0') {
    // Version 2+: skip the 32-bit block to the second header and its 64-bit data.
    const std::size_t v1_size = counts.block_size(kTzifV1TimeSize);
    if (data.size() - kTzifHeaderSize < v1_size ||
        !read_header(data.subspan(kTzifHeaderSize + v1_size), &version, &counts)) {
      *problem = "not a TZif file (truncated)";
      return std::nullopt;
    }
    time_size = kTzifV2TimeSize;
    block = kTzifHeaderSize + v1_size + kTzifHeaderSize;
  }
  if (data.size() - block < counts.block_size(time_size)) {
    *problem = "not a TZif file (truncated)";
    return std::nullopt;
  }
  if (counts.type == 0) {
    *problem = "not a TZif file (no local time types)";
    return std::nullopt;
  }
  if (counts.leap != 0) {
    *problem = "a zone counting leap seconds (its times are not Unix time)";
    return std::nullopt;
  }
  const std::uint8_t* times = data.data() + block;
  const std::uint8_t* indices = times + std::size_t{counts.time} * time_size;
  const std::uint8_t* types = indices + counts.time;

  std::vector<std::int32_t> offsets(counts.type);
  for (std::size_t i = 0; i < counts.type; ++i) {
    const auto offset = static_cast<std::int32_t>(read_be32(types + i * kTzifTypeSize));
    if (offset <= -kMaxUtcOffsetS || offset >= kMaxUtcOffsetS) {
      *problem = "not a TZif file (a UTC offset beyond 26 hours)";
      return std::nullopt;
    }
    offsets[i] = offset;
  }
  TimeZone zone;
  zone.name_ = std::string(name);
  // RFC 8536 §3.2: time type 0 covers the instants before the first transition.
  zone.initial_offset_s_ = offsets[0];
  zone.transitions_.reserve(counts.time);
  for (std::size_t i = 0; i < counts.time; ++i) {
    const std::int64_t at = read_time(times + i * time_size, time_size);
    if (indices[i] >= counts.type || (!zone.transitions_.empty() && at <= zone.transitions_.back().at_s)) {
      *problem = "not a TZif file (transitions out of order)";
      return std::nullopt;
    }
    zone.transitions_.push_back(Transition{at, offsets[indices[i]]});
  }
  if (time_size == kTzifV2TimeSize) {
    const std::size_t footer = block + counts.block_size(time_size);
    const auto rest = data.subspan(footer);
    const auto close = std::find(rest.begin() + (rest.empty() ? 0 : 1), rest.end(), std::uint8_t{'\n'});
    if (rest.empty() || rest[0] != '\n' || close == rest.end()) {
      *problem = "not a TZif file (no footer)";
      return std::nullopt;
    }
    const std::string text(rest.begin() + 1, close);
    if (!text.empty()) {
      zone.rule_ = parse_posix_tz_rule(text);
      if (!zone.rule_ || std::abs(zone.rule_->std_offset_s) >= kMaxUtcOffsetS ||
          std::abs(zone.rule_->dst_offset_s) >= kMaxUtcOffsetS) {
        *problem = "a TZif file whose footer rule meshhost cannot read (\"" + text + "\")";
        return std::nullopt;
      }
      if (zone.transitions_.empty()) zone.initial_offset_s_ = zone.rule_->std_offset_s;
    }
  }
  return zone;
}

std::optional<TimeZone> TimeZone::load(std::string_view name, std::string* problem) {
  if (!is_zone_name(name)) {
    *problem = "not a zone name";
    return std::nullopt;
  }
  const std::filesystem::path path = std::filesystem::path(kZoneInfoDir) / std::string(name);
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    *problem = "no such zone file in " + std::string(kZoneInfoDir);
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(status)) {
    *problem = "not a zone file (" + path.string() + " is not a regular file)";
    return std::nullopt;
  }
  std::ifstream file(path, std::ios::binary);
  // One byte past the limit tells a file that is too large from one that just fits.
  std::vector<std::uint8_t> data(kMaxTzifBytes + 1);
  file.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (file.bad() || (!file.eof() && !file)) {
    *problem = "an unreadable zone file";
    return std::nullopt;
  }
  data.resize(static_cast<std::size_t>(file.gcount()));
  if (data.size() > kMaxTzifBytes) {
    *problem = "not a TZif file (too large)";
    return std::nullopt;
  }
  return from_tzif(name, data, problem);
}

TimeZone::Segment TimeZone::rule_segment_at(std::int64_t unix_s, std::int64_t not_before_s) const noexcept {
  const PosixTzRule& rule = *rule_;
  if (!rule.has_dst) return Segment{not_before_s, std::numeric_limits<std::int64_t>::max(), rule.std_offset_s};
  // The changes of the years around `unix_s`, two on each side: a change may sit up to
  // 167 h from its date, so a neighbouring year's can be the nearest.
  struct Change {
    std::int64_t at_s;
    bool to_dst;
  };
  constexpr int kYearsAround = 2;
  constexpr std::size_t kChanges = 2 * (2 * kYearsAround + 1);
  std::array<Change, kChanges> changes{};
  const int year = static_cast<int>(date_of(unix_s + rule.std_offset_s).year());
  std::size_t n = 0;
  for (int y = year - kYearsAround; y <= year + kYearsAround; ++y) {
    // A change's local time is read on the clock it ends: standard time before DST starts,
    // DST before it ends.
    const std::int64_t start_local_s = rule_day(rule.dst_start, y) * kSecondsPerDay + rule.dst_start.time_s;
    const std::int64_t end_local_s = rule_day(rule.dst_end, y) * kSecondsPerDay + rule.dst_end.time_s;
    changes[n++] = Change{start_local_s - rule.std_offset_s, true};
    changes[n++] = Change{end_local_s - rule.dst_offset_s, false};
  }
  // At equal instants the start of DST comes last, so a rule whose DST ends as next year's
  // begins ("EST5EDT,0/0,J365/25", DST all year) stays in DST.
  std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    return a.at_s != b.at_s ? a.at_s < b.at_s : (!a.to_dst && b.to_dst);
  });
  // Keep only real changes: at one instant the last wins, and a change to the state
  // already in force is none.
  std::size_t kept = 0;
  for (const Change& change : changes) {
    if (kept > 0 && changes[kept - 1].at_s == change.at_s) --kept;
    if (kept > 0 && changes[kept - 1].to_dst == change.to_dst) continue;
    changes[kept++] = change;
  }
  const auto offset_of = [&rule](bool dst) { return dst ? rule.dst_offset_s : rule.std_offset_s; };
  const auto after = std::upper_bound(changes.begin(), changes.begin() + static_cast<std::ptrdiff_t>(kept), unix_s,
                                      [](std::int64_t t, const Change& c) { return t < c.at_s; });
  if (after == changes.begin()) return Segment{not_before_s, after->at_s, offset_of(!after->to_dst)};
  const Change& in_force = *(after - 1);
  // With no later change in the window the state holds past it; a day on is a safe bound.
  const std::int64_t end =
      after == changes.begin() + static_cast<std::ptrdiff_t>(kept) ? unix_s + kSecondsPerDay : after->at_s;
  return Segment{std::max(not_before_s, in_force.at_s), end, offset_of(in_force.to_dst)};
}

TimeZone::Segment TimeZone::segment_at(std::int64_t unix_s) const noexcept {
  constexpr std::int64_t kFirst = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kLast = std::numeric_limits<std::int64_t>::max();
  if (transitions_.empty()) return rule_ ? rule_segment_at(unix_s, kFirst) : Segment{kFirst, kLast, initial_offset_s_};
  const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), unix_s,
                                      [](std::int64_t t, const Transition& tr) { return t < tr.at_s; });
  if (after == transitions_.begin()) return Segment{kFirst, after->at_s, initial_offset_s_};
  const Transition& in_force = *(after - 1);
  if (after != transitions_.end()) return Segment{in_force.at_s, after->at_s, in_force.utc_offset_s};
  return rule_ ? rule_segment_at(unix_s, in_force.at_s) : Segment{in_force.at_s, kLast, in_force.utc_offset_s};
}

std::int32_t TimeZone::utc_offset_s(std::int64_t unix_s) const noexcept {
  return segment_at(std::clamp(unix_s, kMinUnixS, kMaxUnixS)).utc_offset_s;
}

std::int64_t TimeZone::to_local_s(std::int64_t unix_s) const noexcept {
  const std::int64_t t = std::clamp(unix_s, kMinUnixS, kMaxUnixS);
  return t + segment_at(t).utc_offset_s;
}

std::int64_t TimeZone::first_instant_at_or_after(std::int64_t local_s) const noexcept {
  const std::int64_t target = std::clamp(local_s, kMinUnixS, kMaxUnixS);
  // Before target - kMaxUtcOffsetS no offset can bring local time up to target, so the
  // search walks the offset segments forward from there; within a segment local time is
  // UTC + offset, rising with it.
  std::int64_t t = target - kMaxUtcOffsetS;
  // Offsets change a few times a day at most; the window is 2 × 26 h.
  constexpr int kMaxSegments = 64;
  for (int i = 0; i < kMaxSegments; ++i) {
    const Segment segment = segment_at(t);
    const std::int64_t first = std::max(t, target - segment.utc_offset_s);
    if (first < segment.end_s) return first;
    t = segment.end_s;
  }
  return t;
}

}  // namespace mh::billing
