// The tun plugin through its descriptor, without root: config errors at create, what
// start refuses before it touches the kernel (no sessions, an MTU the sessions cannot
// carry), tun.status and reconfigure. The device itself: tun_device_test (root).
#include "tun_test_support.hpp"

#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>

#include <string>

namespace {

using namespace mh;

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::string text(Str s) { return std::string(s.data, s.size); }

struct Made {
  explicit Made(const std::string& config) { status = meshhost_plugin_v1()->create(&host, Str::of(config), &plugin); }
  ~Made() {
    if (plugin != nullptr) meshhost_plugin_v1()->destroy(plugin);
  }
  testing::FakeHost host{"tun"};
  Plugin* plugin = nullptr;
  Status status;
};

}  // namespace

TEST_CASE("the descriptor names tun, provides tun and requires sessions") {
  const PluginDescriptor* d = meshhost_plugin_v1();
  CHECK(text(d->name) == "tun");
  REQUIRE(d->provided_count == 1);
  CHECK(text(d->provided[0]) == "tun");
  REQUIRE(d->required_count == 1);
  CHECK(text(d->required[0]) == "sessions");
  Errors errors;
  d->validate(Str(R"({"mtu": 9})"), &errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0] == "mtu: expected a number between 1280 and 65535, got 9");
}

TEST_CASE("create refuses a bad config with one line") {
  Made made(R"({"name": "much-too-long-name"})");
  CHECK_FALSE(made.status.ok());
  CHECK(text(made.status.message).find("name: expected an interface name") == 0);
  CHECK(made.plugin == nullptr);
}

TEST_CASE("start without sessions names the plugin to enable") {
  Made made("{}");
  REQUIRE(made.status.ok());
  const Status started = made.plugin->start();
  CHECK_FALSE(started.ok());
  CHECK(text(started.message).find("enable the session plugin") != std::string::npos);
}

TEST_CASE("start refuses an MTU the sessions cannot carry, before touching the kernel") {
  tun::fakes::FakeSessions sessions;
  sessions.max_payload_bytes = 1303;
  Made made(R"({"mtu": 1400})");
  REQUIRE(made.status.ok());
  made.host.add_service("sessions", &sessions);
  const Status started = made.plugin->start();
  CHECK_FALSE(started.ok());
  CHECK(text(started.message) == "mtu 1400 is more than the sessions carry (1303)");
  CHECK(sessions.receiver() == nullptr);
  CHECK(made.host.fake_loop().watch_count() == 0);
}

TEST_CASE("tun.status answers before start, with the configured device") {
  Made made(R"({"name": "mesh7", "mtu": 1300})");
  REQUIRE(made.status.ok());
  const auto [status, json] = made.host.call_admin("tun.status");
  REQUIRE(status.ok());
  CHECK(json.find("\"name\":\"mesh7\"") != std::string::npos);
  CHECK(json.find("\"mtu\":1300") != std::string::npos);
  CHECK(json.find("\"up\":false") != std::string::npos);
  CHECK(json.find("\"spoofed_source\":0") != std::string::npos);
}

TEST_CASE("reconfigure applies timers, asks a restart for the device, refuses bad configs") {
  Made made(R"({"name": "mesh7"})");
  REQUIRE(made.status.ok());
  Errors errors;
  CHECK(made.plugin->reconfigure(Str(R"({"name": "mesh7", "timers": {"unreachableMs": 100}})"), &errors) ==
        ReconfigureResult::applied);
  CHECK(made.plugin->reconfigure(Str(R"({"name": "mesh8"})"), &errors) == ReconfigureResult::restart_required);
  CHECK(made.plugin->reconfigure(Str(R"({"name": "mesh7", "mtu": 1500})"), &errors) ==
        ReconfigureResult::restart_required);
  CHECK(errors.lines.empty());
  CHECK(made.plugin->reconfigure(Str(R"({"nme": "mesh7"})"), &errors) == ReconfigureResult::error);
  CHECK(errors.lines.size() == 1);
}
