// Argon2id for neighbours found by beacons, off the loop thread. A beacon's hint carrying
// the driver's beacon password needs noise::derive_psk towards the key it names (64 MiB,
// about 0.3 s); forged beacons with fresh keys would otherwise keep the loop busy. One
// worker thread derives the queued jobs one at a time and signals an eventfd the plugin
// watches; the plugin takes the results on the loop thread and hands them to the table.
//
//   worker.open(loop, handler);                  // start(): the eventfd and its watch
//   switch (worker.submit(link, hint)) { … }      // on_peer_hint, when table.needs_psk(hint)
//   worker.cancel_link(link);                     // on_link_down
//   worker.take_done(results);                    // handler->on_fd_ready: finished jobs
//   worker.close();                               // stop(): joins the thread (one derivation at most)
//
// PskCache remembers derived psks so that a neighbour heard again costs nothing.
#pragma once

#include <meshhost/link.hpp>
#include <meshhost/loop.hpp>
#include <meshhost/noise.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mh::sw {

// A beacon's hint waiting for (or holding) its psk. Owns copies of what PeerHint borrows.
struct PskJob {
  Link* link = nullptr;
  Endpoint endpoint;
  PublicKey key;
  std::string password;
  std::string login;
  std::string peer_name;
  noise::Psk psk;     // derived; all zero when Argon2id failed
  bool ok = false;    // Argon2id succeeded
  bool dead = false;  // the link went down meanwhile: only the psk is of use
  // The hint as the table takes it; views into this job.
  PeerHint hint() const noexcept;
};

class PskWorker {
 public:
  static constexpr std::size_t kMaxPending = 8;  // queued, running or done and not yet taken

  enum class Submit : std::uint8_t {
    queued,
    already_pending,  // a job for this key is queued, running or done: nothing more to do
    busy,             // kMaxPending jobs already, or no memory or thread for it: dropped
  };

  PskWorker() = default;
  PskWorker(const PskWorker&) = delete;
  PskWorker& operator=(const PskWorker&) = delete;
  ~PskWorker() { close(); }

  // Creates the eventfd and watches it on `loop` with `handler` (borrowed). The thread
  // starts with the first job.
  Status open(Loop* loop, FdHandler* handler) noexcept;
  // Stops the thread (waiting for a derivation in progress), drops every job, releases
  // the watch and closes the eventfd. open() may be called again afterwards.
  void close() noexcept;

  // Queues a derivation for `hint` heard on `link`. Loop thread.
  Submit submit(Link* link, const PeerHint& hint) noexcept;
  // `link` is going away: its queued jobs are dropped, running and finished ones marked dead.
  void cancel_link(Link* link) noexcept;
  // Called when the eventfd is readable: moves finished jobs to `out` (cleared first;
  // reserve kMaxPending to never allocate) and frees their places. Loop thread.
  void take_done(std::vector<PskJob>& out) noexcept;

  int fd() const noexcept { return fd_; }
  // Jobs not yet taken.
  std::size_t pending() const noexcept;
  // Derivations the thread finished (for metrics and tests).
  std::uint64_t derived() const noexcept;
  // Tests: waits up to `timeout` until no job is queued or running; true if so.
  bool wait_idle(std::chrono::milliseconds timeout) noexcept;

 private:
  enum class State : std::uint8_t { free, queued, running, done };
  struct Slot {
    State state = State::free;
    std::uint64_t order = 0;  // FIFO among queued jobs
    PskJob job;
  };

  void run() noexcept;
  bool has_queued() const noexcept;  // with mutex_ held

  int fd_ = -1;
  FdWatch* watch_ = nullptr;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // the thread waits for jobs or stop_
  std::condition_variable idle_;  // wait_idle waits for the thread to finish the queue
  std::array<Slot, kMaxPending> slots_{};
  std::uint64_t next_order_ = 0;
  std::uint64_t derived_ = 0;
  bool stop_ = false;
};

// (key, password) → psk for discovered keys, bounded: the oldest entry makes room.
class PskCache {
 public:
  static constexpr std::size_t kEntries = 64;

  std::optional<noise::Psk> find(const PublicKey& key, std::string_view password) const noexcept;
  // Remembers a derived psk; out of memory, nothing is remembered.
  void insert(const PublicKey& key, std::string_view password, const noise::Psk& psk) noexcept;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    PublicKey key;
    std::string password;
    noise::Psk psk;
  };
  std::vector<Entry> entries_;
  std::size_t next_ = 0;  // the entry replaced next once full
};

}  // namespace mh::sw
