// Tests the hello plugin the way the host drives it — through its exported descriptor —
// with the SDK's FakeHost and FakeLoop, so no socket, thread or root is involved.
#ifdef HELLO_TEST_MAIN
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#endif
#include <doctest/doctest.h>

#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

using nlohmann::json;

constexpr std::uint64_t kSecondNs = 1'000'000'000;

struct Problem {
  std::string path, expected, found;
};

struct Problems final : mh::ErrorSink {
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    list.push_back({std::string(path.data, path.size), std::string(expected.data, expected.size),
                    std::string(found.data, found.size)});
  }
  std::vector<Problem> list;
};

const mh::PluginDescriptor& descriptor() { return *meshhost_plugin_v1(); }

std::vector<Problem> validate(const std::string& config) {
  Problems problems;
  descriptor().validate(mh::Str::of(config), &problems);
  return problems.list;
}

// A created and started hello plugin on a FakeHost; stopped and destroyed at scope exit.
struct Running {
  explicit Running(const std::string& config = "{}") {
    const mh::Status created = descriptor().create(&host, mh::Str::of(config), &plugin);
    REQUIRE(created.ok());
    REQUIRE(plugin->start().ok());
    started = true;
  }
  ~Running() {
    if (started) plugin->stop();
    descriptor().destroy(plugin);
  }
  void stop() {
    plugin->stop();
    started = false;
  }
  json greet(const std::string& params) {
    auto [status, text] = host.call_admin("hello.greet", params);
    REQUIRE(status.ok());
    return json::parse(text);
  }
  mh::testing::FakeHost host{"hello"};
  mh::Plugin* plugin = nullptr;
  bool started = false;
};

}  // namespace

TEST_CASE("the descriptor names the plugin and the ABI it was built for") {
  CHECK(descriptor().abi_major == MESHHOST_ABI_MAJOR);
  CHECK(descriptor().abi_minor == MESHHOST_ABI_MINOR);
  CHECK(std::string(descriptor().name.data, descriptor().name.size) == "hello");
  CHECK(descriptor().struct_size == sizeof(mh::PluginDescriptor));
}

TEST_CASE("validate accepts an empty config and a string greeting") {
  CHECK(validate("{}").empty());
  CHECK(validate(R"({"greeting": "Hi"})").empty());
  CHECK(validate("{ // comments are allowed, as in the host's config\n}").empty());
}

TEST_CASE("validate names the path, what was expected and what was found") {
  const auto wrong_type = validate(R"({"greeting": 5})");
  REQUIRE(wrong_type.size() == 1);
  CHECK(wrong_type[0].path == "greeting");
  CHECK(wrong_type[0].expected == "a string");
  CHECK(wrong_type[0].found == "number");

  const auto unknown = validate(R"({"greting": "typo", "colour": "red"})");
  REQUIRE(unknown.size() == 2);
  CHECK(unknown[0].path == "colour");
  CHECK(unknown[1].path == "greting");

  const auto not_object = validate("[]");
  REQUIRE(not_object.size() == 1);
  CHECK(not_object[0].path == "");
  CHECK(not_object[0].expected == "an object");
}

TEST_CASE("create refuses an invalid config with a one-line reason") {
  mh::testing::FakeHost host{"hello"};
  mh::Plugin* plugin = nullptr;
  const mh::Status status = descriptor().create(&host, R"({"greeting": true})", &plugin);
  CHECK(status.code == mh::StatusCode::invalid_argument);
  CHECK(std::string(status.message.data, status.message.size) == "greeting: expected a string, got boolean");
  CHECK(plugin == nullptr);
}

TEST_CASE("hello.greet greets by name with the configured greeting and the node address") {
  Running hello(R"({"greeting": "Hi"})");
  const json first = hello.greet(R"({"name": "test"})");
  CHECK(first["greeting"] == "Hi, test");
  CHECK(first["address"] == mh::format_address(hello.host.address()));
  CHECK(first["count"] == 1);

  const json second = hello.greet("null");  // params absent
  CHECK(second["greeting"] == "Hi, world");
  CHECK(second["count"] == 2);
  CHECK(hello.host.counter_value("hello_greetings_total") == 2u);
}

TEST_CASE("hello.greet refuses a name that is not a string") {
  Running hello;
  auto [status, text] = hello.host.call_admin("hello.greet", R"({"name": 5})");
  CHECK(status.code == mh::StatusCode::invalid_argument);
  CHECK(std::string(status.message.data, status.message.size) ==
        "hello.greet: params.name: expected a string, got number");
  CHECK(text.empty());
  CHECK(hello.host.counter_value("hello_greetings_total") == 0u);
}

TEST_CASE("the uptime gauge follows the loop's clock once a second") {
  Running hello;
  CHECK(hello.host.gauge_value("hello_uptime_seconds") == 0.0);
  hello.host.fake_loop().advance(3 * kSecondNs + kSecondNs / 2);
  CHECK(hello.host.gauge_value("hello_uptime_seconds") == 3.0);
}

TEST_CASE("start and stop are logged, and stop leaves no timer armed") {
  Running hello;
  CHECK(hello.host.logged("started, greeting \"Hello\""));
  CHECK(hello.host.fake_loop().next_deadline_ns().has_value());
  hello.stop();
  CHECK(hello.host.logged("stopped after 0 greetings"));
  CHECK_FALSE(hello.host.fake_loop().next_deadline_ns().has_value());
}

TEST_CASE("reconfigure applies a new greeting and keeps the old one on error") {
  Running hello;
  Problems problems;
  CHECK(hello.plugin->reconfigure(R"({"greeting": "Howdy"})", &problems) == mh::ReconfigureResult::applied);
  CHECK(hello.greet("{}")["greeting"] == "Howdy, world");

  CHECK(hello.plugin->reconfigure(R"({"greeting": 1})", &problems) == mh::ReconfigureResult::error);
  CHECK(problems.list.size() == 1);
  CHECK(hello.greet("{}")["greeting"] == "Howdy, world");
}
