// Billing periods: month ends and leap days, reset days, ISO weeks across New Year, and the
// reset rule where DST skips or repeats the reset's midnight (period.hpp).
#include "period.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace {

using namespace mh::billing;

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;

std::int64_t utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count() * kDay + hh * kHour + mm * 60 + ss;
}

TimeZone load(const char* name) {
  std::string problem;
  auto zone = TimeZone::load(name, &problem);
  REQUIRE_MESSAGE(zone, name << ": " << problem);
  return *zone;
}

const PeriodRule kMonthly{PeriodKind::month, 1};
const PeriodRule kDaily{PeriodKind::day, 1};
const PeriodRule kWeekly{PeriodKind::week, 1};

}  // namespace

TEST_CASE("months in UTC end with their last second, February 2028 with its leap day") {
  const TimeZone zone = TimeZone::utc();
  CHECK(period_at(zone, kMonthly, utc(2026, 1, 31, 23, 59, 59)) ==
        Period{utc(2026, 1, 1), utc(2026, 2, 1), "2026-01"});
  CHECK(period_at(zone, kMonthly, utc(2026, 2, 1)) == Period{utc(2026, 2, 1), utc(2026, 3, 1), "2026-02"});
  CHECK(period_at(zone, kMonthly, utc(2026, 2, 28, 12)).end_s - utc(2026, 2, 1) == 28 * kDay);
  const Period leap = period_at(zone, kMonthly, utc(2028, 2, 29, 23, 59, 59));
  CHECK(leap == Period{utc(2028, 2, 1), utc(2028, 3, 1), "2028-02"});
  CHECK(leap.end_s - leap.start_s == 29 * kDay);
  CHECK(period_at(zone, kDaily, utc(2028, 2, 29, 6)) == Period{utc(2028, 2, 29), utc(2028, 3, 1), "2028-02-29"});
  CHECK(period_at(zone, kMonthly, utc(2026, 12, 31, 23, 59, 59)).end_s == utc(2027, 1, 1));
}

TEST_CASE("a month resetting on the 15th runs from the 15th to the 15th, named by where it starts") {
  const TimeZone zone = TimeZone::utc();
  const PeriodRule rule{PeriodKind::month, 15};
  CHECK(period_at(zone, rule, utc(2026, 3, 14, 23, 59, 59)) == Period{utc(2026, 2, 15), utc(2026, 3, 15), "2026-02"});
  CHECK(period_at(zone, rule, utc(2026, 3, 15)) == Period{utc(2026, 3, 15), utc(2026, 4, 15), "2026-03"});
  // Across New Year the period keeps the year it started in.
  CHECK(period_at(zone, rule, utc(2027, 1, 10)) == Period{utc(2026, 12, 15), utc(2027, 1, 15), "2026-12"});
  // The 28th, the latest allowed, exists in February of every year.
  const PeriodRule late{PeriodKind::month, 28};
  CHECK(period_at(zone, late, utc(2027, 3, 1)) == Period{utc(2027, 2, 28), utc(2027, 3, 28), "2027-02"});
}

TEST_CASE("ISO weeks across a year boundary, and weeks that reset on Sunday") {
  const TimeZone zone = TimeZone::utc();
  // 2026 began on a Thursday, so it has 53 ISO weeks; Friday 2027-01-01 is still in W53.
  CHECK(period_at(zone, kWeekly, utc(2026, 12, 31, 12)) == Period{utc(2026, 12, 28), utc(2027, 1, 4), "2026-W53"});
  CHECK(period_at(zone, kWeekly, utc(2027, 1, 1)).label == "2026-W53");
  CHECK(period_at(zone, kWeekly, utc(2027, 1, 4)) == Period{utc(2027, 1, 4), utc(2027, 1, 11), "2027-W01"});
  // Monday 2024-12-30 is in week 1 of ISO year 2025.
  CHECK(period_at(zone, kWeekly, utc(2024, 12, 31)) == Period{utc(2024, 12, 30), utc(2025, 1, 6), "2025-W01"});
  CHECK(period_at(zone, kWeekly, utc(2026, 12, 1)).label == "2026-W49");
  // Resetting on Sunday: Wednesday 2026-12-02 is billed from Sunday 2026-11-29, in W48.
  const PeriodRule sunday{PeriodKind::week, 7};
  CHECK(period_at(zone, sunday, utc(2026, 12, 2)) == Period{utc(2026, 11, 29), utc(2026, 12, 6), "2026-W48"});
  CHECK(period_at(zone, sunday, utc(2026, 12, 5, 23, 59, 59)).label == "2026-W48");
  CHECK(period_at(zone, sunday, utc(2026, 12, 6)).label == "2026-W49");
}

