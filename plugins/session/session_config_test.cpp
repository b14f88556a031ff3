// The session plugin's config: defaults, every key, and errors that name the JSON path.
#include "session_config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mh;
using namespace mh::session;

namespace {

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::optional<SessionConfig> parse(const std::string& text, Errors& errors) {
  return parse_session_config(Str::of(text), &errors);
}

}  // namespace

TEST_CASE("session config: the defaults") {
  Errors errors;
  for (const char* text : {"{}", "null"}) {
    const auto c = parse(text, errors);
    REQUIRE(c);
    CHECK(c->limits.queue_length == 32);
    CHECK(c->limits.max_sessions == 4096);
    CHECK(c->limits.handshakes_per_second == 200);
    CHECK(c->timers.idle_timeout_ns == 180 * kNsPerSecond);
    CHECK(c->timers.handshake_retry_ns == 1 * kNsPerSecond);
    CHECK(c->timers.handshake_retry_max_ns == 8 * kNsPerSecond);
    CHECK(c->timers.handshake_timeout_ns == 20 * kNsPerSecond);
    CHECK(c->timers.keepalive_ns == 10 * kNsPerSecond);
    CHECK(c->timers.silence_rehandshake_ns == 15 * kNsPerSecond);
  }
  CHECK(errors.lines.empty());
}

TEST_CASE("session config: every key") {
  Errors errors;
  const auto c = parse(R"({"queueLength": 8, "maxSessions": 100, "idleTimeoutMs": 60000, "handshakeRetryMs": 500,
                           "handshakeRetryMaxMs": 4000, "handshakeTimeoutMs": 10000, "keepaliveMs": 5000,
                           "handshakesPerSecond": 50})",
                       errors);
  REQUIRE(c);
  CHECK(c->limits.queue_length == 8);
  CHECK(c->limits.max_sessions == 100);
  CHECK(c->limits.handshakes_per_second == 50);
  CHECK(c->limits.handshake_burst == 50);
  CHECK(c->timers.idle_timeout_ns == 60 * kNsPerSecond);
  CHECK(c->timers.handshake_retry_ns == 500 * kNsPerMs);
  CHECK(c->timers.handshake_retry_max_ns == 4 * kNsPerSecond);
  CHECK(c->timers.handshake_timeout_ns == 10 * kNsPerSecond);
  CHECK(c->timers.keepalive_ns == 5 * kNsPerSecond);
  CHECK(c->timers.silence_rehandshake_ns == 10 * kNsPerSecond);
}

TEST_CASE("session config: errors name the path and what was expected") {
  Errors errors;
  CHECK_FALSE(parse(R"({"queueLength": -1, "maxSessions": "many", "bogus": 1})", errors));
  REQUIRE(errors.lines.size() == 3);
  CHECK(errors.lines[0].rfind("bogus: expected queueLength", 0) == 0);
  CHECK(errors.lines[1] == "queueLength: expected packets between 0 and 4096, got -1");
  CHECK(errors.lines[2] == "maxSessions: expected sessions between 1 and 1000000, got \"many\"");

  errors.lines.clear();
  CHECK_FALSE(parse(R"({"handshakeRetryMs": 9000})", errors));  // past the longest retry
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("handshakeRetryMs <= handshakeRetryMaxMs") != std::string::npos);

  errors.lines.clear();
  CHECK_FALSE(parse("[1]", errors));
  CHECK_FALSE(parse("{", errors));
  CHECK(errors.lines.size() == 2);
}
