// Tests that the plugin-test fakes (FakeLoop, FakeHost, LoopbackLink, FakeMeshNetwork) behave as their
// headers promise; plugin tests build on these promises.
#include <meshhost/keys.hpp>
#include <meshhost/testing/fake_host.hpp>
#include <meshhost/testing/fake_loop.hpp>
#include <meshhost/testing/fake_mesh.hpp>
#include <meshhost/testing/loopback_link.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using mh::testing::FakeHost;
using mh::testing::FakeLoop;
using mh::testing::LoopbackLink;

// Records when (virtual ns) and in which order timers fired.
struct Recorder {
  std::vector<std::pair<int, std::uint64_t>> fired;  // (timer label, now_ns)
};

struct RecordingTimer final : mh::TimerHandler {
  RecordingTimer(FakeLoop& loop, Recorder& recorder, int label) : loop(loop), recorder(recorder), label(label) {
    REQUIRE(loop.create_timer(this, &timer).ok());
  }
  ~RecordingTimer() {
    if (timer != nullptr) timer->release();
  }
  void on_timer() noexcept override {
    recorder.fired.emplace_back(label, loop.now_ns());
    if (rearm_ns > 0 && --rearm_times >= 0) timer->arm(rearm_ns);
  }
  FakeLoop& loop;
  Recorder& recorder;
  int label;
  mh::Timer* timer = nullptr;
  std::uint64_t rearm_ns = 0;
  int rearm_times = 0;
};

// Releases its own timer from inside the handler, as the Timer contract allows.
struct SelfReleasingTimer final : mh::TimerHandler {
  void on_timer() noexcept override {
    ++fired;
    timer->release();
    timer = nullptr;
  }
  mh::Timer* timer = nullptr;
  int fired = 0;
};

struct FdRecorder final : mh::FdHandler {
  void on_fd_ready(int fd, std::uint32_t events) noexcept override {
    calls.emplace_back(fd, events);
    if (release_on_call && watch != nullptr) {
      watch->release();
      watch = nullptr;
    }
  }
  std::vector<std::pair<int, std::uint32_t>> calls;
  mh::FdWatch* watch = nullptr;
  bool release_on_call = false;
};

// Keeps every packet it receives until the test releases them.
struct CollectingReceiver final : mh::LinkReceiver {
  ~CollectingReceiver() { release_all(); }
  void on_receive(mh::Link* link, mh::Packet* const* packets, std::size_t count) noexcept override {
    ++batches;
    last_link = link;
    for (std::size_t i = 0; i < count; ++i) received.push_back(packets[i]);
  }
  void release_all() {
    for (mh::Packet* p : received) p->release();
    received.clear();
  }
  std::vector<mh::Packet*> received;
  mh::Link* last_link = nullptr;
  int batches = 0;
};

// Answers every frame with "pong" back over the link it came from, from inside
// on_receive(), as a protocol plugin would.
struct Ponger final : mh::LinkReceiver {
  void on_receive(mh::Link* link, mh::Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) {
      mh::Packet* reply = link->pool()->acquire();
      std::memcpy(reply->append(4), "pong", 4);
      reply->endpoint = packets[i]->endpoint;
      packets[i]->release();
      link->send(&reply, 1);
      ++answered;
    }
  }
  int answered = 0;
};

mh::Packet* frame(mh::Link& link, const std::string& text) {
  mh::Packet* p = link.pool()->acquire();
  REQUIRE(p != nullptr);
  std::uint8_t* at = p->append(static_cast<std::uint32_t>(text.size()));
  REQUIRE(at != nullptr);
  std::memcpy(at, text.data(), text.size());
  return p;
}

std::string text_of(const mh::Packet* p) { return std::string(reinterpret_cast<const char*>(p->data()), p->length); }

struct EchoAdmin final : mh::AdminHandler {
  mh::Status call(mh::Str params, mh::StringSink* result) noexcept override {
    result->append("{\"echo\":");
    result->append(params);
    result->append("}");
    return mh::Status::success();
  }
};

struct NamedService final : mh::Service {
  void* query(mh::InterfaceId) noexcept override { return nullptr; }
};

}  // namespace

// ---------------------------------------------------------------- FakeLoop

TEST_CASE("FakeLoop: time moves only when advanced, from a non-zero start") {
  FakeLoop loop;
  CHECK(loop.now_ns() == FakeLoop::kStartNs);
  CHECK(loop.advance(250) == 0);
  CHECK(loop.now_ns() == FakeLoop::kStartNs + 250);
}

