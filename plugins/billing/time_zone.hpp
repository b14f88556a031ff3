// One IANA time zone, read from its TZif file, converting Unix time to local wall-clock
// time and back without libc's process-wide TZ (DESIGN §7: periods follow the gateway's zone).
#pragma once

// Why a TZif reader of our own rather than localtime_r/mktime: libc keeps one zone per
// process, chosen through the TZ environment variable, and setenv/tzset race every other
// thread that reads the environment or calls localtime (the ledger thread, spdlog's
// timestamps). A value that holds its transitions is pure: the data path asks it with
// plain function calls, tests build one from a rule string, and two zones can coexist.
// The TZif format (RFC 8536) is small: the 64-bit transitions of a version 2+ file, and
// the POSIX TZ rule in its footer for instants after the last transition.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mh::billing {

// Where tzdata installs the zones (Debian's package "tzdata").
inline constexpr std::string_view kZoneInfoDir = "/usr/share/zoneinfo";
// Real zone files are a few KiB; anything much larger is not one.
inline constexpr std::size_t kMaxTzifBytes = 256 * 1024;
// No zone is, or has been, more than 26 h from UTC (RFC 8536 bounds offsets to
// -25:59:59…+25:59:59); bounding it keeps the searches below finite.
inline constexpr std::int32_t kMaxUtcOffsetS = 26 * 3600;
// The instants the conversions accept, 0001-01-01 to 9999-12-31 UTC: labels keep four-digit
// years and no arithmetic overflows. Times outside are clamped to it.
inline constexpr std::int64_t kMinUnixS = -62'135'596'800;
inline constexpr std::int64_t kMaxUnixS = 253'402'300'799;

// True for a name that can only resolve inside kZoneInfoDir: components of
// [A-Za-z0-9._+-], none "." or "..", not absolute, at most 255 bytes.
bool is_zone_name(std::string_view name) noexcept;

// A POSIX TZ rule, as TZif footers carry it: "CET-1CEST,M3.5.0,M10.5.0/3" is one hour east
// of UTC, two in summer from the last Sunday of March 02:00 to the last of October 03:00.
struct PosixTzRule {
  // A transition date: Jn (1–365, Feb 29 never counted), n (0–365), or Mm.w.d.
  struct Date {
    enum class Form : std::uint8_t { julian_no_leap, zero_based, month_week_day };
    Form form = Form::month_week_day;
    std::uint16_t day = 0;      // Jn / n
    std::uint8_t month = 0;     // Mm.w.d: 1–12
    std::uint8_t week = 0;      // 1–5, 5 = the month's last such weekday
    std::uint8_t weekday = 0;   // 0 = Sunday
    std::int32_t time_s = 2 * 3600;  // local time of the change (POSIX: 02:00), ±167 h (RFC 8536)
  };
  std::int32_t std_offset_s = 0;  // seconds east of UTC (POSIX writes them west: "CET-1")
  bool has_dst = false;
  std::int32_t dst_offset_s = 0;
  Date dst_start;
  Date dst_end;
};

// Parses `text` as a POSIX TZ rule. DST without its dates ("EST5EDT") is refused: POSIX
// leaves those dates to the implementation, and TZif footers always give them.
std::optional<PosixTzRule> parse_posix_tz_rule(std::string_view text);

class TimeZone {
 public:
  // The zone UTC itself, for the default and for tests.
  static TimeZone utc();

  // Reads kZoneInfoDir/<name>. On failure returns nullopt and sets *problem to a short
  // phrase for an operator ("no such zone file", "not a TZif file"). Blocks on file I/O:
  // call it at config time, never on the data path.
  static std::optional<TimeZone> load(std::string_view name, std::string* problem);
  // Parses TZif data (RFC 8536, version 1 to 4). Zones counting leap seconds ("right/…")
  // are refused: their timestamps are not Unix time.
  static std::optional<TimeZone> from_tzif(std::string_view name, std::span<const std::uint8_t> data,
                                           std::string* problem);
  // A zone given only by a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" (the form
  // TZif footers use, hours of a transition time from -167 to 167).
  static std::optional<TimeZone> from_posix_rule(std::string_view rule, std::string* problem);

  const std::string& name() const noexcept { return name_; }

  // Seconds east of UTC in force at `unix_s`.
  std::int32_t utc_offset_s(std::int64_t unix_s) const noexcept;
  // The local wall-clock time at `unix_s`, as seconds since 1970-01-01 00:00 local.
  std::int64_t to_local_s(std::int64_t unix_s) const noexcept;
  // The first instant whose local time is at or after `local_s`. A local time a DST change
  // skips yields the first instant after the gap; one that occurs twice yields its first
  // occurrence.
  std::int64_t first_instant_at_or_after(std::int64_t local_s) const noexcept;

 private:
  // From `at_s` on (until the next transition), local time is UTC + utc_offset_s.
  struct Transition {
    std::int64_t at_s;
    std::int32_t utc_offset_s;
  };
  // An interval [start_s, end_s) of one UTC offset; the bounds need not be real changes.
  struct Segment {
    std::int64_t start_s;
    std::int64_t end_s;
    std::int32_t utc_offset_s;
  };
  Segment segment_at(std::int64_t unix_s) const noexcept;
  Segment rule_segment_at(std::int64_t unix_s, std::int64_t not_before_s) const noexcept;

  std::string name_;
  std::int32_t initial_offset_s_ = 0;  // before the first transition
  std::vector<Transition> transitions_;
  std::optional<PosixTzRule> rule_;  // after the last; without one the last offset stays
};

}  // namespace mh::billing