TEST_CASE("days, and consecutive periods tile time") {
  const TimeZone zone = TimeZone::utc();
  CHECK(period_at(zone, kDaily, utc(2026, 12, 1)) == Period{utc(2026, 12, 1), utc(2026, 12, 2), "2026-12-01"});
  CHECK(period_at(zone, kDaily, utc(2026, 12, 1, 23, 59, 59)).label == "2026-12-01");
  const TimeZone berlin = load("Europe/Berlin");
  for (const PeriodRule& rule : {kDaily, kWeekly, kMonthly, PeriodRule{PeriodKind::month, 28}}) {
    Period period = period_at(berlin, rule, utc(2025, 12, 20));
    for (int i = 0; i < 60; ++i) {
      const Period next = period_at(berlin, rule, period.end_s);
      CHECK(next.start_s == period.end_s);
      CHECK(next.label > period.label);
      CHECK(period_at(berlin, rule, period.end_s - 1) == period);
      period = next;
    }
  }
}

TEST_CASE("Europe/Berlin: a day of 23 hours in March, of 25 in October, months at local midnight") {
  const TimeZone berlin = load("Europe/Berlin");
  // Local midnight is 23:00 UTC in winter, 22:00 UTC in summer.
  CHECK(period_at(berlin, kDaily, utc(2026, 3, 29, 12)) ==
        Period{utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), "2026-03-29"});
  CHECK(period_at(berlin, kDaily, utc(2026, 10, 25, 12)) ==
        Period{utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), "2026-10-25"});
  CHECK(period_at(berlin, kMonthly, utc(2026, 3, 15)) == Period{utc(2026, 2, 28, 23), utc(2026, 3, 31, 22), "2026-03"});
  // 2026-03-31 23:30 UTC is already April 1 in Berlin.
  CHECK(period_at(berlin, kMonthly, utc(2026, 3, 31, 23, 30)).label == "2026-04");
  // 02:30 on October 25 shows twice; both belong to that day.
  CHECK(period_at(berlin, kDaily, utc(2026, 10, 25, 0, 30)).label == "2026-10-25");
  CHECK(period_at(berlin, kDaily, utc(2026, 10, 25, 1, 30)).label == "2026-10-25");
}

TEST_CASE("America/Santiago springs forward at midnight: the day starts at 01:00, the first valid time") {
  const TimeZone santiago = load("America/Santiago");
  // Saturday 2026-09-05 24:00 at -04 becomes Sunday 01:00 at -03 (04:00 UTC): Sunday's
  // 00:00 never shows, so Sunday is billed from that instant and lasts 23 hours.
  const Period sunday = period_at(santiago, kDaily, utc(2026, 9, 6, 12));
  CHECK(sunday == Period{utc(2026, 9, 6, 4), utc(2026, 9, 7, 3), "2026-09-06"});
  CHECK(santiago.to_local_s(sunday.start_s) == utc(2026, 9, 6, 1));
  CHECK(period_at(santiago, kDaily, utc(2026, 9, 6, 3, 59, 59)) ==
        Period{utc(2026, 9, 5, 4), utc(2026, 9, 6, 4), "2026-09-05"});
  // A week resetting on Sunday, and a month resetting on the 6th, start there too.
  CHECK(period_at(santiago, PeriodRule{PeriodKind::week, 7}, utc(2026, 9, 8)).start_s == utc(2026, 9, 6, 4));
  CHECK(period_at(santiago, PeriodRule{PeriodKind::month, 6}, utc(2026, 9, 20)) ==
        Period{utc(2026, 9, 6, 4), utc(2026, 10, 6, 3), "2026-09"});
  // Falling back, Saturday 2026-04-04 24:00 at -03 becomes 23:00 at -04: Saturday has 25
  // hours and Sunday's midnight shows once, at 04:00 UTC.
  CHECK(period_at(santiago, kDaily, utc(2026, 4, 5, 3, 30)) ==
        Period{utc(2026, 4, 4, 3), utc(2026, 4, 5, 4), "2026-04-04"});
}

