// The Asio-backed SDK loop: timers, level-triggered fd watches, posts from other threads.
#include "event_loop.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <thread>
#include <vector>

using mh::core::EventLoop;

namespace {

struct Recorder final : mh::TimerHandler {
  EventLoop* loop;
  std::vector<int>* order;
  int id;
  bool stop_after = false;
  void on_timer() noexcept override {
    order->push_back(id);
    if (stop_after) loop->stop();
  }
};

struct PipeReader final : mh::FdHandler {
  EventLoop* loop;
  int calls = 0;
  int bytes = 0;
  void on_fd_ready(int fd, std::uint32_t events) noexcept override {
    ++calls;
    CHECK((events & mh::kFdReadable) != 0);
    char c;
    // Read one byte per call: the watch must call again while more are pending.
    if (::read(fd, &c, 1) == 1) ++bytes;
    if (bytes == 3) loop->stop();
  }
};

}  // namespace

TEST_CASE("timers fire in deadline order, and a cancelled timer never fires") {
  EventLoop loop;
  std::vector<int> order;
  Recorder a{}, b{}, c{};
  a.loop = b.loop = c.loop = &loop;
  a.order = b.order = c.order = &order;
  a.id = 1, b.id = 2, c.id = 3;
  b.stop_after = true;
  mh::Timer *ta, *tb, *tc;
  REQUIRE(loop.create_timer(&a, &ta).ok());
  REQUIRE(loop.create_timer(&b, &tb).ok());
  REQUIRE(loop.create_timer(&c, &tc).ok());
  tb->arm(20'000'000);
  ta->arm(1'000'000);
  tc->arm(5'000'000);
  tc->cancel();
  loop.run();
  CHECK(order == std::vector<int>{1, 2});
  ta->release();
  tb->release();
  tc->release();
}

TEST_CASE("an fd watch is level-triggered and does not close the descriptor") {
  EventLoop loop;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "abc", 3) == 3);
  PipeReader reader;
  reader.loop = &loop;
  mh::FdWatch* watch = nullptr;
  REQUIRE(loop.watch_fd(fds[0], mh::kFdReadable, &reader, &watch).ok());
  loop.run();
  CHECK(reader.bytes == 3);
  watch->release();
  CHECK(::write(fds[1], "d", 1) == 1);  // both ends still open
  char c;
  CHECK(::read(fds[0], &c, 1) == 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("watching a closed descriptor fails with a Status") {
  EventLoop loop;
  PipeReader reader;
  mh::FdWatch* watch = nullptr;
  CHECK(loop.watch_fd(-1, mh::kFdReadable, &reader, &watch).code == mh::StatusCode::invalid_argument);
}

TEST_CASE("post from another thread runs on the loop thread; after refusal it is dropped") {
  EventLoop loop;
  struct Context {
    EventLoop* loop;
    std::thread::id ran_on;
  } context{&loop, {}};
  std::thread poster([&] {
    loop.post(
        [](void* p) noexcept {
          auto* c = static_cast<Context*>(p);
          c->ran_on = std::this_thread::get_id();
          c->loop->stop();
        },
        &context);
  });
  loop.run();
  poster.join();
  CHECK(context.ran_on == std::this_thread::get_id());

  int ran = 0;
  loop.refuse_new_tasks();
  loop.post([](void* p) noexcept { ++*static_cast<int*>(p); }, &ran);
  loop.poll();
  CHECK(ran == 0);
}
