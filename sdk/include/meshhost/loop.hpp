// The event loop a plugin runs on (DESIGN §2). The host implements it; every SDK call
// happens on the loop thread except Loop::post, which any thread may call.
#pragma once

#include <meshhost/types.hpp>

namespace mh {

// Readiness a file-descriptor watch asks for and reports.
enum FdEvents : std::uint32_t {
  kFdReadable = 1u << 0,
  kFdWritable = 1u << 1,
  kFdError = 1u << 2,  // reported only, with the event whose wait failed
};
// A hang-up or a pending socket error is reported as readable (or writable): the next
// read() or write() returns 0 or the error, as with poll().

// Called on the loop thread when a watched descriptor is ready. Watches are
// level-triggered: while the descriptor stays ready, the handler is called again on the
// next turn of the loop, so a handler may stop after a bounded batch.
class FdHandler {
 public:
  virtual void on_fd_ready(int fd, std::uint32_t events) noexcept = 0;

 protected:
  ~FdHandler() = default;
};

// A watch on one descriptor, owned by the plugin that created it. release() stops the
// watch and frees the object; it never closes the descriptor, which stays the plugin's.
// release() may be called from inside the handler.
class FdWatch {
 public:
  // Changes which events are watched; 0 pauses the watch.
  virtual void set_events(std::uint32_t events) noexcept = 0;
  virtual void release() noexcept = 0;

 protected:
  ~FdWatch() = default;
};

class TimerHandler {
 public:
  virtual void on_timer() noexcept = 0;

 protected:
  ~TimerHandler() = default;
};

// A one-shot timer, owned by the plugin that created it; arm again for periodic work.
class Timer {
 public:
  // Fires once after `delay_ns` from now; arming an armed timer moves its deadline.
  virtual void arm(std::uint64_t delay_ns) noexcept = 0;
  // The handler is not called after cancel() returns.
  virtual void cancel() noexcept = 0;
  // Cancels and frees the timer. May be called from inside the handler.
  virtual void release() noexcept = 0;

 protected:
  ~Timer() = default;
};

// A task posted from any thread; runs once on the loop thread.
using Callback = void (*)(void* context) noexcept;

class Loop {
 public:
  // Monotonic time (CLOCK_MONOTONIC) now, in nanoseconds.
  virtual std::uint64_t now_ns() const noexcept = 0;

  // Watches `fd` (a socket, pipe, character device, eventfd, …) for `events`; `handler`
  // is borrowed and must outlive the watch. One watch per descriptor: a second fails with
  // already_exists. On success *out owns the watch; fails with invalid_argument on a bad
  // descriptor or on a regular file or directory, which can never wait.
  virtual Status watch_fd(int fd, std::uint32_t events, FdHandler* handler, FdWatch** out) noexcept = 0;

  // Creates a disarmed timer; `handler` is borrowed and must outlive the timer.
  virtual Status create_timer(TimerHandler* handler, Timer** out) noexcept = 0;

  // Runs fn(context) once on the loop thread. The only call that is safe from any thread.
  // Never blocks. Tasks still queued when the host stops, or posted after it began
  // stopping, are dropped without running: a task must not be the only owner of memory.
  virtual void post(Callback fn, void* context) noexcept = 0;

 protected:
  ~Loop() = default;
};

}  // namespace mh
