// The switch's background Argon2id: one thread, a fixed table of jobs, an eventfd back.
#include "psk_worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mh::sw {

namespace {

bool same_key(const PublicKey& a, const PublicKey& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0;
}

}  // namespace

PeerHint PskJob::hint() const noexcept {
  PeerHint h;
  h.endpoint = endpoint;
  h.key = key;
  h.password = Str(password.data(), password.size());
  h.login = Str(login.data(), login.size());
  h.peer_name = Str(peer_name.data(), peer_name.size());
  h.from_beacon = true;
  return h;
}

Status PskWorker::open(Loop* loop, FdHandler* handler) noexcept {
  close();
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) return Status::error(StatusCode::internal, "switch: eventfd failed");
  if (Status s = loop->watch_fd(fd_, kFdReadable, handler, &watch_); !s.ok()) {
    ::close(fd_);
    fd_ = -1;
    return s;
  }
  std::lock_guard lock(mutex_);
  stop_ = false;
  return Status::success();
}

void PskWorker::close() noexcept {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mutex_);
    for (Slot& slot : slots_) {
      slot.state = State::free;
      slot.job = PskJob{};
    }
  }
  idle_.notify_all();
  if (watch_ != nullptr) watch_->release();
  watch_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

PskWorker::Submit PskWorker::submit(Link* link, const PeerHint& hint) noexcept {
  if (fd_ < 0) return Submit::busy;
  std::unique_lock lock(mutex_);
  Slot* free_slot = nullptr;
  for (Slot& slot : slots_) {
    if (slot.state == State::free) {
      if (free_slot == nullptr) free_slot = &slot;
    } else if (!slot.job.dead && same_key(slot.job.key, hint.key)) {
      return Submit::already_pending;
    }
  }
  if (free_slot == nullptr) return Submit::busy;
  try {
    PskJob& job = free_slot->job;
    job = PskJob{};
    job.link = link;
    job.endpoint = hint.endpoint;
    job.key = hint.key;
    job.password.assign(hint.password.data, hint.password.size);
    job.login.assign(hint.login.data, hint.login.size);
    job.peer_name.assign(hint.peer_name.data, hint.peer_name.size);
  } catch (const std::exception&) {
    free_slot->job = PskJob{};
    return Submit::busy;
  }
  free_slot->state = State::queued;
  free_slot->order = next_order_++;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::exception&) {  // std::system_error: no thread to be had
      free_slot->state = State::free;
      free_slot->job = PskJob{};
      return Submit::busy;
    }
  }
  lock.unlock();
  work_.notify_one();
  return Submit::queued;
}

void PskWorker::cancel_link(Link* link) noexcept {
  std::lock_guard lock(mutex_);
  for (Slot& slot : slots_) {
    if (slot.state == State::free || slot.job.link != link) continue;
    if (slot.state == State::queued) {
      slot.state = State::free;
      slot.job = PskJob{};
    } else {
      slot.job.dead = true;  // running: the thread finishes it; done: only the cache takes it
    }
  }
  idle_.notify_all();
}

void PskWorker::take_done(std::vector<PskJob>& out) noexcept {
  out.clear();
  std::uint64_t count = 0;
  while (::read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  std::lock_guard lock(mutex_);
  for (Slot& slot : slots_) {
    if (slot.state != State::done) continue;
    if (out.size() < out.capacity()) out.push_back(std::move(slot.job));  // never allocates
    slot.state = State::free;
    slot.job = PskJob{};
  }
}

std::size_t PskWorker::pending() const noexcept {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const Slot& slot : slots_) n += slot.state != State::free;
  return n;
}

std::uint64_t PskWorker::derived() const noexcept {
  std::lock_guard lock(mutex_);
  return derived_;
}

bool PskWorker::has_queued() const noexcept {
  for (const Slot& slot : slots_)
    if (slot.state == State::queued) return true;
  return false;
}

bool PskWorker::wait_idle(std::chrono::milliseconds timeout) noexcept {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] {
    if (has_queued()) return false;
    for (const Slot& slot : slots_)
      if (slot.state == State::running) return false;
    return true;
  });
}

void PskWorker::run() noexcept {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || has_queued(); });
    if (stop_) return;
    Slot* next = nullptr;
    for (Slot& slot : slots_)
      if (slot.state == State::queued && (next == nullptr || slot.order < next->order)) next = &slot;
    next->state = State::running;
    // The slot stays ours while running: the loop thread only marks it dead.
    const PublicKey key = next->job.key;
    std::string password;
    password.swap(next->job.password);
    lock.unlock();
    noise::Psk psk;
    const bool ok = noise::derive_psk(password, key, &psk).ok();
    lock.lock();
    next->job.password.swap(password);
    next->job.psk = ok ? psk : noise::Psk{};
    next->job.ok = ok;
    next->state = State::done;
    ++derived_;
    const std::uint64_t one = 1;
    // The counter cannot overflow (at most one write per job); EAGAIN is impossible then.
    while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    idle_.notify_all();
  }
}

std::optional<noise::Psk> PskCache::find(const PublicKey& key, std::string_view password) const noexcept {
  for (const Entry& e : entries_)
    if (same_key(e.key, key) && e.password == password) return e.psk;
  return std::nullopt;
}

void PskCache::insert(const PublicKey& key, std::string_view password, const noise::Psk& psk) noexcept {
  try {
    for (Entry& e : entries_) {
      if (same_key(e.key, key) && e.password == password) {
        e.psk = psk;
        return;
      }
    }
    if (entries_.size() < kEntries) {
      entries_.push_back(Entry{key, std::string(password), psk});
      return;
    }
    Entry& e = entries_[next_];
    e.key = key;
    e.password.assign(password);
    e.psk = psk;
    next_ = (next_ + 1) % kEntries;
  } catch (const std::exception&) {
    // Remembering is an optimisation: without it the next beacon derives again.
  }
}

}  // namespace mh::sw
