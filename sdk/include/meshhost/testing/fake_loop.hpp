// A Loop for plugin unit tests: virtual time that moves only when the test says so,
// posted tasks that run when the test says so, and descriptors the test marks ready.
// Test code only; header-only, std:: types welcome.
#pragma once

#include <meshhost/loop.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace mh::testing {

// Single-threaded apart from post(), which is safe from any thread as the contract says.
// Timers fire only inside advance(); posted tasks run only inside run_pending(); fd
// handlers run only inside fire_fd(). Handlers may arm, cancel or release any timer or
// watch (their own included) and post tasks while they run.
//
// Timers, watches and queued tasks still held when the FakeLoop dies are freed with it,
// so the loop must outlive every plugin and fake that uses it.
class FakeLoop final : public Loop {
 public:
  // Virtual time starts here rather than at 0, so code that treats 0 as "never" is caught.
  static constexpr std::uint64_t kStartNs = 1'000'000'000;

  explicit FakeLoop(std::uint64_t start_ns = kStartNs) : now_ns_(start_ns) {}
  FakeLoop(const FakeLoop&) = delete;
  FakeLoop& operator=(const FakeLoop&) = delete;

  // ---- mh::Loop ----

  std::uint64_t now_ns() const noexcept override { return now_ns_; }

  // Fails with invalid_argument for a negative fd or a null handler/out. Any other number
  // is accepted: tests may use made-up descriptors.
  Status watch_fd(int fd, std::uint32_t events, FdHandler* handler, FdWatch** out) noexcept override {
    if (fd < 0 || handler == nullptr || out == nullptr) {
      return Status::error(StatusCode::invalid_argument, "FakeLoop::watch_fd: bad descriptor or handler");
    }
    for (const auto& [other_id, watch] : watches_) {
      if (watch->fd_ == fd) {  // as the host's loop: one watch per descriptor
        return Status::error(StatusCode::already_exists, "FakeLoop::watch_fd: descriptor already watched");
      }
    }
    const std::uint64_t id = next_id_++;
    auto watch = std::make_unique<Watch>(*this, id, fd, events, handler);
    *out = watch.get();
    watches_.emplace(id, std::move(watch));
    return Status::success();
  }

  Status create_timer(TimerHandler* handler, Timer** out) noexcept override {
    if (handler == nullptr || out == nullptr) {
      return Status::error(StatusCode::invalid_argument, "FakeLoop::create_timer: null handler");
    }
    const std::uint64_t id = next_id_++;
    auto timer = std::make_unique<FakeTimer>(*this, id, handler);
    *out = timer.get();
    timers_.emplace(id, std::move(timer));
    return Status::success();
  }

  // Queues fn(context) for run_pending(). Safe from any thread.
  void post(Callback fn, void* context) noexcept override {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back({fn, context});
  }

  // ---- test controls ----

  // Moves virtual time forward by `delta_ns`, firing every timer that falls due on the way
  // in deadline order (timers with equal deadlines fire in the order they were armed).
  // now_ns() reads each timer's deadline while its handler runs, then the final time.
  // A timer armed by a handler fires in the same call if its deadline is within reach.
  // Returns how many timers fired. Does not run posted tasks.
  std::size_t advance(std::uint64_t delta_ns) noexcept {
    const std::uint64_t target_ns = now_ns_ + delta_ns;
    std::size_t fired = 0;
    for (;;) {
      FakeTimer* next = earliest_armed();
      if (next == nullptr || next->deadline_ns_ > target_ns) break;
      now_ns_ = next->deadline_ns_;
      next->armed_ = false;
      ++fired;
      next->handler_->on_timer();  // may release `next`: do not touch it afterwards
    }
    now_ns_ = target_ns;
    return fired;
  }

  // Advances exactly to the earliest armed timer's deadline (firing it and any others due
  // then); returns false, leaving time alone, when no timer is armed.
  bool advance_to_next_timer() noexcept {
    const std::optional<std::uint64_t> deadline = next_deadline_ns();
    if (!deadline) return false;
    advance(*deadline > now_ns_ ? *deadline - now_ns_ : 0);
    return true;
  }

  // The earliest armed timer's deadline, if any.
  std::optional<std::uint64_t> next_deadline_ns() const noexcept {
    const FakeTimer* next = earliest_armed();
    if (next == nullptr) return std::nullopt;
    return next->deadline_ns_;
  }

  // Runs queued tasks in order, including those they post, until the queue is empty or
  // `max_tasks` have run; returns how many ran. A task that always re-posts itself needs
  // a `max_tasks` bound.
  std::size_t run_pending(std::size_t max_tasks = std::numeric_limits<std::size_t>::max()) noexcept {
    std::size_t ran = 0;
    while (ran < max_tasks) {
      Posted task;
      {
        std::lock_guard<std::mutex> lock(posted_mutex_);
        if (posted_.empty()) break;
        task = posted_.front();
        posted_.pop_front();
      }
      task.fn(task.context);
      ++ran;
    }
    return ran;
  }

