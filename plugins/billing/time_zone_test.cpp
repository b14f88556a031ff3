// TimeZone: the gateway's zone read from tzdata agrees with glibc, its footer rule with
// zic's own transitions, and bad zone files and rules are refused with a reason.
#include "time_zone.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using namespace mh::billing;

constexpr std::int64_t kHour = 3600;

std::int64_t utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count() * 86400 + hh * kHour + mm * 60;
}

TimeZone load(const char* name) {
  std::string problem;
  auto zone = TimeZone::load(name, &problem);
  REQUIRE_MESSAGE(zone, name << ": " << problem);
  return *zone;
}

std::string footer_of(const char* name) {
  std::ifstream file(std::string(kZoneInfoDir) + "/" + name, std::ios::binary);
  const std::string data{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  const auto close = data.rfind('\n');
  const auto open = data.rfind('\n', close - 1);
  return data.substr(open + 1, close - open - 1);
}

std::string refusal(const char* name) {
  std::string problem;
  CHECK_FALSE(TimeZone::load(name, &problem));
  return problem;
}

// Zones with DST north and south, at 02:00, at midnight (Santiago springs at 24:00, Havana
// falls back to 00:00), half-hour offsets, and east of the date line.
const char* const kZones[] = {"Europe/Berlin", "America/Santiago", "America/Havana", "America/New_York",
                              "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland", "Asia/Kolkata",
                              "Europe/Dublin", "Africa/Casablanca", "Pacific/Apia"};

}  // namespace

TEST_CASE("UTC is built in and is the identity") {
  const TimeZone zone = TimeZone::utc();
  CHECK(zone.name() == "UTC");
  const std::int64_t t = utc(2026, 12, 1, 13, 5);
  CHECK(zone.utc_offset_s(t) == 0);
  CHECK(zone.to_local_s(t) == t);
  CHECK(zone.first_instant_at_or_after(t) == t);
}

