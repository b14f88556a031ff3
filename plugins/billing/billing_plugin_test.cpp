// The billing plugin through its descriptor, without root: FakeHost, a fake "iptunnel"
// offering traffic hooks, and the FakeLoop's virtual time driving the shapers, flushes and
// (through the plugin's realtime clock) the billing periods. What a gateway operator
// relies on: a rate-limited client is shaped to its rate, a quota blocks at the moment it
// is crossed and lifts at the period's reset, usage and statements add up, a restart
// resumes the totals, and stop hands back every packet the shapers held.
#include "billing.hpp"

#include <meshhost/keys.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/testing/fake_host.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace mh;
using nlohmann::json;

// 2026-05-31 23:59:00 UTC when the FakeLoop starts: a month period ends a minute later.
constexpr std::int64_t kWallAtStartS = 1'780'271'940;
constexpr std::uint64_t kMs = 1'000'000;

struct Errors final : ErrorSink {
  void error(Str path, Str expected, Str found) noexcept override {
    lines.push_back(std::string(path.data, path.size) + ": expected " + std::string(expected.data, expected.size) +
                    ", got " + std::string(found.data, found.size));
  }
  std::vector<std::string> lines;
};

std::string text(Str s) { return std::string(s.data, s.size); }

// iptunnel's side of the hooks: remembers the hook and what it resumed; names plans; and,
// unless `with_notices` is off (an iptunnel older than account.hpp), records the account
// notices billing asks it to carry.
struct FakeHooks final : Service, TrafficHooks, AccountNotices {
  void* query(InterfaceId id) noexcept override {
    if (id == kTrafficHooksInterface) return static_cast<TrafficHooks*>(this);
    if (id == kAccountNoticesInterface && with_notices) return static_cast<AccountNotices*>(this);
    return nullptr;
  }
  void notify_account(const PublicKey& client, const AccountReport& report) noexcept override {
    notices.push_back({client, report});
  }
  Status add_hook(TrafficHook* h) noexcept override {
    hook = h;
    return Status::success();
  }
  void remove_hook(TrafficHook* h) noexcept override {
    if (hook == h) hook = nullptr;
  }
  void resume(TrafficHook*, const TrafficInfo& info, Packet* packet) noexcept override {
    resumed.push_back({info, packet, now != nullptr ? now->now_ns() : 0});
  }
  Str plan_of(const PublicKey& client) noexcept override {
    const auto it = plans.find(format_public_key(client));
    return it == plans.end() ? Str() : Str::of(it->second);
  }

  struct Resumed {
    TrafficInfo info;
    Packet* packet;
    std::uint64_t at_ns;
  };
  struct Notice {
    PublicKey client;
    AccountReport report;
  };
  TrafficHook* hook = nullptr;
  const Loop* now = nullptr;
  std::vector<Resumed> resumed;
  std::map<std::string, std::string> plans;
  bool with_notices = true;
  std::vector<Notice> notices;
};

struct Gateway {
  explicit Gateway(const std::string& config, bool with_iptunnel = true) {
    hooks.now = &host.fake_loop();
    if (with_iptunnel) host.add_service("iptunnel", &hooks);
    status = meshhost_plugin_v1()->create(&host, Str::of(config), &plugin);
    if (plugin != nullptr) {
      static_cast<billing::BillingPlugin*>(plugin)->set_realtime_clock([this] {
        return (kWallAtStartS + wall_step_s) * 1'000'000'000 +
               static_cast<std::int64_t>(host.fake_loop().now_ns() - testing::FakeLoop::kStartNs);
      });
    }
  }
  ~Gateway() {
    if (plugin == nullptr) return;
    if (started) plugin->stop();
    release_resumed();
    meshhost_plugin_v1()->destroy(plugin);
  }

  Status start() {
    const Status s = plugin->start();
    started = s.ok();
    return s;
  }
  void stop() {
    plugin->stop();
    started = false;
  }

  // One IPv4 packet of `size` bytes between the client and `remote`, through the hook as
  // iptunnel sends it; what passes is delivered (released) at once, as iptunnel would.
  TrafficVerdict send(const PublicKey& client, TrafficDirection direction, std::uint32_t size,
                      bool client_opened = true, std::uint8_t remote_third_octet = 113) {
    Packet* p = pool.acquire();
    REQUIRE(p != nullptr);
    std::uint8_t* d = p->append(size);
    REQUIRE(d != nullptr);
    std::memset(d, 0, size);
    d[0] = 0x45;  // IPv4, 20-byte header
    d[2] = static_cast<std::uint8_t>(size >> 8);
    d[3] = static_cast<std::uint8_t>(size);
    const std::uint8_t client_ip[4] = {100, 64, 0, 10};
    const std::uint8_t remote_ip[4] = {203, 0, remote_third_octet, 7};
    const bool up = direction == TrafficDirection::upstream;
    std::memcpy(d + 12, up ? client_ip : remote_ip, 4);
    std::memcpy(d + 16, up ? remote_ip : client_ip, 4);
    TrafficInfo info;
    info.direction = direction;
    info.client = client;
    info.ip_length = size;
    info.client_opened = up || client_opened;
    REQUIRE(hooks.hook != nullptr);
    const TrafficVerdict v = hooks.hook->on_traffic(info, p);
    if (v != TrafficVerdict::queued) p->release();
    // The loop's next turn, as the host's loop takes one between batches of packets: a key
    // billing had no record of gets one in a zero-delay timer. Tests of that window turn it off.
    if (turn_loop) host.fake_loop().advance(0);
    return v;
  }
  std::size_t release_resumed() {
    const std::size_t n = hooks.resumed.size();
    for (auto& r : hooks.resumed) r.packet->release();
    hooks.resumed.clear();
    return n;
  }