TEST_CASE("FakeLoop: due timers fire in deadline order, each seeing its own deadline") {
  FakeLoop loop;
  Recorder rec;
  RecordingTimer late(loop, rec, 3), early(loop, rec, 1), middle(loop, rec, 2), never(loop, rec, 4);
  const std::uint64_t t0 = loop.now_ns();
  late.timer->arm(300);
  early.timer->arm(100);
  middle.timer->arm(200);
  never.timer->arm(1000);
  CHECK(loop.armed_timer_count() == 4);
  CHECK(loop.next_deadline_ns() == t0 + 100);

  CHECK(loop.advance(299) == 2);
  REQUIRE(rec.fired.size() == 2);
  CHECK(rec.fired[0] == std::make_pair(1, t0 + 100));
  CHECK(rec.fired[1] == std::make_pair(2, t0 + 200));
  CHECK(loop.now_ns() == t0 + 299);

  CHECK(loop.advance(1) == 1);
  CHECK(rec.fired.back() == std::make_pair(3, t0 + 300));
  CHECK(loop.armed_timer_count() == 1);
}

TEST_CASE("FakeLoop: equal deadlines fire in arming order; re-arming moves a deadline") {
  FakeLoop loop;
  Recorder rec;
  RecordingTimer a(loop, rec, 1), b(loop, rec, 2), c(loop, rec, 3);
  b.timer->arm(50);
  a.timer->arm(50);
  c.timer->arm(10);
  c.timer->arm(50);  // moved: now last among equals
  loop.advance(50);
  REQUIRE(rec.fired.size() == 3);
  CHECK(rec.fired[0].first == 2);
  CHECK(rec.fired[1].first == 1);
  CHECK(rec.fired[2].first == 3);
}