TEST_CASE("Europe/Berlin from tzdata: CET, CEST, the skipped and the repeated hour") {
  const TimeZone berlin = load("Europe/Berlin");
  CHECK(berlin.name() == "Europe/Berlin");
  // The spring change 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
  CHECK(berlin.utc_offset_s(utc(2026, 3, 29, 0, 59)) == 1 * kHour);
  CHECK(berlin.utc_offset_s(utc(2026, 3, 29, 1, 0)) == 2 * kHour);
  CHECK(berlin.to_local_s(utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 14));
  // 02:30 that day never shows on a clock: the first instant at or after it is the change.
  CHECK(berlin.first_instant_at_or_after(utc(2026, 3, 29, 2, 30)) == utc(2026, 3, 29, 1, 0));
  // 2026-10-25 02:30 shows twice (00:30 and 01:30 UTC): the first is taken.
  CHECK(berlin.first_instant_at_or_after(utc(2026, 10, 25, 2, 30)) == utc(2026, 10, 25, 0, 30));
  CHECK(berlin.to_local_s(utc(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 2, 30));
  // Past the fat file's listed transitions (2037) its footer rule carries on.
  CHECK(berlin.utc_offset_s(utc(2080, 7, 1)) == 2 * kHour);
  CHECK(berlin.utc_offset_s(utc(2080, 12, 1)) == 1 * kHour);
}

TEST_CASE("every zone agrees with glibc's localtime_r, 1900 to 2100") {
  // This test binary is single-threaded, so setting TZ here races nothing.
  const char* const saved = std::getenv("TZ");
  const std::string saved_tz = saved ? saved : "";
  // Not a divisor of a day, so the samples drift through every hour of the day; two
  // centuries of them, listed transitions and footer rules alike.
  constexpr std::int64_t kStep = 29 * kHour + 17 * 60;
  for (const char* name : kZones) {
    const TimeZone zone = load(name);
    setenv("TZ", name, 1);
    tzset();
    int mismatches = 0;
    for (std::int64_t t = utc(1900, 1, 1); t < utc(2100, 1, 1) && mismatches < 3; t += kStep) {
      const std::time_t tt = static_cast<std::time_t>(t);
      std::tm tm{};
      localtime_r(&tt, &tm);
      if (tm.tm_gmtoff != zone.utc_offset_s(t)) {
        ++mismatches;
        FAIL_CHECK(name << " at " << t << ": glibc " << tm.tm_gmtoff << ", ours " << zone.utc_offset_s(t));
      }
    }
  }
  if (saved) setenv("TZ", saved_tz.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

TEST_CASE("a zone's footer rule alone reproduces the transitions zic computed from it") {
  // zic lists a fat file's transitions to 2037, those of the coming years derived from the
  // same rule the footer states (Casablanca's are listed one by one instead, and Kolkata
  // and Apia have no DST). Sampled every 59 minutes, so a change an hour off shows.
  constexpr std::int64_t kStep = 59 * 60;
  for (const char* name : kZones) {
    const std::string footer = footer_of(name);
    if (footer.find(',') == std::string::npos) continue;
    const TimeZone file = load(name);
    std::string problem;
    const auto rule = TimeZone::from_posix_rule(footer, &problem);
    REQUIRE_MESSAGE(rule, name << ": \"" << footer << "\" " << problem);
    for (std::int64_t t = utc(2026, 1, 1); t < utc(2031, 1, 1); t += kStep) {
      if (rule->utc_offset_s(t) != file.utc_offset_s(t)) {
        FAIL_CHECK(name << " \"" << footer << "\" at " << t << ": rule " << rule->utc_offset_s(t) << ", file "
                        << file.utc_offset_s(t));
        break;
      }
    }
  }
}

TEST_CASE("POSIX TZ rules: offsets west, quoted names, times past 24:00, all-year DST") {
  std::string problem;
  const auto santiago = TimeZone::from_posix_rule("<-04>4<-03>,M9.1.6/24,M4.1.6/24", &problem);
  REQUIRE(santiago);
  // The first Saturday of September 2026 is the 5th; its 24:00 at -04 is 04:00 UTC on the 6th.
  CHECK(santiago->utc_offset_s(utc(2026, 9, 6, 3, 59)) == -4 * kHour);
  CHECK(santiago->utc_offset_s(utc(2026, 9, 6, 4, 0)) == -3 * kHour);

  const auto kolkata = TimeZone::from_posix_rule("IST-5:30", &problem);
  REQUIRE(kolkata);
  CHECK(kolkata->utc_offset_s(utc(2026, 1, 1)) == 5 * kHour + 30 * 60);

  // RFC 8536's example: DST from January 1 00:00 to December 31 25:00, so always.
  const auto always = TimeZone::from_posix_rule("EST5EDT,0/0,J365/25", &problem);
  REQUIRE(always);
  for (std::int64_t t = utc(2026, 12, 30); t < utc(2027, 1, 3); t += kHour) {
    CHECK(always->utc_offset_s(t) == -4 * kHour);
  }

  const auto parsed = parse_posix_tz_rule("CET-1CEST,M3.5.0,M10.5.0/3");
  REQUIRE(parsed);
  CHECK(parsed->std_offset_s == 1 * kHour);
  CHECK(parsed->dst_offset_s == 2 * kHour);
  CHECK(parsed->dst_start.month == 3);
  CHECK(parsed->dst_start.week == 5);
  CHECK(parsed->dst_start.time_s == 2 * kHour);
  CHECK(parsed->dst_end.time_s == 3 * kHour);

  for (const char* bad : {"", "EST5EDT", "AB1", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0",
                          "CET-1CEST,M3.5.0,M10.5.0/168", "CET-25", "<AB>3", "CET-1CEST,J0,J100", "EST5EST5,1,2 "}) {
    CHECK_MESSAGE(!parse_posix_tz_rule(bad), bad);
  }
  CHECK_FALSE(TimeZone::from_posix_rule("EST5EDT", &problem));
  CHECK(problem == "not a POSIX TZ rule");
}

TEST_CASE("zone names stay inside the zoneinfo directory") {
  CHECK(is_zone_name("Europe/Berlin"));
  CHECK(is_zone_name("America/Argentina/Buenos_Aires"));
  CHECK(is_zone_name("Etc/GMT+5"));
  CHECK_FALSE(is_zone_name(""));
  CHECK_FALSE(is_zone_name("/etc/localtime"));
  CHECK_FALSE(is_zone_name("../../etc/passwd"));
  CHECK_FALSE(is_zone_name("Europe/../../etc/passwd"));
  CHECK_FALSE(is_zone_name("Europe//Berlin"));
  CHECK_FALSE(is_zone_name("Europe/"));
  CHECK_FALSE(is_zone_name("Europe/Berlin "));
  CHECK_FALSE(is_zone_name(std::string(256, 'A')));
}

TEST_CASE("what is not a zone file is refused with the reason") {
  CHECK(refusal("Mars/Olympus_Mons") == "no such zone file in /usr/share/zoneinfo");
  CHECK(refusal("Europe").find("is not a regular file") != std::string::npos);
  CHECK(refusal("zone.tab") == "not a TZif file");
  CHECK(refusal("right/Europe/Berlin") == "a zone counting leap seconds (its times are not Unix time)");
  CHECK(refusal("../etc/passwd") == "not a zone name");

  std::string problem;
  const std::vector<std::uint8_t> junk = {'T', 'Z', 'i', 'f', '2'};
  CHECK_FALSE(TimeZone::from_tzif("junk", junk, &problem));
  CHECK(problem == "not a TZif file");

  // A real file cut short anywhere is refused, never read past its end.
  std::ifstream file(std::string(kZoneInfoDir) + "/Europe/Berlin", std::ios::binary);
  const std::vector<std::uint8_t> berlin{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  for (std::size_t size = 0; size < berlin.size(); ++size) {
    const std::span<const std::uint8_t> cut(berlin.data(), size);
    CHECK_FALSE(TimeZone::from_tzif("cut", cut, &problem));
  }
  CHECK(TimeZone::from_tzif("whole", berlin, &problem));
}

TEST_CASE("a version 1 file (32-bit times, no footer) reads too") {
  // Header, then one transition at 1000 to type 1; types 0 (+01:00) and 1 (+02:00); "A\0B\0".
  std::vector<std::uint8_t> v1 = {'T', 'Z', 'i', 'f', 0};
  v1.resize(20, 0);
  for (std::uint32_t count : {0u, 0u, 0u, 1u, 2u, 4u}) {  // isut, isstd, leap, time, type, char
    for (int shift = 24; shift >= 0; shift -= 8) v1.push_back(static_cast<std::uint8_t>(count >> shift));
  }
  for (std::uint8_t b : {0, 0, 0x03, 0xe8}) v1.push_back(b);  // transition at 1000
  v1.push_back(1);
  for (std::uint8_t b : {0, 0, 0x0e, 0x10, 0, 0, 0, 0, 0x1c, 0x20, 1, 2}) v1.push_back(b);
  for (char c : {'A', '\0', 'B', '\0'}) v1.push_back(static_cast<std::uint8_t>(c));
  std::string problem;
  const auto zone = TimeZone::from_tzif("v1", v1, &problem);
  REQUIRE_MESSAGE(zone, problem);
  CHECK(zone->utc_offset_s(999) == 1 * kHour);
  CHECK(zone->utc_offset_s(1000) == 2 * kHour);
  CHECK(zone->utc_offset_s(utc(2100, 1, 1)) == 2 * kHour);
}