  json call(const std::string& method, const json& params = nullptr) {
    const std::pair<Status, std::string> answer = host.call_admin(method, params.dump());
    const std::string message = method + ": " + text(answer.first.message);
    INFO(message);
    REQUIRE(answer.first.ok());
    return json::parse(answer.second);
  }
  Status call_status(const std::string& method, const json& params) {
    return host.call_admin(method, params.dump()).first;
  }
  json usage_of(const PublicKey& key) {
    const json u = call("billing.usage", {{"publicKey", format_public_key(key)}});
    REQUIRE(u["clients"].size() == 1);
    return u["clients"][0];
  }
  void advance_ms(std::uint64_t ms) { host.fake_loop().advance(ms * kMs); }
  // Waits (real time) until the ledger thread has written the flush in progress.
  void wait_flush_seq(std::uint64_t at_least) {
    for (int i = 0; i < 500 && call("billing.status")["flushSeq"].get<std::uint64_t>() < at_least; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(call("billing.status")["flushSeq"].get<std::uint64_t>() >= at_least);
  }

  // Declared first, destroyed last: the plugin hands packets back to it at stop.
  FixedPacketPool pool{1024};
  testing::FakeHost host{"billing"};
  FakeHooks hooks;
  Plugin* plugin = nullptr;
  Status status;
  bool started = false;
  bool turn_loop = true;
  std::int64_t wall_step_s = 0;  // NTP's step of the wall clock, against the loop's clock
};

// The "billing" service's AccountReporter, as iptunnel finds it.
AccountReporter* reporter_of(Gateway& gw) {
  Service* billing = gw.host.lookup("billing");
  REQUIRE(billing != nullptr);
  auto* reporter = static_cast<AccountReporter*>(billing->query(kAccountReporterInterface));
  REQUIRE(reporter != nullptr);
  return reporter;
}

AccountReport report_of(Gateway& gw, const PublicKey& key) {
  AccountReport r;
  REQUIRE(reporter_of(gw)->account_of(key, &r).ok());
  return r;
}

std::string field(const char* data, std::uint8_t size) { return std::string(data, size); }

// Turns the loop until `done` holds, waiting (real time) for the ledger thread's answers,
// which come back as posted tasks; false after 5 s.
template <class Done>
bool settle(Gateway& gw, Done done) {
  for (int i = 0; i < 500; ++i) {
    gw.host.fake_loop().run_pending();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The ledger of a stopped gateway, given to a new one before it starts: a restart.
void carry_ledger(Gateway& from, Gateway& to) {
  std::filesystem::copy_file(from.host.state_path() / "ledger.sqlite", to.host.state_path() / "ledger.sqlite",
                             std::filesystem::copy_options::overwrite_existing);
}

PublicKey new_key() { return generate_node_key().pub; }

}  // namespace

TEST_CASE("the descriptor names billing, provides billing and requires iptunnel") {
  const PluginDescriptor* d = meshhost_plugin_v1();
  CHECK(text(d->name) == "billing");
  CHECK(text(d->kind) == "billing");
  REQUIRE(d->provided_count == 1);
  CHECK(text(d->provided[0]) == "billing");
  REQUIRE(d->required_count == 1);
  CHECK(text(d->required[0]) == "iptunnel");
  CHECK(json::parse(text(d->config_schema))["properties"].contains("plans"));
  CHECK(json::parse(text(d->config_schema))["properties"]["hourlyRetentionDays"]["default"] == 400);
  Errors errors;
  d->validate(Str(R"({"plans": {"basic": {}}, "defaultPlan": "gold"})"), &errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("defaultPlan: expected one of plans (basic)") == 0);
}

TEST_CASE("start without iptunnel names the plugin to enable") {
  Gateway gw(R"({"plans": {"basic": {}}, "defaultPlan": "basic"})", false);
  REQUIRE(gw.status.ok());
  const Status s = gw.start();
  CHECK_FALSE(s.ok());
  CHECK(text(s.message).find("enable the iptunnel plugin") != std::string::npos);
}

TEST_CASE("a 1 Mbit/s plan queues packets and releases them at the rate, other directions unaffected") {
  Gateway gw(R"({"plans": {"slow": {"rateLimit": {"upBps": 1000000}}}, "defaultPlan": "slow"})");
  REQUIRE(gw.status.ok());
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  constexpr std::uint32_t kSize = 1250;  // 10 ms at 1 Mbit/s
  constexpr int kSent = 50;
  int passed = 0, queued = 0;
  for (int i = 0; i < kSent; ++i) {
    const TrafficVerdict v = gw.send(client, TrafficDirection::upstream, kSize);
    passed += v == TrafficVerdict::pass;
    queued += v == TrafficVerdict::queued;
  }
  CHECK(passed + queued == kSent);
  CHECK(passed > 0);   // the burst
  CHECK(queued > 30);  // the rest waits rather than being dropped
  // Downstream has no limit: it passes at once while upstream waits.
  CHECK(gw.send(client, TrafficDirection::downstream, kSize) == TrafficVerdict::pass);

  gw.advance_ms(200);
  const std::size_t after_200ms = gw.hooks.resumed.size();
  CHECK(after_200ms >= 19);
  CHECK(after_200ms <= 21);
  // Released in order, spaced by the rate.
  for (std::size_t i = 1; i < gw.hooks.resumed.size(); ++i) {
    const std::uint64_t gap = gw.hooks.resumed[i].at_ns - gw.hooks.resumed[i - 1].at_ns;
    CHECK(gap >= 9 * kMs);
    CHECK(gap <= 11 * kMs);
    CHECK(gw.hooks.resumed[i].info.ip_length == kSize);
    CHECK(gw.hooks.resumed[i].info.direction == TrafficDirection::upstream);
  }
  gw.release_resumed();
  gw.advance_ms(1000);
  CHECK(gw.release_resumed() + after_200ms == static_cast<std::size_t>(queued));

  const json u = gw.usage_of(client);
  CHECK(u["plan"] == "slow");
  CHECK(u["rateUpBps"] == 1000000);
  CHECK(u["rateDownBps"].is_null());
  CHECK(u["bytesUp"] == kSent * kSize);  // counted as they left
  CHECK(u["packetsUp"] == kSent);
  CHECK(u["bytesDown"] == kSize);
  CHECK(u["droppedPackets"] == 0);
  CHECK(u["quotaBytes"].is_null());
}

TEST_CASE("a full queue drops and counts, and stop hands back every packet held") {
  Gateway gw(R"({"plans": {"slow": {"rateLimit": {"upBps": 8000, "downBps": 8000}}}, "defaultPlan": "slow"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  int dropped = 0, queued = 0;
  for (int i = 0; i < 200; ++i) {
    const TrafficVerdict v = gw.send(client, TrafficDirection::upstream, 1000);
    dropped += v == TrafficVerdict::drop;
    queued += v == TrafficVerdict::queued;
  }
  CHECK(queued > 0);
  CHECK(dropped > 0);
  CHECK(gw.send(client, TrafficDirection::downstream, 1000) != TrafficVerdict::drop);
  const std::string k = format_public_key(client);
  CHECK(gw.host.counter_value("meshhost_billing_dropped_total", {{"client", k}, {"reason", "queue_full"}}) ==
        static_cast<std::uint64_t>(dropped));
  CHECK(gw.usage_of(client)["droppedPackets"] == dropped);
  CHECK(gw.pool.in_use() > 0);
  gw.stop();
  gw.release_resumed();
  CHECK(gw.pool.in_use() == 0);
  CHECK(gw.hooks.hook == nullptr);
  CHECK(gw.host.fake_loop().timer_count() == 0);
}

TEST_CASE("a quota blocks at the moment it is crossed and lifts at the period's reset") {
  Gateway gw(R"({"flushIntervalMs": 1000,
                 "plans": {"capped": {"quotaBytes": 10000, "overQuota": "block",
                                      "price": {"perGB": 2000000, "currency": "EUR"}}},
                 "defaultPlan": "capped"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  for (int i = 0; i < 10; ++i) CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  CHECK(gw.usage_of(client)["state"] == "under");  // exactly on the quota still fits
  CHECK(gw.usage_of(client)["quotaLeftBytes"] == 0);
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::drop);
  CHECK(gw.send(client, TrafficDirection::downstream, 100) == TrafficVerdict::drop);
  // Unsolicited traffic is not billed, so not held to the quota either.
  CHECK(gw.send(client, TrafficDirection::downstream, 100, false) == TrafficVerdict::pass);

  json u = gw.usage_of(client);
  CHECK(u["period"] == "2026-05");
  CHECK(u["state"] == "over");
  CHECK(u["action"] == "block");
  CHECK(u["quotaBytes"] == 10000);
  CHECK(u["quotaLeftBytes"] == 0);
  CHECK(u["billableBytes"] == 10000);
  CHECK(u["unbilledBytes"] == 100);
  CHECK(u["amountMicros"] == 20);  // 10^4 bytes at 2 EUR per 10^9
  CHECK(u["currency"] == "EUR");
  CHECK(u["droppedPackets"] == 2);
  const std::string k = format_public_key(client);
  CHECK(gw.host.counter_value("meshhost_billing_dropped_total", {{"client", k}, {"reason", "quota"}}) == 2);
  CHECK(gw.host.gauge_value("meshhost_billing_quota_left_bytes", {{"client", k}}) == 0.0);
  CHECK(gw.host.counter_value("meshhost_billing_bytes_total",
                              {{"client", k}, {"direction", "up"}, {"kind", "billable"}}) == 10000);

  gw.advance_ms(61'000);  // into June: the flush timer starts the new period
  u = gw.usage_of(client);
  CHECK(u["period"] == "2026-06");
  CHECK(u["state"] == "under");
  CHECK(u["billableBytes"] == 0);
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);

  // May is over: its totals, from the plugin or the ledger, still add up.
  const json may = gw.call("billing.usage", {{"period", "2026-05"}});
  REQUIRE(may["clients"].size() == 1);
  CHECK(may["clients"][0]["billableBytes"] == 10000);
  CHECK(may["clients"][0]["state"] == "over");
}

TEST_CASE("over quota with throttle, a client is shaped to the throttle rate until the period ends") {
  Gateway gw(R"({"flushIntervalMs": 1000,
                 "plans": {"capped": {"quotaBytes": 3000, "overQuota": {"throttleBps": 80000}}},
                 "defaultPlan": "capped"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  for (int i = 0; i < 3; ++i) CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  CHECK(gw.usage_of(client)["rateUpBps"].is_null());
  int queued = 0;
  for (int i = 0; i < 40; ++i) queued += gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::queued;
  CHECK(queued > 0);
  json u = gw.usage_of(client);
  CHECK(u["state"] == "over");
  CHECK(u["action"] == "throttle");
  CHECK(u["rateUpBps"] == 80000);
  CHECK(u["rateDownBps"] == 80000);
  gw.advance_ms(100);  // 80 kbit/s: one 1000-byte packet every 100 ms
  CHECK(gw.hooks.resumed.size() >= 1);
  CHECK(gw.hooks.resumed.size() <= 2);
  gw.advance_ms(61'000);  // June: the throttle lifts with the quota
  gw.release_resumed();
  u = gw.usage_of(client);
  CHECK(u["state"] == "under");
  CHECK(u["rateUpBps"].is_null());
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  CHECK_FALSE(gw.call_status("billing.usage", {{"period", "May"}}).ok());
}

TEST_CASE("usage and statements add up, free prefixes and unsolicited traffic unbilled") {
  Gateway gw(R"({"plans": {
                   "basic": {"price": {"perGB": 1000000, "currency": "EUR"}, "freePrefixes": ["203.0.99.0/24"]},
                   "gold": {"price": {"perGB": 3000000, "currency": "EUR"}}},
                 "defaultPlan": "basic"})");
  const PublicKey a = new_key(), b = new_key();
  gw.hooks.plans[format_public_key(b)] = "gold";
  REQUIRE(gw.start().ok());
  for (int i = 0; i < 7; ++i) gw.send(a, TrafficDirection::upstream, 1500);
  for (int i = 0; i < 3; ++i) gw.send(a, TrafficDirection::downstream, 900);
  gw.send(a, TrafficDirection::upstream, 400, true, 99);     // to the free prefix
  gw.send(a, TrafficDirection::downstream, 300, false);      // unsolicited
  for (int i = 0; i < 5; ++i) gw.send(b, TrafficDirection::downstream, 1200);

  const json usage = gw.call("billing.usage");
  REQUIRE(usage["clients"].size() == 2);
  std::uint64_t billable = 0, unbilled = 0, up = 0, down = 0, amount = 0;
  for (const json& c : usage["clients"]) {
    billable += c["billableBytes"].get<std::uint64_t>();
    unbilled += c["unbilledBytes"].get<std::uint64_t>();
    up += c["bytesUp"].get<std::uint64_t>();
    down += c["bytesDown"].get<std::uint64_t>();
    amount += c["amountMicros"].get<std::uint64_t>();
    CHECK(c["bytesUp"].get<std::uint64_t>() + c["bytesDown"].get<std::uint64_t>() ==
          c["billableBytes"].get<std::uint64_t>() + c["unbilledBytes"].get<std::uint64_t>());
  }
  const json ua = gw.usage_of(a);
  CHECK(ua["plan"] == "basic");
  CHECK(ua["billableBytes"] == 7 * 1500 + 3 * 900);
  CHECK(ua["unbilledBytes"] == 400 + 300);
  CHECK(gw.usage_of(b)["plan"] == "gold");
  CHECK(gw.usage_of(b)["amountMicros"] == 18);  // 6000 bytes at 3 EUR per 10^9

  const json st = gw.call("billing.statement", {{"period", "2026-05"}});
  CHECK(st["period"] == "2026-05");
  CHECK(st["currency"] == "EUR");
  REQUIRE(st["clients"].size() == 2);
  CHECK(st["totals"]["billableBytes"] == billable);
  CHECK(st["totals"]["unbilledBytes"] == unbilled);
  CHECK(st["totals"]["bytesUp"] == up);
  CHECK(st["totals"]["bytesDown"] == down);
  CHECK(st["totals"]["amountMicros"] == amount);

  const json csv = gw.call("billing.statement", {{"period", "2026-05"}, {"format", "csv"}});
  std::istringstream lines(csv["csv"].get<std::string>());
  std::string line;
  std::getline(lines, line);
  CHECK(line == "publicKey,plan,bytes_up,bytes_down,billable_bytes,unbilled_bytes,amount_micros");
  std::uint64_t sums[5] = {};
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  REQUIRE(rows.size() == 3);
  for (std::size_t r = 0; r < 2; ++r) {
    std::istringstream cells(rows[r]);
    std::string cell;
    std::getline(cells, cell, ',');
    std::getline(cells, cell, ',');
    for (auto& sum : sums) {
      std::getline(cells, cell, ',');
      sum += std::stoull(cell);
    }
  }
  CHECK(rows[2] == "total,," + std::to_string(sums[0]) + "," + std::to_string(sums[1]) + "," +
                       std::to_string(sums[2]) + "," + std::to_string(sums[3]) + "," + std::to_string(sums[4]));
  CHECK(sums[2] == billable);

  CHECK_FALSE(gw.call_status("billing.statement", {{"period", "2026-13"}}).ok());
  CHECK_FALSE(gw.call_status("billing.statement", {{"period", "2026-05"}, {"format", "xml"}}).ok());
}

TEST_CASE("the ledger keeps the totals: a restart resumes the current period") {
  const std::string config = R"({"flushIntervalMs": 500, "plans": {"capped": {"quotaBytes": 5000}},
                                 "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  std::filesystem::path saved = std::filesystem::temp_directory_path() /
                                ("billing_plugin_test_" + std::to_string(::getpid()) + ".sqlite");
  {
    Gateway gw(config);
    REQUIRE(gw.start().ok());
    for (int i = 0; i < 3; ++i) gw.send(client, TrafficDirection::upstream, 1000);
    gw.advance_ms(600);
    gw.wait_flush_seq(1);
    const json status = gw.call("billing.status");
    CHECK(status["lastError"] == "");
    CHECK(status["clients"] == 1);
    CHECK(status["timeZone"] == "UTC");
    CHECK(status["flushIntervalMs"] == 500);
    gw.send(client, TrafficDirection::upstream, 1000);  // written by stop's last flush
    gw.stop();
    std::filesystem::copy_file(gw.host.state_path() / "ledger.sqlite", saved,
                               std::filesystem::copy_options::overwrite_existing);
  }
  Gateway gw(config);
  std::filesystem::copy_file(saved, gw.host.state_path() / "ledger.sqlite");
  std::filesystem::remove(saved);
  REQUIRE(gw.start().ok());
  CHECK(gw.call("billing.status")["flushSeq"].get<std::uint64_t>() >= 2);
  json u = gw.usage_of(client);
  CHECK(u["billableBytes"] == 4000);
  CHECK(u["packetsUp"] == 4);
  CHECK(u["quotaLeftBytes"] == 1000);
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::drop);
}

TEST_CASE("a client over a block quota is still over after a restart, though its bytes are below it") {
  const std::string config = R"({"flushIntervalMs": 500,
                                 "plans": {"capped": {"quotaBytes": 10000, "overQuota": "block"}},
                                 "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  std::filesystem::path saved = std::filesystem::temp_directory_path() /
                                ("billing_plugin_test_over_" + std::to_string(::getpid()) + ".sqlite");
  {
    Gateway gw(config);
    REQUIRE(gw.start().ok());
    for (int i = 0; i < 9; ++i) CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
    gw.advance_ms(600);
    gw.wait_flush_seq(1);
    // Crosses, blocked and not counted: nothing but the crossing is left for stop's flush.
    CHECK(gw.send(client, TrafficDirection::upstream, 1500) == TrafficVerdict::drop);
    CHECK(gw.usage_of(client)["state"] == "over");
    CHECK(gw.host.logged("crossed the quota"));
    gw.stop();
    std::filesystem::copy_file(gw.host.state_path() / "ledger.sqlite", saved,
                               std::filesystem::copy_options::overwrite_existing);
  }
  Gateway gw(config);
  std::filesystem::copy_file(saved, gw.host.state_path() / "ledger.sqlite");
  std::filesystem::remove(saved);
  REQUIRE(gw.start().ok());
  json u = gw.usage_of(client);
  CHECK(u["billableBytes"] == 9000);
  CHECK(u["state"] == "over");
  CHECK(u["action"] == "block");
  CHECK(u["quotaLeftBytes"] == 0);
  // 500 bytes would fit in the 1000 left, but the client crossed before the restart.
  CHECK(gw.send(client, TrafficDirection::upstream, 500) == TrafficVerdict::drop);
  CHECK(gw.send(client, TrafficDirection::downstream, 100) == TrafficVerdict::drop);
  u = gw.usage_of(client);
  CHECK(u["state"] == "over");
  CHECK(u["billableBytes"] == 9000);
  CHECK(u["droppedPackets"] == 2);
  CHECK_FALSE(gw.host.logged("crossed the quota"));  // noted once, before the restart
}

TEST_CASE("setPlan and reconfigure change a client's plan live; a new time zone needs a restart") {
  Gateway gw(R"({"plans": {"free": {}, "slow": {"rateLimit": {"upBps": 1000000}}}, "defaultPlan": "free"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  gw.hooks.plans[format_public_key(client)] = "platinum";  // billing knows no such plan
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  CHECK(gw.host.logged("platinum", LogLevel::warn));
  CHECK(gw.usage_of(client)["plan"] == "free");

  const Status unknown = gw.call_status("billing.setPlan", {{"publicKey", format_public_key(client)}, {"plan", "gold"}});
  CHECK_FALSE(unknown.ok());
  CHECK(text(unknown.message).find("free, slow") != std::string::npos);
  const json set = gw.call("billing.setPlan", {{"publicKey", format_public_key(client)}, {"plan", "slow"}});
  CHECK(set["plan"] == "slow");
  CHECK(gw.usage_of(client)["rateUpBps"] == 1000000);
  CHECK(gw.usage_of(client)["bytesUp"] == 1000);  // the period's totals stay

  Errors errors;
  CHECK(gw.plugin->reconfigure(Str(R"({"plans": {"free": {}, "slow": {"rateLimit": {"upBps": 2000000}}},
                                       "defaultPlan": "free", "flushIntervalMs": 2000})"),
                               &errors) == ReconfigureResult::applied);
  CHECK(gw.usage_of(client)["rateUpBps"] == 2000000);
  CHECK(gw.call("billing.status")["flushIntervalMs"] == 2000);
  CHECK(gw.plugin->reconfigure(Str(R"({"timeZone": "Europe/Berlin", "plans": {"free": {}}, "defaultPlan": "free"})"),
                               &errors) == ReconfigureResult::restart_required);
  CHECK(gw.plugin->reconfigure(Str(R"({"plans": {}})"), &errors) == ReconfigureResult::error);
}

namespace {

TEST_CASE("packets queued together cannot overshoot the quota: it is checked again as each leaves") {
  Gateway gw(R"({"flushIntervalMs": 1000,
                 "plans": {"capped": {"quotaBytes": 20000, "overQuota": "block",
                                      "rateLimit": {"upBps": 8000}}},
                 "defaultPlan": "capped"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  int queued = 0;
  for (int i = 0; i < 60; ++i) {
    if (gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::queued) ++queued;
  }
  CHECK(queued > 20);  // more than the quota waits in the queue
  gw.advance_ms(50'000);
  const json u = gw.usage_of(client);
  CHECK(u["billableBytes"].get<std::uint64_t>() <= 20000);
  CHECK(u["state"] == "over");
  CHECK(u["droppedPackets"].get<std::uint64_t>() > 0);
}

TEST_CASE("all shapers together hold a bounded share of iptunnel's shared pools") {
  Gateway gw(R"({"plans": {"slow": {"rateLimit": {"upBps": 8000}}}, "defaultPlan": "slow"})");
  REQUIRE(gw.start().ok());
  std::size_t held = 0;
  for (int c = 0; c < 20; ++c) {
    const PublicKey k = new_key();
    for (int i = 0; i < 300; ++i) {
      if (gw.send(k, TrafficDirection::upstream, 100) == TrafficVerdict::queued) ++held;
    }
  }
  // 256 upstream, plus at most one per client that found its own queue empty.
  CHECK(held <= 256 + 20);
}

}  // namespace

// ---- AccountReporter and the notices iptunnel carries (account.hpp) ----

TEST_CASE("the billing service reports a client's account from memory, as billing.usage does") {
  Gateway gw(R"({"plans": {
                   "metered": {"quotaBytes": 100000, "overQuota": {"throttleBps": 64000},
                               "rateLimit": {"upBps": 2000000, "downBps": 8000000},
                               "price": {"perGB": 2000000, "currency": "EUR"}, "freePrefixes": ["203.0.99.0/24"]},
                   "free": {}},
                 "defaultPlan": "free"})");
  const PublicKey client = new_key(), stranger = new_key();
  gw.hooks.plans[format_public_key(client)] = "metered";
  AccountReport before;
  CHECK(reporter_of(gw)->account_of(client, &before).code == StatusCode::unavailable);  // not started
  REQUIRE(gw.start().ok());
  gw.send(client, TrafficDirection::upstream, 1000);
  gw.send(client, TrafficDirection::downstream, 1500);
  gw.send(client, TrafficDirection::downstream, 1500);
  gw.send(client, TrafficDirection::upstream, 400, true, 99);  // free prefix
  gw.send(client, TrafficDirection::downstream, 200, false);   // unsolicited
  const std::uint64_t reads = gw.call("billing.status")["ledgerReads"];

  const AccountReport r = report_of(gw, client);
  CHECK(r.state == AccountState::open);
  CHECK(field(r.plan, r.plan_size) == "metered");
  CHECK(field(r.currency, r.currency_size) == "EUR");
  CHECK(r.period_start_unix == 1'777'593'600);  // 2026-05-01T00:00:00Z
  CHECK(r.period_end_unix == 1'780'272'000);    // 2026-06-01T00:00:00Z
  CHECK(r.quota_bytes == 100000);
  CHECK(r.billable_bytes == 4000);
  CHECK(r.bytes_up == 1400);
  CHECK(r.bytes_down == 3200);
  CHECK(r.unbilled_bytes == 600);
  CHECK(r.rate_up_bps == 2000000);
  CHECK(r.rate_down_bps == 8000000);
  CHECK(r.throttle_bps == 64000);
  CHECK(r.price_micro_per_gb == 2000000);
  CHECK(r.amount_micro == 8);  // 4000 bytes at 2 EUR per 10^9
  const json u = gw.usage_of(client);
  CHECK(u["billableBytes"] == r.billable_bytes);
  CHECK(u["amountMicros"] == r.amount_micro);
  CHECK(u["periodStart"] == r.period_start_unix);

  // A key billing has no record of: its plan (the default), nothing used.
  const AccountReport s = report_of(gw, stranger);
  CHECK(field(s.plan, s.plan_size) == "free");
  CHECK(s.currency_size == 0);
  CHECK(s.quota_bytes == 0);
  CHECK(s.billable_bytes == 0);
  CHECK(s.throttle_bps == 0);
  CHECK(s.state == AccountState::open);
  CHECK(gw.call("billing.status")["ledgerReads"] == reads);  // no database read for any of it
  CHECK(reporter_of(gw)->account_of(client, nullptr).code == StatusCode::invalid_argument);
}

TEST_CASE("iptunnel is asked to tell a client when it is blocked, and when it is open again") {
  Gateway gw(R"({"plans": {"capped": {"quotaBytes": 3000, "overQuota": "block"},
                           "big": {"quotaBytes": 100000}},
                 "defaultPlan": "capped"})");
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key(), other = new_key();
  for (int i = 0; i < 3; ++i) gw.send(client, TrafficDirection::upstream, 1000);
  gw.send(other, TrafficDirection::upstream, 1000);
  CHECK(gw.hooks.notices.empty());  // exactly on the quota: not over, nothing to tell
  CHECK(gw.send(client, TrafficDirection::upstream, 20) == TrafficVerdict::drop);
  REQUIRE(gw.hooks.notices.size() == 1);
  CHECK(std::memcmp(gw.hooks.notices[0].client.bytes, client.bytes, kPublicKeySize) == 0);
  CHECK(gw.hooks.notices[0].report.state == AccountState::blocked);
  CHECK(gw.hooks.notices[0].report.billable_bytes == 3000);
  CHECK(gw.hooks.notices[0].report.quota_bytes == 3000);
  CHECK(report_of(gw, client).state == AccountState::blocked);
  gw.send(client, TrafficDirection::upstream, 1000);  // still blocked: told once
  CHECK(gw.hooks.notices.size() == 1);

  // A larger quota at run time opens it again, and says so.
  gw.call("billing.setPlan", {{"publicKey", format_public_key(client)}, {"plan", "big"}});
  REQUIRE(gw.hooks.notices.size() == 2);
  CHECK(gw.hooks.notices[1].report.state == AccountState::open);
  CHECK(field(gw.hooks.notices[1].report.plan, gw.hooks.notices[1].report.plan_size) == "big");
  gw.call("billing.setPlan", {{"publicKey", format_public_key(client)}, {"plan", "capped"}});
  CHECK(gw.hooks.notices.size() == 2);  // the same usage, a smaller quota: over at the next packet
  CHECK(gw.send(client, TrafficDirection::upstream, 20) == TrafficVerdict::drop);
  REQUIRE(gw.hooks.notices.size() == 3);
  CHECK(gw.hooks.notices[2].report.state == AccountState::blocked);

  // The period's reset opens it; the other client, never over, is told nothing.
  gw.advance_ms(61'000);
  REQUIRE(gw.hooks.notices.size() == 4);
  CHECK(gw.hooks.notices[3].report.state == AccountState::open);
  CHECK(gw.hooks.notices[3].report.billable_bytes == 0);
  CHECK(gw.hooks.notices[3].report.period_start_unix == 1'780'272'000);
  for (const auto& n : gw.hooks.notices) CHECK(std::memcmp(n.client.bytes, client.bytes, kPublicKeySize) == 0);
}

TEST_CASE("a throttled client is told so; an iptunnel without notices is simply not asked") {
  const std::string config = R"({"plans": {"capped": {"quotaBytes": 2000, "overQuota": {"throttleBps": 64000}}},
                                 "defaultPlan": "capped"})";
  {
    Gateway gw(config);
    REQUIRE(gw.start().ok());
    const PublicKey client = new_key();
    for (int i = 0; i < 3; ++i) gw.send(client, TrafficDirection::downstream, 1000);
    REQUIRE(gw.hooks.notices.size() == 1);
    CHECK(gw.hooks.notices[0].report.state == AccountState::throttled);
    CHECK(gw.hooks.notices[0].report.throttle_bps == 64000);
    CHECK(report_of(gw, client).state == AccountState::throttled);
  }
  Gateway gw(config);
  gw.hooks.with_notices = false;
  REQUIRE(gw.start().ok());
  const PublicKey client = new_key();
  for (int i = 0; i < 3; ++i) gw.send(client, TrafficDirection::downstream, 1000);
  CHECK(gw.hooks.notices.empty());
  CHECK(report_of(gw, client).state == AccountState::throttled);
  CHECK(gw.usage_of(client)["action"] == "throttle");
}

// ---- admin reads of the current period ----

TEST_CASE("usage of the current period and status come from memory; a past period reads the ledger") {
  Gateway gw(R"({"flushIntervalMs": 1000, "plans": {"basic": {}}, "defaultPlan": "basic"})");
  REQUIRE(gw.start().ok());
  const PublicKey a = new_key(), b = new_key();
  gw.send(a, TrafficDirection::upstream, 1000);
  gw.advance_ms(1000);
  gw.wait_flush_seq(1);
  gw.send(a, TrafficDirection::upstream, 500);  // not flushed yet
  gw.send(b, TrafficDirection::downstream, 700);
  const std::uint64_t reads = gw.call("billing.status")["ledgerReads"];
  CHECK(gw.usage_of(a)["bytesUp"] == 1500);
  CHECK(gw.call("billing.usage")["clients"].size() == 2);
  const json may = gw.call("billing.usage", {{"period", "2026-05"}});
  CHECK(may["clients"].size() == 2);
  const json may_a = gw.call("billing.usage", {{"period", "2026-05"}, {"publicKey", format_public_key(a)}});
  REQUIRE(may_a["clients"].size() == 1);
  CHECK(may_a["clients"][0]["bytesUp"] == 1500);
  CHECK(gw.usage_of(new_key())["bytesUp"] == 0);  // no record: nothing used
  CHECK(gw.call("billing.status")["ledgerReads"] == reads);

  gw.advance_ms(61'000);  // June: May is a past period now
  const json past = gw.call("billing.usage", {{"period", "2026-05"}});
  CHECK(gw.call("billing.status")["ledgerReads"].get<std::uint64_t>() > reads);
  REQUIRE(past["clients"].size() == 2);
  const json june = gw.call("billing.usage", {{"period", "2026-06"}});
  CHECK(june["clients"].size() == 2);
}

// ---- a key's first packets ----

TEST_CASE("a key's first packets pass while its record is made off the data path, then all are counted") {
  Gateway gw(R"({"plans": {"slow": {"rateLimit": {"upBps": 8000}, "freePrefixes": ["203.0.99.0/24"]}},
                 "defaultPlan": "slow"})");
  REQUIRE(gw.start().ok());
  gw.turn_loop = false;  // one burst within a loop turn
  const PublicKey client = new_key();
  for (int i = 0; i < 10; ++i) CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  gw.send(client, TrafficDirection::upstream, 300, true, 99);  // free prefix
  gw.send(client, TrafficDirection::downstream, 200, false);   // unsolicited
  // No record, no metric yet: nothing was allocated or registered on the data path.
  CHECK(gw.call("billing.status")["clients"] == 0);
  const std::string k = format_public_key(client);
  CHECK_FALSE(gw.host.counter_value("meshhost_billing_bytes_total",
                                    {{"client", k}, {"direction", "up"}, {"kind", "billable"}}).has_value());
  gw.host.fake_loop().advance(0);  // the loop's next turn
  CHECK(gw.call("billing.status")["clients"] == 1);
  json u = gw.usage_of(client);
  CHECK(u["billableBytes"] == 10000);
  CHECK(u["unbilledBytes"] == 500);
  CHECK(u["packetsUp"] == 11);
  CHECK(u["packetsDown"] == 1);
  CHECK(gw.host.counter_value("meshhost_billing_bytes_total",
                              {{"client", k}, {"direction", "up"}, {"kind", "billable"}}) == 10000);
  CHECK(gw.call("billing.status")["unmeteredPackets"] == 0);
  // Now it is shaped to its plan: past the 16 KiB burst, packets wait.
  int queued = 0;
  for (int i = 0; i < 30; ++i) queued += gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::queued;
  CHECK(queued > 0);
}

TEST_CASE("the pending slots are bounded: what does not fit passes unmetered and is counted") {
  Gateway gw(R"({"plans": {"basic": {}}, "defaultPlan": "basic"})");
  REQUIRE(gw.start().ok());
  gw.turn_loop = false;
  std::vector<PublicKey> keys;
  for (int i = 0; i < 9; ++i) keys.push_back(new_key());
  for (int i = 0; i < 70; ++i) gw.send(keys[0], TrafficDirection::upstream, 100);  // 64 held, 6 not
  for (std::size_t c = 1; c < keys.size(); ++c) gw.send(keys[c], TrafficDirection::upstream, 100);  // 8 slots
  gw.host.fake_loop().advance(0);
  CHECK(gw.call("billing.status")["clients"] == 8);
  CHECK(gw.call("billing.status")["unmeteredPackets"] == 6 + 1);
  CHECK(gw.usage_of(keys[0])["packetsUp"] == 64);
  // The slots are free again for the next new keys.
  gw.send(keys[8], TrafficDirection::upstream, 100);
  gw.host.fake_loop().advance(0);
  CHECK(gw.call("billing.status")["clients"] == 9);
  CHECK(gw.usage_of(keys[8])["packetsUp"] == 1);
}

// ---- steps of the wall clock ----

TEST_CASE("a wall clock stepped into another period closes the old one and resumes the new one's totals") {
  // kWallAtStartS + 2 days: 2026-06-02, June. The gateway booted believing it is late May.
  constexpr std::int64_t kTwoDays = 2 * 86'400;
  const std::string config = R"({"flushIntervalMs": 1000, "plans": {"capped": {"quotaBytes": 10000}},
                                 "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  Gateway first(config);
  first.wall_step_s = kTwoDays;  // a first run with the right clock, in June
  REQUIRE(first.start().ok());
  for (int i = 0; i < 6; ++i) first.send(client, TrafficDirection::upstream, 1000);
  CHECK(first.usage_of(client)["period"] == "2026-06");
  first.stop();

  Gateway gw(config);
  carry_ledger(first, gw);
  REQUIRE(gw.start().ok());  // the wrong clock: still May
  gw.send(client, TrafficDirection::upstream, 1000);
  CHECK(gw.usage_of(client)["period"] == "2026-05");

  gw.wall_step_s = kTwoDays;  // NTP steps the clock forward
  gw.advance_ms(1000);        // the flush sees it
  json u = gw.usage_of(client);
  CHECK(u["period"] == "2026-06");
  gw.send(client, TrafficDirection::upstream, 500);  // counted while June's totals load
  REQUIRE(settle(gw, [&] { return gw.usage_of(client)["billableBytes"] == 6500; }));
  u = gw.usage_of(client);
  CHECK(u["quotaLeftBytes"] == 3500);
  CHECK(u["periodStart"] == 1'780'272'000);
  // May was closed in the ledger with what was counted in it.
  gw.advance_ms(1000);
  gw.wait_flush_seq(3);
  const json may = gw.call("billing.usage", {{"period", "2026-05"}, {"publicKey", format_public_key(client)}});
  REQUIRE(may["clients"].size() == 1);
  CHECK(may["clients"][0]["billableBytes"] == 1000);
  // Nothing counted twice: what the load saw of this run's June is not added again.
  for (int i = 0; i < 3; ++i) gw.send(client, TrafficDirection::upstream, 1000);
  CHECK(gw.usage_of(client)["billableBytes"] == 9500);
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::drop);  // June's quota

  // And back: a clock stepped backward returns to May, with May's totals.
  gw.wall_step_s = 0;
  gw.advance_ms(1000);
  CHECK(gw.usage_of(client)["period"] == "2026-05");
  REQUIRE(settle(gw, [&] { return gw.usage_of(client)["billableBytes"] == 1000; }));
  CHECK(gw.usage_of(client)["state"] == "under");
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  gw.stop();
  Gateway after(config);
  carry_ledger(gw, after);
  after.wall_step_s = kTwoDays;
  REQUIRE(after.start().ok());
  u = after.usage_of(client);
  CHECK(u["period"] == "2026-06");
  CHECK(u["billableBytes"] == 9500);
  CHECK(u["state"] == "over");  // the crossing was recorded
}

TEST_CASE("a clock step into a period the ledger has crossed blocks again, and the client is told") {
  constexpr std::int64_t kTwoDays = 2 * 86'400;
  const std::string config = R"({"flushIntervalMs": 1000, "plans": {"capped": {"quotaBytes": 3000}},
                                 "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  Gateway first(config);
  first.wall_step_s = kTwoDays;
  REQUIRE(first.start().ok());
  for (int i = 0; i < 3; ++i) first.send(client, TrafficDirection::upstream, 1000);
  CHECK(first.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::drop);
  first.stop();

  Gateway gw(config);
  carry_ledger(first, gw);
  REQUIRE(gw.start().ok());
  CHECK(gw.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);  // May: open
  gw.wall_step_s = kTwoDays;
  gw.advance_ms(1000);
  REQUIRE(settle(gw, [&] { return gw.usage_of(client)["state"] == "over"; }));
  CHECK(gw.send(client, TrafficDirection::upstream, 100) == TrafficVerdict::drop);
  REQUIRE_FALSE(gw.hooks.notices.empty());
  CHECK(gw.hooks.notices.back().report.state == AccountState::blocked);
  CHECK(gw.hooks.notices.back().report.period_start_unix == 1'780'272'000);
}

// ---- exactly on the quota (meter.hpp's rule) ----

TEST_CASE("billable bytes exactly on the quota are not over: live, after a restart, and once the period is past") {
  const std::string config = R"({"flushIntervalMs": 500, "plans": {"capped": {"quotaBytes": 3000}},
                                 "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  Gateway first(config);
  REQUIRE(first.start().ok());
  for (int i = 0; i < 3; ++i) CHECK(first.send(client, TrafficDirection::upstream, 1000) == TrafficVerdict::pass);
  json u = first.usage_of(client);
  CHECK(u["state"] == "under");
  CHECK(u["quotaLeftBytes"] == 0);
  CHECK(report_of(first, client).state == AccountState::open);
  first.stop();

  Gateway gw(config);
  carry_ledger(first, gw);
  REQUIRE(gw.start().ok());
  u = gw.usage_of(client);
  CHECK(u["billableBytes"] == 3000);
  CHECK(u["state"] == "under");
  CHECK(u["action"] == "pass");
  CHECK(u["quotaLeftBytes"] == 0);
  CHECK(report_of(gw, client).state == AccountState::open);
  // Free traffic still flows; the next billable packet, however small, crosses.
  CHECK(gw.send(client, TrafficDirection::downstream, 100, false) == TrafficVerdict::pass);
  gw.advance_ms(61'000);  // June: May, exactly on its quota, is past
  json may = gw.call("billing.usage", {{"period", "2026-05"}, {"publicKey", format_public_key(client)}});
  REQUIRE(may["clients"].size() == 1);
  CHECK(may["clients"][0]["billableBytes"] == 3000);
  CHECK(may["clients"][0]["state"] == "under");
  CHECK(may["clients"][0]["quotaLeftBytes"] == 0);
  gw.stop();
  // From the ledger alone, after another restart, May still reads the same.
  Gateway later(config);
  carry_ledger(gw, later);
  later.wall_step_s = 61;
  REQUIRE(later.start().ok());
  may = later.call("billing.usage", {{"period", "2026-05"}, {"publicKey", format_public_key(client)}});
  REQUIRE(may["clients"].size() == 1);
  CHECK(may["clients"][0]["state"] == "under");
  CHECK(may["clients"][0]["billableBytes"] == 3000);
}

TEST_CASE("exactly on the quota, the next billable packet crosses, live and after a restart") {
  const std::string config = R"({"plans": {"capped": {"quotaBytes": 3000}}, "defaultPlan": "capped"})";
  const PublicKey client = new_key();
  Gateway first(config);
  REQUIRE(first.start().ok());
  for (int i = 0; i < 3; ++i) first.send(client, TrafficDirection::upstream, 1000);
  first.stop();
  Gateway gw(config);
  carry_ledger(first, gw);
  REQUIRE(gw.start().ok());
  CHECK(gw.send(client, TrafficDirection::upstream, 20) == TrafficVerdict::drop);
  CHECK(gw.usage_of(client)["state"] == "over");
  CHECK(report_of(gw, client).state == AccountState::blocked);
  REQUIRE(gw.hooks.notices.size() == 1);
}
