// plugins.billing config: plans as issue 6 writes them, their defaults, and one clear
// problem with its path per bad key.
#include "billing_config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using namespace mh;
using namespace mh::billing;

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::optional<BillingConfig> parse(const std::string& text, Errors* errors) {
  return parse_billing_config(Str::of(text), errors);
}

std::vector<std::string> paths(const Errors& errors) {
  std::vector<std::string> got;
  for (const auto& line : errors.lines) got.push_back(line.substr(0, line.find(": expected")));
  return got;
}

// Parses `text` expecting exactly one problem, and returns its line.
std::string one_error(const std::string& text) {
  Errors errors;
  CHECK_FALSE(parse(text, &errors));
  REQUIRE_MESSAGE(errors.lines.size() == 1, text);
  return errors.lines[0];
}

}  // namespace

TEST_CASE("a gateway's plans read with every field") {
  Errors errors;
  const auto config = parse(R"({
    "timeZone": "Europe/Berlin",
    "flushIntervalMs": 5000,
    "hourlyRetentionDays": 90,
    "defaultPlan": "basic",
    "plans": {
      // 50 GB a month from the 15th, 1 Mbit/s up, 8 down, then throttled to 64 kbit/s
      "basic": {
        "quotaBytes": 50000000000, "period": "month", "resetDay": 15,
        "rateLimit": {"upBps": 1000000, "downBps": 8000000},
        "overQuota": {"throttleBps": 64000},
        "price": {"perGB": 500000, "currency": "EUR"},
        "freePrefixes": ["10.99.0.0/16", "fc00:1::/32"]
      },
      "weekly": {"quotaBytes": 0, "period": "week", "resetDay": 7, "overQuota": "block"},
      "unlimited": {"period": "day"}
    }
  })", &errors);
  REQUIRE_MESSAGE(config, (errors.lines.empty() ? "" : errors.lines[0]));
  CHECK(config->time_zone_name == "Europe/Berlin");
  CHECK(config->time_zone.name() == "Europe/Berlin");
  CHECK(config->flush_interval_ms == 5000);
  CHECK(config->hourly_retention_days == 90);
  CHECK(config->default_plan == "basic");
  REQUIRE(config->plans.size() == 3);

  const Plan* basic = config->find_plan("basic");
  REQUIRE(basic);
  CHECK(basic->quota_bytes == 50'000'000'000u);
  CHECK(basic->period == PeriodRule{PeriodKind::month, 15});
  CHECK(basic->rate_limit.up_bps == 1'000'000u);
  CHECK(basic->rate_limit.down_bps == 8'000'000u);
  CHECK(basic->over_quota.action == OverQuotaAction::throttle);
  CHECK(basic->over_quota.throttle_bps == 64'000);
  REQUIRE(basic->price);
  CHECK(basic->price->per_gb_micros == 500'000);
  CHECK(basic->price->currency == "EUR");
  REQUIRE(basic->free_prefixes.size() == 2);
  CHECK(iptunnel::format_block(basic->free_prefixes[0]) == "10.99.0.0/16");
  CHECK(iptunnel::format_block(basic->free_prefixes[1]) == "fc00:1::/32");

  const Plan* weekly = config->find_plan("weekly");
  REQUIRE(weekly);
  CHECK(weekly->quota_bytes == 0u);
  CHECK(weekly->period == PeriodRule{PeriodKind::week, 7});
  CHECK(weekly->over_quota.action == OverQuotaAction::block);

  const Plan* unlimited = config->find_plan("unlimited");
  REQUIRE(unlimited);
  CHECK_FALSE(unlimited->quota_bytes);
  CHECK(unlimited->period.kind == PeriodKind::day);
  CHECK_FALSE(unlimited->rate_limit.up_bps);
  CHECK_FALSE(unlimited->rate_limit.down_bps);
  CHECK_FALSE(unlimited->price);
  CHECK(unlimited->free_prefixes.empty());
  CHECK_FALSE(config->find_plan("gold"));
}

TEST_CASE("defaults: UTC built in, a 10 s flush, monthly from the 1st, block when over quota") {
  Errors errors;
  const auto config = parse(R"({"plans": {"free": {"quotaBytes": 1000}}, "defaultPlan": "free"})", &errors);
  REQUIRE(config);
  CHECK(config->time_zone_name == "UTC");
  CHECK(config->time_zone.utc_offset_s(1'800'000'000) == 0);
  CHECK(config->flush_interval_ms == kDefaultFlushIntervalMs);
  CHECK(config->hourly_retention_days == 400);
  const Plan& plan = config->plans.at(0);
  CHECK(plan.period == PeriodRule{PeriodKind::month, 1});
  CHECK(plan.over_quota.action == OverQuotaAction::block);
  // Free prefixes are kept as networks, as iptunnel's pools are.
  const auto normalised =
      parse(R"({"plans": {"p": {"freePrefixes": ["10.1.2.3/8"]}}, "defaultPlan": "p"})", &errors);
  REQUIRE(normalised);
  CHECK(iptunnel::format_block(normalised->plans[0].free_prefixes[0]) == "10.0.0.0/8");
}

TEST_CASE("every bad value is reported with its JSON path") {
  Errors errors;
  CHECK_FALSE(parse(R"({
    "colour": 1, "timeZone": "Mars/Olympus_Mons", "flushIntervalMs": 50, "hourlyRetentionDays": 0,
    "defaultPlan": "gold",
    "plans": {
      "a": {"quotaBytes": -1, "period": "year", "rateLimit": {"upBps": 7999, "downBps": "fast", "burst": 1},
            "overQuota": {"throttleBps": 1000}, "price": {"perGB": 1.5, "currency": "euro"},
            "freePrefixes": ["10.0.0.0/8", "10.0.0.0", 7], "colour": 2},
      "b": {"period": "day", "resetDay": 1, "overQuota": "block"},
      "c": {"period": "week", "resetDay": 8, "price": {"perGB": 1}},
      "d": {"resetDay": 29, "overQuota": "throttle", "quotaBytes": 1},
      "e f": {}
    }
  })", &errors));
  const std::vector<std::string> expected = {
      "colour",
      "timeZone",
      "flushIntervalMs",
      "hourlyRetentionDays",
      "plans.a.colour",
      "plans.a.quotaBytes",
      "plans.a.period",
      "plans.a.rateLimit.burst",
      "plans.a.rateLimit.upBps",
      "plans.a.rateLimit.downBps",
      "plans.a.overQuota.throttleBps",
      "plans.a.price.perGB",
      "plans.a.price.currency",
      "plans.a.freePrefixes[1]",
      "plans.a.freePrefixes[2]",
      "plans.b.resetDay",
      "plans.b.overQuota",
      "plans.c.resetDay",
      "plans.c.price",
      "plans.d.resetDay",
      "plans.d.overQuota",
      "plans.e f",
      "defaultPlan",
  };
  CHECK(paths(errors) == expected);
}

TEST_CASE("one line per problem, saying what was expected and what was found") {
  const std::string plans = R"("plans": {"basic": {}, "premium": {}})";
  CHECK(one_error(R"({"defaultPlan": "gold", )" + plans + "}") ==
        "defaultPlan: expected one of plans (basic, premium), got \"gold\"");
  CHECK(one_error("{" + plans + "}") ==
        "defaultPlan: expected the name of one of plans, for clients whose entry names none, got none");
  CHECK(one_error(R"({"defaultPlan": "basic"})") ==
        "plans: expected an object of at least one plan by name, like {\"basic\": {\"quotaBytes\": …}}, got none");
  CHECK(one_error(R"({"defaultPlan": "basic", "plans": {}})").find("got an empty object") != std::string::npos);
  CHECK(one_error(R"({"defaultPlan": "basic", "timeZone": "Europe/Berlln", )" + plans + "}") ==
        "timeZone: expected an IANA time zone like \"Europe/Berlin\" (a TZif file under /usr/share/zoneinfo), "
        "got \"Europe/Berlln\" (no such zone file in /usr/share/zoneinfo)");
  CHECK(one_error(R"({"defaultPlan": "p", "plans": {"p": {"resetDay": 31}}})") ==
        "plans.p.resetDay: expected a day of the month from 1 to 28 (every month has it; later days would need a "
        "rule for short months), got 31");
  CHECK(one_error(R"({"defaultPlan": "p", "plans": {"p": {"period": "week", "resetDay": 0}}})") ==
        "plans.p.resetDay: expected an ISO weekday from 1 (Monday) to 7 (Sunday), got 0");
  CHECK(one_error(R"({"defaultPlan": "p", "plans": {"p": {"overQuota": "block"}}})") ==
        "plans.p.overQuota: expected overQuota only together with quotaBytes, got no quotaBytes");
  CHECK(one_error(R"({"defaultPlan": "p", "plans": {"p": {"rateLimit": {"upBps": 100}}}})") ==
        "plans.p.rateLimit.upBps: expected a rate in bits/s from 8000 to 1000000000000, got 100");
  CHECK(one_error(R"({"defaultPlan": "p", "plans": {"p": {"price": {"perGB": 1, "currency": "eur"}}}})") ==
        "plans.p.price.currency: expected an ISO 4217 code of three capital letters, like \"EUR\", got \"eur\"");
  CHECK(one_error("not json") == ": expected a JSON object, got text that is not JSON");
  CHECK(one_error("[]") == ": expected an object with \"plans\" and \"defaultPlan\", got an array");
}

TEST_CASE("a time zone must be a TZif file inside the zoneinfo directory") {
  const std::string rest = R"(, "defaultPlan": "p", "plans": {"p": {}}})";
  for (const char* bad : {"../../etc/passwd", "/etc/localtime", "Europe", "zone.tab", "right/UTC", ""}) {
    const std::string line = one_error(std::string(R"({"timeZone": ")") + bad + "\"" + rest);
    CHECK_MESSAGE(line.rfind("timeZone: expected an IANA time zone", 0) == 0, line);
  }
  CHECK(one_error(R"({"timeZone": 1)" + rest).find("got 1") != std::string::npos);
  Errors errors;
  const auto config = parse(R"({"timeZone": "America/Santiago")" + rest, &errors);
  REQUIRE(config);
  CHECK(config->time_zone.name() == "America/Santiago");
}