TEST_CASE("FakeLoop: a cancelled timer does not fire; a periodic one re-arms itself") {
  FakeLoop loop;
  Recorder rec;
  RecordingTimer cancelled(loop, rec, 1), periodic(loop, rec, 2);
  cancelled.timer->arm(10);
  cancelled.timer->cancel();
  periodic.rearm_ns = 100;
  periodic.rearm_times = 3;
  periodic.timer->arm(100);
  const std::uint64_t t0 = loop.now_ns();
  // One advance reaches several periods: the re-armed deadlines fire within it.
  CHECK(loop.advance(1000) == 4);
  REQUIRE(rec.fired.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(rec.fired[i] == std::make_pair(2, t0 + 100 * (i + 1)));
  CHECK_FALSE(loop.next_deadline_ns().has_value());
  CHECK_FALSE(loop.advance_to_next_timer());
}

TEST_CASE("FakeLoop: advance_to_next_timer jumps exactly to the deadline") {
  FakeLoop loop;
  Recorder rec;
  RecordingTimer t(loop, rec, 1);
  t.timer->arm(12345);
  const std::uint64_t t0 = loop.now_ns();
  CHECK(loop.advance_to_next_timer());
  CHECK(loop.now_ns() == t0 + 12345);
  CHECK(rec.fired.size() == 1);
}

TEST_CASE("FakeLoop: a timer may release itself inside its handler") {
  FakeLoop loop;
  SelfReleasingTimer handler;
  REQUIRE(loop.create_timer(&handler, &handler.timer).ok());
  handler.timer->arm(5);
  CHECK(loop.timer_count() == 1);
  loop.advance(10);
  CHECK(handler.fired == 1);
  CHECK(loop.timer_count() == 0);
}

TEST_CASE("FakeLoop: posted tasks run in order only in run_pending, including ones they post") {
  FakeLoop loop;
  struct Ctx {
    FakeLoop* loop;
    std::vector<int> order;
  } ctx{&loop, {}};
  loop.post([](void* c) noexcept { static_cast<Ctx*>(c)->order.push_back(1); }, &ctx);
  loop.post(
      [](void* c) noexcept {
        auto* self = static_cast<Ctx*>(c);
        self->order.push_back(2);
        self->loop->post([](void* c2) noexcept { static_cast<Ctx*>(c2)->order.push_back(4); }, c);
      },
      &ctx);
  loop.post([](void* c) noexcept { static_cast<Ctx*>(c)->order.push_back(3); }, &ctx);
  CHECK(loop.pending_count() == 3);
  CHECK(ctx.order.empty());
  loop.advance(1'000'000);  // time alone runs no tasks
  CHECK(ctx.order.empty());
  CHECK(loop.run_pending() == 4);
  CHECK(ctx.order == std::vector<int>{1, 2, 3, 4});
  CHECK(loop.pending_count() == 0);
}

TEST_CASE("FakeLoop: run_pending stops at max_tasks; cancel_posts drops a context's tasks") {
  FakeLoop loop;
  int a = 0, b = 0;
  auto bump = [](void* c) noexcept { ++*static_cast<int*>(c); };
  loop.post(bump, &a);
  loop.post(bump, &b);
  loop.post(bump, &a);
  CHECK(loop.run_pending(1) == 1);
  CHECK(a == 1);
  loop.cancel_posts(&a);
  CHECK(loop.run_pending() == 1);
  CHECK(a == 1);
  CHECK(b == 1);
}

TEST_CASE("FakeLoop: post is safe from other threads") {
  FakeLoop loop;
  std::atomic<int> count{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) loop.post([](void* c) noexcept { ++*static_cast<std::atomic<int>*>(c); }, &count);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(loop.run_pending() == 1000);
  CHECK(count == 1000);
}

TEST_CASE("FakeLoop: fire_fd reaches the watch on that fd with the events it asked for") {
  FakeLoop loop;
  FdRecorder reader, second, other;
  REQUIRE(loop.watch_fd(7, mh::kFdReadable, &reader, &reader.watch).ok());
  // As on the host's loop: one watch per descriptor.
  CHECK(loop.watch_fd(7, mh::kFdWritable, &second, &second.watch).code == mh::StatusCode::already_exists);
  REQUIRE(loop.watch_fd(8, mh::kFdReadable, &other, &other.watch).ok());
  CHECK(loop.watched_events(7) == mh::kFdReadable);

  CHECK(loop.fire_fd(7, mh::kFdWritable) == 0);  // not asked for
  CHECK(loop.fire_fd(7, mh::kFdReadable) == 1);
  REQUIRE(reader.calls.size() == 1);
  CHECK(reader.calls[0] == std::make_pair(7, std::uint32_t{mh::kFdReadable}));
  CHECK(other.calls.empty());

  // Errors reach the watch whatever it asked for.
  CHECK(loop.fire_fd(7, mh::kFdError) == 1);

  // A paused watch hears nothing but errors.
  reader.watch->set_events(0);
  CHECK(loop.fire_fd(7, mh::kFdReadable) == 0);

  CHECK(loop.watch_fd(-1, mh::kFdReadable, &other, &other.watch).code == mh::StatusCode::invalid_argument);
  reader.watch->release();
  other.watch->release();
  CHECK(loop.watch_count() == 0);
}

TEST_CASE("FakeLoop: a watch may release itself inside its handler") {
  FakeLoop loop;
  FdRecorder handler;
  handler.release_on_call = true;
  REQUIRE(loop.watch_fd(3, mh::kFdReadable, &handler, &handler.watch).ok());
  CHECK(loop.fire_fd(3, mh::kFdReadable) == 1);
  CHECK(loop.watch_count() == 0);
  CHECK(loop.fire_fd(3, mh::kFdReadable) == 0);
}

// ---------------------------------------------------------------- FakeHost

TEST_CASE("FakeHost: a node identity with real DH") {
  FakeHost a("alpha"), b("beta");
  CHECK(a.address().bytes[0] == 0xfc);
  CHECK(mh::address_matches_key(a.address(), a.public_key()));
  mh::SharedSecret ab, ba;
  REQUIRE(a.dh(b.public_key(), &ab).ok());
  REQUIRE(b.dh(a.public_key(), &ba).ok());
  CHECK(std::memcmp(ab.bytes, ba.bytes, sizeof ab.bytes) == 0);
  CHECK(a.dh(mh::PublicKey{}, &ab).code == mh::StatusCode::invalid_argument);

  const auto fixed = mh::parse_private_key_hex("874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4");
  REQUIRE(fixed.has_value());
  a.set_identity(*fixed);
  CHECK(mh::format_address(a.address()) == "fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d");
}

TEST_CASE("FakeHost: logs and failures are kept for the test") {
  FakeHost host("alpha");
  CHECK(std::string(host.plugin_name().data, host.plugin_name().size) == "alpha");
  host.log(mh::LogLevel::info, "peer up");
  host.log(mh::LogLevel::error, "socket failed");
  REQUIRE(host.logs().size() == 2);
  CHECK(host.logged("peer"));
  CHECK(host.logged("socket", mh::LogLevel::warn));
  CHECK_FALSE(host.logged("peer", mh::LogLevel::warn));

  std::string temporary = "bind 192.0.2.1:1 failed";
  const mh::Status first = host.fail(mh::StatusCode::io_error, mh::Str::of(temporary));
  temporary.assign(100, 'x');  // the Status no longer depends on the caller's buffer
  for (int i = 0; i < 100; ++i) host.fail(mh::StatusCode::internal, "more");  // and survives growth
  CHECK(first.code == mh::StatusCode::io_error);
  CHECK(std::string(first.message.data, first.message.size) == "bind 192.0.2.1:1 failed");
  CHECK(host.failures().size() == 101);
}

TEST_CASE("FakeHost: admin methods are namespaced and callable") {
  FakeHost host("alpha");
  EchoAdmin echo;
  CHECK(host.register_admin_method("alpha.echo", &echo).ok());
  CHECK(host.register_admin_method("alpha.echo", &echo).code == mh::StatusCode::already_exists);
  CHECK(host.register_admin_method("beta.echo", &echo).code == mh::StatusCode::invalid_argument);
  CHECK(host.register_admin_method("alpha.", &echo).code == mh::StatusCode::invalid_argument);

  auto [status, result] = host.call_admin("alpha.echo", "{\"x\":1}");
  CHECK(status.ok());
  CHECK(result == "{\"echo\":{\"x\":1}}");
  auto [missing, nothing] = host.call_admin("alpha.nope");
  CHECK(missing.code == mh::StatusCode::not_found);
  CHECK(nothing.empty());
}

TEST_CASE("FakeHost: metrics are read back by name and labels in any order") {
  FakeHost host("alpha");
  const mh::Label ab[] = {{"link", "udp"}, {"dir", "rx"}};
  const mh::Label ba[] = {{"dir", "rx"}, {"link", "udp"}};
  mh::Counter* c1 = host.counter("meshhost_frames_total", "frames", ab, 2);
  mh::Counter* c2 = host.counter("meshhost_frames_total", "frames", ba, 2);
  REQUIRE(c1 != nullptr);
  CHECK(c1 == c2);
  c1->add(3);
  c2->add(4);
  CHECK(host.counter_value("meshhost_frames_total", {{"link", "udp"}, {"dir", "rx"}}) == 7u);
  CHECK_FALSE(host.counter_value("meshhost_frames_total").has_value());
  CHECK(host.counter("0bad", "", nullptr, 0) == nullptr);
  CHECK(host.counter("bad-name", "", nullptr, 0) == nullptr);

  mh::Gauge* g = host.gauge("meshhost_peers", "peers", nullptr, 0);
  REQUIRE(g != nullptr);
  g->set(2.5);
  CHECK(host.gauge_value("meshhost_peers") == 2.5);
}

TEST_CASE("FakeHost: services by name and by prefix") {
  FakeHost host("switch");
  NamedService udp, eth, sw;
  host.add_service("link.udp", &udp);
  host.add_service("link.eth", &eth);
  CHECK(host.provide("switch", &sw).ok());
  CHECK(host.provide("switch", &sw).code == mh::StatusCode::already_exists);
  CHECK(host.lookup("switch") == &sw);
  CHECK(host.lookup("router") == nullptr);

  mh::Service* found[1];
  mh::Str names[1];
  CHECK(host.lookup_prefix("link.", found, names, 1) == 2);  // more exist than fit
  CHECK(found[0] == &eth);                                      // name order
  CHECK(std::string(names[0].data, names[0].size) == "link.eth");
  CHECK(host.lookup_prefix("link.", nullptr, nullptr, 0) == 2);
  CHECK(host.lookup_prefix("tun", nullptr, nullptr, 0) == 0);
}

TEST_CASE("FakeHost: a private state directory that goes away with the host") {
  std::filesystem::path dir;
  {
    FakeHost host("alpha");
    dir = host.state_path();
    CHECK(std::filesystem::is_directory(dir));
    CHECK(std::string(host.state_dir().data, host.state_dir().size) == dir.string());
    const auto perms = std::filesystem::status(dir).permissions();
    CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
    std::ofstream(dir / "ledger") << "state";
    std::filesystem::create_directory(dir / "sub");
  }
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("FakeHost: several hosts can share one loop") {
  FakeLoop loop;
  FakeHost a("alpha", &loop), b("beta", &loop);
  CHECK(a.loop() == &loop);
  CHECK(b.loop() == &loop);
  CHECK(&a.fake_loop() == &loop);
}

// ---------------------------------------------------------------- LoopbackLink

TEST_CASE("LoopbackLink: frames arrive at the peer on run_pending, from the sender's endpoint") {
  FakeLoop loop;
  LoopbackLink a(loop, "a"), b(loop, "b");
  LoopbackLink::connect(a, b);
  CollectingReceiver rx;
  b.set_receiver(&rx);

  mh::Packet* batch[] = {frame(a, "one"), frame(a, "two")};
  batch[0]->endpoint = b.endpoint();
  CHECK(a.send(batch, 2) == 2);
  CHECK(a.fixed_pool().in_use() == 0);  // send() took ownership and released them
  CHECK(rx.received.empty());          // deferred, never inside send()
  CHECK(b.queued_count() == 2);

  CHECK(loop.run_pending() == 1);
  CHECK(rx.batches == 1);
  CHECK(rx.last_link == &b);
  REQUIRE(rx.received.size() == 2);
  CHECK(text_of(rx.received[0]) == "one");
  CHECK(text_of(rx.received[1]) == "two");
  for (mh::Packet* p : rx.received) {
    CHECK(p->pool == b.pool());  // the receiving link's pool
    CHECK(p->headroom() == b.pool()->headroom());
    CHECK(p->endpoint.kind == LoopbackLink::kEndpointKind);
    CHECK(p->endpoint.size == a.endpoint().size);
    CHECK(std::memcmp(p->endpoint.bytes, a.endpoint().bytes, p->endpoint.size) == 0);
  }
  CHECK(a.last_destination().size == 0);  // the second frame had no endpoint set
  CHECK(b.fixed_pool().in_use() == 2);
  rx.release_all();
  CHECK(b.fixed_pool().in_use() == 0);
  CHECK(a.stats().sent == 2);
  CHECK(a.stats().delivered == 2);
}

TEST_CASE("LoopbackLink: a reply from inside on_receive waits for the next task") {
  FakeLoop loop;
  LoopbackLink a(loop, "a"), b(loop, "b");
  LoopbackLink::connect(a, b);
  Ponger ponger;
  CollectingReceiver rx;
  b.set_receiver(&ponger);
  a.set_receiver(&rx);

  mh::Packet* ping = frame(a, "ping");
  a.send(&ping, 1);
  CHECK(loop.run_pending(1) == 1);  // b answers...
  CHECK(ponger.answered == 1);
  CHECK(rx.received.empty());  // ...but a hears it one task later
  CHECK(loop.run_pending() == 1);
  REQUIRE(rx.received.size() == 1);
  CHECK(text_of(rx.received[0]) == "pong");
  rx.release_all();
  CHECK(a.fixed_pool().in_use() == 0);
  CHECK(b.fixed_pool().in_use() == 0);
}

TEST_CASE("LoopbackLink: drops what it cannot carry and says why") {
  FakeLoop loop;
  LoopbackLink a(loop, "a", {.mtu = 100}), b(loop, "b", {.pool_packets = 2});
  CollectingReceiver rx;
  b.set_receiver(&rx);

  mh::Packet* lonely = frame(a, "nobody");
  CHECK(a.send(&lonely, 1) == 0);  // not connected
  CHECK(a.stats().dropped_no_peer == 1);

  LoopbackLink::connect(a, b);
  mh::Packet* big = frame(a, std::string(101, 'x'));
  CHECK(a.send(&big, 1) == 0);
  CHECK(a.stats().dropped_oversize == 1);

  // b's pool holds two packets: the third frame finds it exhausted.
  mh::Packet* three[] = {frame(a, "1"), frame(a, "2"), frame(a, "3")};
  CHECK(a.send(three, 3) == 3);
  CHECK(a.stats().dropped_peer_exhausted == 1);
  loop.run_pending();
  CHECK(rx.received.size() == 2);
  rx.release_all();

  a.disconnect();
  CHECK(b.peer() == nullptr);
  mh::Packet* after = frame(b, "late");
  CHECK(b.send(&after, 1) == 0);
  CHECK(a.fixed_pool().in_use() == 0);
  CHECK(b.fixed_pool().in_use() == 0);
}

TEST_CASE("LoopbackLink: the loss knob drops a repeatable share of frames") {
  FakeLoop loop;
  LoopbackLink a(loop, "a", {.pool_packets = 1024}), b(loop, "b", {.pool_packets = 1024});
  LoopbackLink::connect(a, b);
  CollectingReceiver rx;
  b.set_receiver(&rx);

  a.drop_next(2);
  for (const char* text : {"lost", "lost", "kept"}) {
    mh::Packet* p = frame(a, text);
    a.send(&p, 1);
  }
  loop.run_pending();
  REQUIRE(rx.received.size() == 1);
  CHECK(text_of(rx.received[0]) == "kept");
  rx.release_all();

  auto run = [&](std::uint32_t seed) {
    a.set_loss(0.25, seed);
    for (int i = 0; i < 1000; ++i) {
      mh::Packet* p = frame(a, "x");
      a.send(&p, 1);
    }
    loop.run_pending();
    const std::size_t got = rx.received.size();
    rx.release_all();
    return got;
  };
  const std::size_t first = run(42);
  CHECK(first > 650);
  CHECK(first < 850);
  CHECK(run(42) == first);  // same seed, same losses

  a.set_loss(1.0);
  mh::Packet* p = frame(a, "x");
  CHECK(a.send(&p, 1) == 1);  // accepted, then lost on the wire
  loop.run_pending();
  CHECK(rx.received.empty());
  a.set_loss(0.0);
}

TEST_CASE("LoopbackLink: without a receiver frames are released, and a dying link frees its queue") {
  FakeLoop loop;
  LoopbackLink a(loop, "a");
  {
    LoopbackLink b(loop, "b");
    LoopbackLink::connect(a, b);
    mh::Packet* p = frame(a, "dropped on arrival");
    a.send(&p, 1);
    loop.run_pending();
    CHECK(b.fixed_pool().in_use() == 0);

    mh::Packet* q = frame(a, "queued when b dies");
    a.send(&q, 1);
    CHECK(loop.pending_count() == 1);
  }  // b's destructor cancels its delivery and returns the queued packet
  CHECK(a.peer() == nullptr);
  CHECK(loop.pending_count() == 0);
  CHECK(loop.run_pending() == 0);
}

TEST_CASE("LoopbackLink: found through a FakeHost like any link driver") {
  FakeHost host("switch");
  LoopbackLink a(host.fake_loop(), "loop0");
  LoopbackLink b(host.fake_loop(), "loop1");
  LoopbackLink::connect(a, b);
  host.add_service("link.loopback", &a);
  mh::Service* services[4];
  REQUIRE(host.lookup_prefix("link.", services, nullptr, 4) == 1);
  auto* driver = static_cast<mh::LinkDriver*>(services[0]->query(mh::kLinkDriverInterface));
  REQUIRE(driver == static_cast<mh::LinkDriver*>(&a));
  CHECK(services[0]->query(mh::interface_id("meshhost.other.v1")) == nullptr);

  struct Observer final : mh::LinkObserver {
    std::vector<mh::Link*> up, down;
    std::vector<std::string> hints;
    void on_link_up(mh::Link* link) noexcept override { up.push_back(link); }
    void on_link_down(mh::Link* link) noexcept override { down.push_back(link); }
    void on_peer_hint(mh::Link* link, const mh::PeerHint& hint) noexcept override {
      char text[64];
      std::size_t n = link->format_endpoint(hint.endpoint, text, sizeof text);
      hints.push_back(std::string(hint.password.data, hint.password.size) + "@" + std::string(text, n));
    }
  } observer;
  mh::PublicKey key{};
  key.bytes[0] = 1;
  a.add_peer_hint(key, "secret");
  driver->set_observer(&observer);  // replays the link and the hint
  REQUIRE(observer.up.size() == 1);
  CHECK(std::string(observer.up[0]->name().data, observer.up[0]->name().size) == "loop0");
  CHECK(observer.hints == std::vector<std::string>{"secret@loopback/loop1"});
  a.add_peer_hint(key, "", "", /*from_beacon=*/true);  // told at once
  CHECK(observer.hints.size() == 2);
  a.announce_down();
  CHECK(observer.down.size() == 1);
  CHECK(a.discovered_peer_policy() == mh::DiscoveredPeerPolicy::accept_any);
  CHECK_FALSE(a.allows(key));
}

namespace {

using mh::testing::FakeMeshNetwork;

struct MeshRecorder final : mh::MeshReceiver, mh::NeighbourObserver {
  std::vector<mh::MeshInfo> received;
  std::vector<std::string> payloads;
  std::vector<mh::MeshError> errors;
  std::vector<std::pair<mh::NeighbourId, std::uint32_t>> up;
  std::vector<mh::NeighbourId> down;

  void on_mesh_receive(const mh::MeshInfo* infos, mh::Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) {
      received.push_back(infos[i]);
      payloads.emplace_back(reinterpret_cast<const char*>(packets[i]->data()), packets[i]->length);
      packets[i]->release();
    }
  }
  void on_mesh_error(const mh::MeshError& error) noexcept override { errors.push_back(error); }
  void on_neighbour_up(mh::NeighbourId id, const mh::PublicKey&, std::uint32_t cost) noexcept override {
    up.emplace_back(id, cost);
  }
  void on_neighbour_cost(mh::NeighbourId, std::uint32_t) noexcept override {}
  void on_neighbour_down(mh::NeighbourId id) noexcept override { down.push_back(id); }
};

mh::Packet* mesh_packet(mh::Mesh& mesh, const std::string& payload) {
  mh::Packet* p = mesh.pool()->acquire();
  std::memcpy(p->append(static_cast<std::uint32_t>(payload.size())), payload.data(), payload.size());
  return p;
}

}  // namespace

TEST_CASE("FakeMeshNetwork: forwards by FIB hop by hop, reports no route and hop limit to the source") {
  const mh::KeyPair ka = mh::generate_node_key(), kb = mh::generate_node_key(), kc = mh::generate_node_key();
  FakeMeshNetwork net;
  auto& a = net.add_node(ka.pub, ka.addr);
  auto& b = net.add_node(kb.pub, kb.addr);
  auto& c = net.add_node(kc.pub, kc.addr);
  MeshRecorder ra, rc;
  a.set_neighbour_observer(&ra);
  net.connect(a, b, 10);
  net.connect(b, c, 20);
  REQUIRE(ra.up.size() == 1);
  CHECK(ra.up[0].second == 10);
  REQUIRE(a.register_protocol(0x8001, &ra).ok());
  REQUIRE(c.register_protocol(0x8001, &rc).ok());
  CHECK(c.register_protocol(0x8001, &ra).code == mh::StatusCode::already_exists);

  mh::MeshSend send;
  send.destination = c.address();
  send.protocol = 0x8001;
  mh::Packet* p = mesh_packet(a, "hello");
  CHECK(a.send(&send, &p, 1) == 0);  // no route yet
  net.deliver();
  REQUIRE(ra.errors.size() == 1);
  CHECK(ra.errors[0].kind == mh::MeshError::Kind::no_route);

  REQUIRE(a.set_route(c.address(), a.neighbour_id(b)).ok());
  REQUIRE(b.set_route(c.address(), b.neighbour_id(c)).ok());
  p = mesh_packet(a, "hello");
  CHECK(a.send(&send, &p, 1) == 1);
  CHECK(net.deliver() == 2);
  REQUIRE(rc.payloads.size() == 1);
  CHECK(rc.payloads[0] == "hello");
  CHECK(std::memcmp(rc.received[0].source.bytes, a.address().bytes, 16) == 0);
  CHECK(rc.received[0].from == c.neighbour_id(b));
  CHECK(rc.received[0].hop_limit == mh::kDefaultHopLimit - 1);
  CHECK(b.stats.forwarded == 1);

  send.hop_limit = 1;
  p = mesh_packet(a, "short");
  CHECK(a.send(&send, &p, 1) == 1);
  net.deliver();
  CHECK(b.stats.hop_limit_exceeded == 1);
  REQUIRE(ra.errors.size() == 2);
  CHECK(ra.errors[1].kind == mh::MeshError::Kind::hop_limit_exceeded);
  CHECK(std::memcmp(ra.errors[1].reporter.bytes, b.address().bytes, 16) == 0);

  net.disconnect(a, b);
  REQUIRE(ra.down.size() == 1);
  CHECK(a.set_route(c.address(), ra.up[0].first).code == mh::StatusCode::invalid_argument);
  a.set_neighbour_observer(nullptr);
}
