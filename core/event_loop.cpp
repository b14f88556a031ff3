// Boost.Asio behind the SDK Loop: level-triggered fd watches, one-shot timers, and a
// thread-safe post.
#include "event_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/stat.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>

namespace mh::core {

namespace asio = boost::asio;

struct EventLoop::Impl {
  asio::io_context io{1};
  std::atomic<bool> refusing{false};
  std::unique_ptr<asio::signal_set> signals;
  std::function<void(int)> on_signal;

  void wait_signal() {
    signals->async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      on_signal(signo);
      wait_signal();
    });
  }
};

namespace {

// One fd watch. Asio completes a wait as soon as the descriptor is ready, and the watch
// waits again after each call, which gives the level-triggered behaviour the SDK promises.
// A shared_ptr keeps the object alive while a wait is outstanding after release().
class AsioFdWatch final : public FdWatch, public std::enable_shared_from_this<AsioFdWatch> {
 public:
  AsioFdWatch(asio::io_context& io, int fd, FdHandler* handler) : descriptor_(io, fd), fd_(fd), handler_(handler) {}

  void start(std::uint32_t events, std::shared_ptr<AsioFdWatch> self) {
    self_ = std::move(self);
    set_events(events);
  }

  void set_events(std::uint32_t events) noexcept override {
    if (released_) return;
    events_ = events & (kFdReadable | kFdWritable);
    arm();
  }

  void release() noexcept override {
    if (released_) return;
    released_ = true;
    handler_ = nullptr;
    boost::system::error_code ignored;
    descriptor_.cancel(ignored);
    descriptor_.release();  // the fd stays open: it belongs to the plugin
    self_.reset();          // outstanding waits hold their own reference
  }

 private:
  void arm() {
    if ((events_ & kFdReadable) && !read_waiting_) wait(asio::posix::descriptor_base::wait_read, kFdReadable);
    if ((events_ & kFdWritable) && !write_waiting_) wait(asio::posix::descriptor_base::wait_write, kFdWritable);
  }

  void wait(asio::posix::descriptor_base::wait_type type, std::uint32_t event) {
    (event == kFdReadable ? read_waiting_ : write_waiting_) = true;
    descriptor_.async_wait(type, [self = shared_from_this(), event](const boost::system::error_code& ec) {
      (event == kFdReadable ? self->read_waiting_ : self->write_waiting_) = false;
      if (self->released_ || ec == asio::error::operation_aborted) return;
      std::uint32_t ready = ec ? (event | kFdError) : event;
      if (self->events_ & event) self->handler_->on_fd_ready(self->fd_, ready);
      if (!self->released_) self->arm();
    });
  }

  asio::posix::stream_descriptor descriptor_;
  int fd_;
  FdHandler* handler_;
  std::uint32_t events_ = 0;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool released_ = false;
  std::shared_ptr<AsioFdWatch> self_;  // the plugin's reference, dropped by release()
};

class AsioTimer final : public Timer, public std::enable_shared_from_this<AsioTimer> {
 public:
  AsioTimer(asio::io_context& io, TimerHandler* handler) : timer_(io), handler_(handler) {}

  void keep_alive(std::shared_ptr<AsioTimer> self) { self_ = std::move(self); }

  void arm(std::uint64_t delay_ns) noexcept override {
    if (released_) return;
    const std::uint64_t generation = ++generation_;
    // A delay past what a signed 64-bit count of nanoseconds holds means "not in this
    // process's lifetime"; cap it rather than let it wrap to the past.
    constexpr std::uint64_t kMaxDelayNs = std::uint64_t{1} << 62;  // ~146 years
    timer_.expires_after(std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(delay_ns, kMaxDelayNs))));
    timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
      // A re-arm or cancel bumps the generation; a stale completion is ignored even if it
      // was already queued when the timer moved.
      if (ec || self->released_ || generation != self->generation_) return;
      self->handler_->on_timer();
    });
  }

  void cancel() noexcept override {
    ++generation_;
    timer_.cancel();
  }

  void release() noexcept override {
    if (released_) return;
    released_ = true;
    cancel();
    self_.reset();
  }

 private:
  asio::steady_timer timer_;
  TimerHandler* handler_;
  std::uint64_t generation_ = 0;
  bool released_ = false;
  std::shared_ptr<AsioTimer> self_;
};

}  // namespace

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}
EventLoop::~EventLoop() = default;

std::uint64_t EventLoop::now_ns() const noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

Status EventLoop::watch_fd(int fd, std::uint32_t events, FdHandler* handler, FdWatch** out) noexcept {
  if (out == nullptr || handler == nullptr) return Status::error(StatusCode::invalid_argument, "watch_fd: null argument");
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return Status::error(StatusCode::invalid_argument, "watch_fd: bad descriptor");
  // epoll cannot watch regular files or directories: they would never wait.
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return Status::error(StatusCode::invalid_argument, "watch_fd: a regular file or directory cannot be watched");
  try {
    auto watch = std::make_shared<AsioFdWatch>(impl_->io, fd, handler);
    watch->start(events, watch);
    *out = watch.get();
    return Status::success();
  } catch (const std::exception&) {
    return Status::error(StatusCode::already_exists, "watch_fd: the descriptor cannot be watched (already watched?)");
  }
}

Status EventLoop::create_timer(TimerHandler* handler, Timer** out) noexcept {
  if (out == nullptr || handler == nullptr) return Status::error(StatusCode::invalid_argument, "create_timer: null argument");
  try {
    auto timer = std::make_shared<AsioTimer>(impl_->io, handler);
    timer->keep_alive(timer);
    *out = timer.get();
    return Status::success();
  } catch (const std::exception&) {
    return Status::error(StatusCode::internal, "create_timer: out of memory");
  }
}

void EventLoop::post(Callback fn, void* context) noexcept {
  if (fn == nullptr || impl_->refusing.load(std::memory_order_acquire)) return;
  try {
    asio::post(impl_->io, [this, fn, context] {
      if (!impl_->refusing.load(std::memory_order_acquire)) fn(context);
    });
  } catch (...) {
    // Out of memory: the task is dropped, as after stop.
  }
}

void EventLoop::post(std::function<void()> task) { asio::post(impl_->io, std::move(task)); }

void EventLoop::handle_signals(std::function<void(int)> on_signal) {
  impl_->on_signal = std::move(on_signal);
  impl_->signals = std::make_unique<asio::signal_set>(impl_->io, SIGINT, SIGTERM, SIGHUP);
  impl_->wait_signal();
}

void EventLoop::stop_handling_signals() {
  if (!impl_->signals) return;
  boost::system::error_code ignored;
  impl_->signals->clear(ignored);  // restores the default handlers
  impl_->signals.reset();
}

void EventLoop::run() {
  auto guard = asio::make_work_guard(impl_->io);
  impl_->io.run();
}

void EventLoop::stop() { impl_->io.stop(); }

void EventLoop::poll() {
  impl_->io.restart();
  impl_->io.poll();
}

void EventLoop::refuse_new_tasks() { impl_->refusing.store(true, std::memory_order_release); }

}  // namespace mh::core