  // Drops queued tasks whose context is `context` (for a fake that dies with work queued).
  void cancel_posts(const void* context) noexcept {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    std::erase_if(posted_, [context](const Posted& p) { return p.context == context; });
  }

  std::size_t pending_count() const noexcept {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    return posted_.size();
  }

  // Reports `events` on `fd` to every watch on it that asked for any of them (kFdError
  // always reaches the watch), passing only the overlap. Returns how many handlers ran.
  // Level-triggered as the real loop is: a test calls it again while the fd stays ready.
  std::size_t fire_fd(int fd, std::uint32_t events) noexcept {
    // Snapshot ids first: a handler may release its own watch or others on this fd.
    std::vector<std::uint64_t> ids;
    for (const auto& [id, watch] : watches_) {
      if (watch->fd_ == fd) ids.push_back(id);
    }
    std::size_t called = 0;
    for (const std::uint64_t id : ids) {
      const auto it = watches_.find(id);
      if (it == watches_.end()) continue;
      Watch& watch = *it->second;
      const std::uint32_t delivered = events & (watch.events_ | kFdError);
      if (delivered == 0) continue;
      ++called;
      watch.handler_->on_fd_ready(fd, delivered);
    }
    return called;
  }

  // What the live watches on `fd` ask for, OR-ed together (0 if unwatched or paused).
  std::uint32_t watched_events(int fd) const noexcept {
    std::uint32_t events = 0;
    for (const auto& [id, watch] : watches_) {
      if (watch->fd_ == fd) events |= watch->events_;
    }
    return events;
  }

  // Live (unreleased) objects: a plugin that stopped cleanly leaves none behind.
  std::size_t watch_count() const noexcept { return watches_.size(); }
  std::size_t timer_count() const noexcept { return timers_.size(); }
  std::size_t armed_timer_count() const noexcept {
    std::size_t armed = 0;
    for (const auto& [id, timer] : timers_) armed += timer->armed_ ? 1 : 0;
    return armed;
  }

 private:
  class FakeTimer final : public Timer {
   public:
    FakeTimer(FakeLoop& loop, std::uint64_t id, TimerHandler* handler) : loop_(loop), id_(id), handler_(handler) {}

    void arm(std::uint64_t delay_ns) noexcept override {
      // Saturate rather than wrap: a huge delay means "effectively never".
      const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
      deadline_ns_ = delay_ns > max - loop_.now_ns_ ? max : loop_.now_ns_ + delay_ns;
      armed_ = true;
      arm_sequence_ = loop_.next_arm_sequence_++;
    }
    void cancel() noexcept override { armed_ = false; }
    void release() noexcept override { loop_.timers_.erase(id_); }  // destroys *this

    FakeLoop& loop_;
    std::uint64_t id_;
    TimerHandler* handler_;
    std::uint64_t deadline_ns_ = 0;
    std::uint64_t arm_sequence_ = 0;
    bool armed_ = false;
  };

  class Watch final : public FdWatch {
   public:
    Watch(FakeLoop& loop, std::uint64_t id, int fd, std::uint32_t events, FdHandler* handler)
        : loop_(loop), id_(id), fd_(fd), events_(events), handler_(handler) {}

    void set_events(std::uint32_t events) noexcept override { events_ = events; }
    void release() noexcept override { loop_.watches_.erase(id_); }  // destroys *this

    FakeLoop& loop_;
    std::uint64_t id_;
    int fd_;
    std::uint32_t events_;
    FdHandler* handler_;
  };

  struct Posted {
    Callback fn = nullptr;
    void* context = nullptr;
  };

  FakeTimer* earliest_armed() const noexcept {
    FakeTimer* best = nullptr;
    for (const auto& [id, timer] : timers_) {
      if (!timer->armed_) continue;
      if (best == nullptr || timer->deadline_ns_ < best->deadline_ns_ ||
          (timer->deadline_ns_ == best->deadline_ns_ && timer->arm_sequence_ < best->arm_sequence_)) {
        best = timer.get();
      }
    }
    return best;
  }

  std::uint64_t now_ns_;
  std::uint64_t next_id_ = 1;
  std::uint64_t next_arm_sequence_ = 0;
  std::map<std::uint64_t, std::unique_ptr<FakeTimer>> timers_;
  std::map<std::uint64_t, std::unique_ptr<Watch>> watches_;
  mutable std::mutex posted_mutex_;
  std::deque<Posted> posted_;
};

}  // namespace mh::testing
