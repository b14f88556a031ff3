// The router's config: defaults, every key, and errors that name their JSON path.
#include "router_config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

struct Errors final : mh::ErrorSink {
  std::vector<std::string> lines;
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
};

}  // namespace

TEST_CASE("router config: empty means the documented defaults") {
  Errors errors;
  const auto config = mh::router::parse_router_config("{}", &errors);
  REQUIRE(config);
  CHECK(config->timers.update_interval_ns == 16'000'000'000ull);
  CHECK(config->timers.route_expiry_ns == 56'000'000'000ull);
  CHECK(config->timers.hold_down_ns == 32'000'000'000ull);
  CHECK(config->timers.source_gc_ns == 180'000'000'000ull);
  CHECK(config->timers.request_timeout_ns == 2'000'000'000ull);
  CHECK(config->limits.max_routes == 4096);
  CHECK(config->limits.max_routes_per_neighbour == 1024);
}

TEST_CASE("router config: every key is read") {
  Errors errors;
  const auto config = mh::router::parse_router_config(
      R"({"timers": {"updateIntervalMs": 4000, "routeExpiryMs": 14000, "holdDownMs": 8000, "sourceGcMs": 60000,
          "requestTimeoutMs": 500}, "maxRoutes": 100, "maxRoutesPerNeighbour": 50})",
      &errors);
  REQUIRE(config);
  CHECK(config->timers.update_interval_ns == 4'000'000'000ull);
  CHECK(config->timers.route_expiry_ns == 14'000'000'000ull);
  CHECK(config->timers.hold_down_ns == 8'000'000'000ull);
  CHECK(config->timers.source_gc_ns == 60'000'000'000ull);
  CHECK(config->timers.request_timeout_ns == 500'000'000ull);
  CHECK(config->limits.max_routes == 100);
  CHECK(config->limits.max_routes_per_neighbour == 50);
}

TEST_CASE("router config: errors name the path") {
  struct Case {
    const char* json;
    const char* path;
  };
  const Case cases[] = {
      {R"({"maxRoute": 5})", "maxRoute: "},
      {R"({"maxRoutes": 0})", "maxRoutes: "},
      {R"({"maxRoutes": 10, "maxRoutesPerNeighbour": 20})", "maxRoutesPerNeighbour: "},
      {R"({"timers": {"updateIntervalMs": "4s"}})", "timers.updateIntervalMs: "},
      {R"({"timers": {"holdDown": 1000}})", "timers.holdDown: "},
      {R"({"timers": {"updateIntervalMs": 30000}})", "timers: "},  // expiry 56 s < 2 × 30 s
      {R"({"timers": 5})", "timers: "},
      {R"([1])", ": "},
  };
  for (const auto& c : cases) {
    Errors errors;
    CAPTURE(c.json);
    CHECK_FALSE(mh::router::parse_router_config(c.json, &errors));
    REQUIRE(!errors.lines.empty());
    CHECK(errors.lines[0].rfind(c.path, 0) == 0);
  }
}
