// plugins.tun: defaults, and one clear problem per bad key.
#include "tun_config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using namespace mh;
using namespace mh::tun;

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::optional<TunConfig> parse(const std::string& text, Errors* errors) {
  return parse_tun_config(Str::of(text), errors);
}

}  // namespace

TEST_CASE("an empty config takes the defaults") {
  Errors errors;
  const auto config = parse("{ /* comments are fine */ }", &errors);
  REQUIRE(config);
  CHECK(config->name == "meshhost0");
  CHECK(config->mtu == 1280);
  CHECK(config->unreachable_ns == 3'000'000'000ull);
  CHECK(config->path_mtu_ns == 600'000'000'000ull);
  CHECK(parse("null", &errors));
}

TEST_CASE("name, mtu and timers are read") {
  Errors errors;
  const auto config = parse(R"({"name": "mesh-tun_1", "mtu": 1400, "timers": {"unreachableMs": 500, "pathMtuMs": 60000}})",
                            &errors);
  REQUIRE(config);
  CHECK(config->name == "mesh-tun_1");
  CHECK(config->mtu == 1400);
  CHECK(config->unreachable_ns == 500'000'000ull);
  CHECK(config->path_mtu_ns == 60'000'000'000ull);
}

TEST_CASE("bad values are refused with their path") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "a-name-of-16-byte"})", "name: expected an interface name"},
      {R"({"name": ""})", "name: expected"},
      {R"({"name": "a/b"})", "name: expected"},
      {R"({"name": "tun%d"})", "name: expected"},
      {R"({"name": 5})", "name: expected"},
      {R"({"mtu": 1279})", "mtu: expected a number between 1280 and 65535, got 1279"},
      {R"({"mtu": 65536})", "mtu: expected"},
      {R"({"mtu": "1400"})", "mtu: expected"},
      {R"({"timers": {"unreachableMs": 0}})", "timers.unreachableMs: expected"},
      {R"({"timers": {"holdMs": 10}})", "timers.holdMs: expected unreachableMs or pathMtuMs"},
      {R"({"device": "x"})", "device: expected name, mtu or timers"},
      {R"([1])", ": expected an object"},
      {R"({"name": )", ": expected a JSON object"},
  };
  for (const auto& [text, line] : cases) {
    CAPTURE(text);
    Errors errors;
    CHECK_FALSE(parse(text, &errors));
    REQUIRE(errors.lines.size() == 1);
    CHECK(errors.lines[0].find(line) != std::string::npos);
  }
  CHECK(valid_interface_name("fifteen-bytes-x"));
  CHECK_FALSE(valid_interface_name(".."));
}