TEST_CASE("America/Havana falls back to midnight: the day starts at the first 00:00") {
  const TimeZone havana = load("America/Havana");
  // Sunday 2026-11-01 01:00 CDT becomes 00:00 CST (05:00 UTC): 00:00–01:00 shows twice,
  // and the day starts at the first, 04:00 UTC. The repeated hour stays in Sunday.
  const Period sunday = period_at(havana, kDaily, utc(2026, 11, 1, 5, 30));
  CHECK(sunday == Period{utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), "2026-11-01"});
  CHECK(sunday.end_s - sunday.start_s == 25 * kHour);
  CHECK(period_at(havana, kMonthly, utc(2026, 11, 15)).start_s == utc(2026, 11, 1, 4));
  CHECK(period_at(havana, kMonthly, utc(2026, 10, 31, 12)).end_s == utc(2026, 11, 1, 4));
  // Springing forward on 2026-03-08, 00:00 CST becomes 01:00 CDT (05:00 UTC).
  CHECK(period_at(havana, kDaily, utc(2026, 3, 8, 12)).start_s == utc(2026, 3, 8, 5));
}

TEST_CASE("a fall-back across midnight: time that shows yesterday again is in the new day") {
  // DST (+02) ends at 00:30 on the last Sunday of October: the clock goes from Sunday
  // 00:30 back to Saturday 23:30 (+01). Sunday began at its first 00:00, 22:00 UTC, so
  // 22:45 UTC, which the clock shows as Saturday 23:45, is Sunday's.
  std::string problem;
  const auto zone = TimeZone::from_posix_rule("AAA-1BBB,M3.5.0,M10.5.0/0:30", &problem);
  REQUIRE(zone);
  CHECK(zone->to_local_s(utc(2026, 10, 24, 22, 45)) == utc(2026, 10, 24, 23, 45));
  CHECK(period_at(*zone, kDaily, utc(2026, 10, 24, 22, 45)) ==
        Period{utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), "2026-10-25"});
  CHECK(period_at(*zone, kDaily, utc(2026, 10, 24, 21, 59, 59)).label == "2026-10-24");
}

TEST_CASE("a label names one period, and only labels period_at gives are accepted") {
  const TimeZone berlin = load("Europe/Berlin");
  const PeriodRule mid_month{PeriodKind::month, 15};
  CHECK(period_by_label(berlin, mid_month, "2026-12") == period_at(berlin, mid_month, utc(2027, 1, 1)));
  CHECK(period_by_label(berlin, kWeekly, "2026-W53") == period_at(berlin, kWeekly, utc(2027, 1, 1)));
  CHECK(period_by_label(berlin, PeriodRule{PeriodKind::week, 7}, "2026-W48") ==
        period_at(berlin, PeriodRule{PeriodKind::week, 7}, utc(2026, 12, 2)));
  CHECK(period_by_label(berlin, kDaily, "2028-02-29") == period_at(berlin, kDaily, utc(2028, 2, 29, 12)));
  for (const char* bad : {"2026-13", "2026-00", "2026-1", "26-12", "2026-12-01", "x026-12"}) {
    CHECK_MESSAGE(!period_by_label(berlin, kMonthly, bad), bad);
  }
  for (const char* bad : {"2025-W53", "2026-W00", "2026-W54", "2026-w01", "2026-12"}) {
    CHECK_MESSAGE(!period_by_label(berlin, kWeekly, bad), bad);
  }
  for (const char* bad : {"2026-02-29", "2026-04-31", "2026-12-1", "2026-12"}) {
    CHECK_MESSAGE(!period_by_label(berlin, kDaily, bad), bad);
  }
}

TEST_CASE("period kind names") {
  CHECK(period_kind_name(PeriodKind::week) == "week");
  CHECK(parse_period_kind("month") == PeriodKind::month);
  CHECK(parse_period_kind("day") == PeriodKind::day);
  CHECK_FALSE(parse_period_kind("year"));
}
