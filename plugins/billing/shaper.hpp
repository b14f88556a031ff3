// One client's rate limit in one direction (DESIGN §7: "a shaper with a bounded queue, not
// a policer"): packets over the rate wait in a fixed FIFO ring and leave as tokens accrue.
#pragma once

#include "token_bucket.hpp"

#include <meshhost/packet.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace mh::billing {

enum class ShaperVerdict : std::uint8_t {
  pass = 0,    // within the rate and nothing waiting: the packet goes on now, still the caller's
  queued = 1,  // the shaper holds the packet until drain() or clear() hands it back
  drop = 2,    // the queue is full: the caller still owns the packet and drops it
};

struct ShaperConfig {
  // The bounds DESIGN §7 asks for: enough queue to absorb a TCP window's burst at low
  // rates, about 100 ms of delay at high ones, never more than kMaxQueueBytes.
  static constexpr std::uint64_t kMinQueueBytes = 64 * 1024;
  static constexpr std::uint64_t kQueueDelayNs = 100'000'000;  // 100 ms
  static constexpr std::uint64_t kMaxQueueBytes = 4 * 1024 * 1024;
  // Upstream copies come from one pool of 1024 for all clients (traffic.hpp), so one
  // client holds at most a small share of it.
  static constexpr std::uint32_t kDefaultQueuePackets = 64;
  static constexpr std::uint32_t kDefaultBurstBytes = 16 * 1024;

  std::uint64_t rate_bps = 0;
  std::uint32_t burst_bytes = kDefaultBurstBytes;
  // The ring's capacity, fixed at construction: the bound on packets held.
  std::uint32_t queue_packets = kDefaultQueuePackets;
  std::uint64_t min_queue_bytes = kMinQueueBytes;
  std::uint64_t queue_delay_ns = kQueueDelayNs;
  std::uint64_t max_queue_bytes = kMaxQueueBytes;
};

// The bytes a shaper at `rate_bps` may hold: `queue_delay_ns` worth at the rate, at least
// `min_queue_bytes`, at most `max_queue_bytes` (which wins over the minimum).
std::uint64_t queue_bytes_bound(const ShaperConfig& config, std::uint64_t rate_bps) noexcept;

struct ShaperCounters {
  std::uint64_t passed_packets = 0;   // let through at offer() without waiting
  std::uint64_t queued_packets = 0;   // held at offer(); each leaves by drain() or clear()
  std::uint64_t drained_packets = 0;  // handed back by drain()
  std::uint64_t dropped_packets = 0;  // refused at offer(): the queue was full
  std::uint64_t dropped_bytes = 0;
};

// Pure: time is passed in (nanoseconds, monotonic); no sockets, no timers — the caller arms
// its timer for next_wakeup(). Allocates only at construction. Not thread-safe.
//
// Ownership: a packet offered and answered `queued` belongs to the shaper until drain()
// writes it out or clear() hands it to its release function; `pass` and `drop` leave it
// with the caller. The shaper never reads or writes the packet itself — not its data and
// not `tag`, which the caller may use to keep per-packet state across the wait.
// Every packet held must be handed back by clear() before the shaper is destroyed.
class Shaper {
 public:
  // Throws std::invalid_argument when config.queue_packets is 0, std::bad_alloc when the
  // ring cannot be allocated — the only allocation it makes.
  Shaper(const ShaperConfig& config, std::uint64_t now_ns);
  ~Shaper();

  Shaper(Shaper&& other) noexcept;
  Shaper& operator=(Shaper&& other) noexcept;
  Shaper(const Shaper&) = delete;
  Shaper& operator=(const Shaper&) = delete;

  // One packet of `bytes` (the inner IP length billing counts) at `now_ns`: pass when the
  // rate allows it and nothing is waiting, since overtaking the queue would reorder the
  // client's flows; queued when the queue has room for it (packets and bytes); drop
  // otherwise. Never blocks, never allocates. `packet` must not be nullptr. Call drain()
  // first once next_wakeup() has come, or a full queue whose head could leave refuses
  // the new packet.
  ShaperVerdict offer(Packet* packet, std::uint32_t bytes, std::uint64_t now_ns) noexcept;

  // Writes into out[0..n) the packets the rate lets go at `now_ns`, oldest first, at most
  // `max`, and returns n. Those packets are the caller's again.
  std::size_t drain(std::uint64_t now_ns, Packet** out, std::size_t max) noexcept;

  // When drain() will next release a packet: `now_ns` if it would now, a later time when
  // the head must wait for tokens, TokenBucket::kNever when the queue is empty (or the
  // rate is 0).
  std::uint64_t next_wakeup(std::uint64_t now_ns) const noexcept;

  // Hands every packet held to `release(Packet*)`, oldest first, and empties the queue:
  // at stop, or when the client's lease ends. `release` takes ownership of each packet
  // (it releases it, or resumes it on the data path).
  template <class ReleaseFn>
  void clear(ReleaseFn&& release) noexcept(noexcept(release(static_cast<Packet*>(nullptr)))) {
    while (count_ > 0) release(pop());
  }

  // A new rate from `now_ns` on (a plan change, or a quota throttle), with the byte bound
  // recomputed for it. Packets already queued stay, even above a smaller bound; new ones
  // are dropped until the queue drains below it.
  void set_rate(std::uint64_t rate_bps, std::uint64_t now_ns) noexcept;

  std::uint64_t rate_bps() const noexcept { return bucket_.rate_bps(); }
  std::size_t queued_packets() const noexcept { return count_; }
  std::uint64_t queued_bytes() const noexcept { return queued_bytes_; }
  std::size_t capacity_packets() const noexcept { return capacity_; }
  std::uint64_t capacity_bytes() const noexcept { return bound_bytes_; }
  const ShaperCounters& counters() const noexcept { return counters_; }

 private:
  struct Slot {
    Packet* packet;
    std::uint32_t bytes;
  };
  Packet* pop() noexcept;

  ShaperConfig config_;
  TokenBucket bucket_;
  std::unique_ptr<Slot[]> ring_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;  // the oldest packet's slot
  std::size_t count_ = 0;
  std::uint64_t queued_bytes_ = 0;
  std::uint64_t bound_bytes_ = 0;
  ShaperCounters counters_;
};

}  // namespace mh::billing
