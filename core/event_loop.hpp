// The host's event loop: the SDK Loop interface on Boost.Asio (DESIGN §2). Asio stays
// inside event_loop.cpp; nothing else in the host or any plugin sees it.
#pragma once

#include <meshhost/loop.hpp>

#include <functional>
#include <memory>

namespace mh::core {

class EventLoop final : public Loop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  std::uint64_t now_ns() const noexcept override;
  Status watch_fd(int fd, std::uint32_t events, FdHandler* handler, FdWatch** out) noexcept override;
  Status create_timer(TimerHandler* handler, Timer** out) noexcept override;
  void post(Callback fn, void* context) noexcept override;

  // Host-side conveniences (same thread rules as the SDK calls).
  void post(std::function<void()> task);
  // Calls `on_signal(signo)` on the loop thread for SIGINT, SIGTERM and SIGHUP.
  void handle_signals(std::function<void(int)> on_signal);
  // Gives SIGINT, SIGTERM and SIGHUP back their default actions.
  void stop_handling_signals();

  // Runs until stop(); returns at once if stop() was already called.
  void run();
  // Makes run() return after the current handler; safe from any thread.
  void stop();
  // Runs handlers that are ready now, without blocking (tests and shutdown).
  void poll();
  // From now on, posted SDK tasks are dropped (the host is stopping).
  void refuse_new_tasks();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mh::core
