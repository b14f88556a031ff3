// The billing ledger (DESIGN §7): each client's per-period totals and hourly buckets in
// SQLite (WAL), written by a thread of its own so the loop thread never waits for a disk.
//
//   auto ledger = Ledger::open({path, on_flushed, on_error}, &error);  // start(): nullptr + one line
//   auto current = ledger->period(label);   // start(): resumes every client's period totals
//   ledger->submit(std::move(batch));       // every flush interval and at stop
//   ledger->flush_seq();                    // the admin API's flush sequence number
//   ledger->load(ticket, {{key, label}});   // a period's totals, read on the ledger thread
//   ledger->prune_hourly(before_s);         // at start and once a day: old hourly rows go
//   ledger.reset();                         // stop(): writes what is queued, joins the thread
#pragma once

#include <meshhost/types.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct sqlite3;

namespace mh::billing {

// Traffic of one client over some span. SQLite integers are signed 64-bit: each field stays
// below 2^63 (9.2 EB, or 9.2 * 10^12 currency units).
struct UsageCounters {
  std::uint64_t bytes_up = 0;        // inner IP bytes from the client, billed or not
  std::uint64_t bytes_down = 0;      // inner IP bytes to the client, billed or not
  std::uint64_t packets_up = 0;
  std::uint64_t packets_down = 0;
  std::uint64_t billable_bytes = 0;  // the part of bytes_up + bytes_down the client pays for
  std::uint64_t unbilled_bytes = 0;  // the rest: unsolicited downstream, free prefixes
  std::uint64_t amount_micros = 0;   // the price of billable_bytes, in micro-units of the plan's currency

  UsageCounters& operator+=(const UsageCounters& other) noexcept;
  friend bool operator==(const UsageCounters&, const UsageCounters&) = default;
};

// What one client used in one hourly bucket of one period since the previous batch. An
// interval that straddles an hour or a period boundary gives one delta for each side.
// Times are Unix seconds; the plugin computes them (the ledger knows no time zone).
struct UsageDelta {
  PublicKey key;
  std::string plan;                 // the plan in force, recorded as the client's plan
  std::string period_label;         // names the period, e.g. "2024-05"; with key, its identity
  std::int64_t period_start_s = 0;  // the period is [period_start_s, period_end_s)
  std::int64_t period_end_s = 0;
  std::int64_t hour_start_s = 0;    // the hourly bucket [hour_start_s, hour_start_s + 3600)
  std::int64_t last_seen_s = 0;     // the client's last traffic within this delta
  UsageCounters counters;
  // The client is over its quota in this period. Sticky: the period's totals keep true
  // once any delta said so, since a crossing is only undone by the period's end.
  bool quota_crossed = false;
};

// One flush interval's deltas, written in one transaction. Several deltas may name the same
// client, period and hour; they add up.
struct Batch {
  std::vector<UsageDelta> deltas;
};

struct PeriodTotals {
  PublicKey key;
  std::string period_label;
  std::int64_t period_start_s = 0;
  std::int64_t period_end_s = 0;
  UsageCounters counters;
  bool quota_crossed = false;  // some delta of the period said the client crossed its quota
};

struct HourlyBucket {
  std::int64_t hour_start_s = 0;
  UsageCounters counters;
};

// One client's period whose totals load() reads.
struct TotalsQuery {
  PublicKey key;
  std::string period_label;
};

// What load() read: for each query, in order, its totals (nullopt when the ledger has none),
// or `error` (one line) and no totals. A load that follows a batch that failed and is still
// kept fails too: the totals it would read miss that batch.
struct LoadedTotals {
  std::uint64_t ticket = 0;
  std::vector<TotalsQuery> queries;
  std::vector<std::optional<PeriodTotals>> totals;
  std::string error;
};

struct ClientRecord {
  PublicKey key;
  std::string plan;  // the plan of its latest delta
  std::int64_t first_seen_s = 0;
  std::int64_t last_seen_s = 0;
};

// What a read returns: the rows, or `error` (one line) when the database could not be read.
// Rows whose key is not a public key (only a hand-edited file has them) are skipped.
template <class T>
struct ReadResult {
  T value{};
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};

struct LedgerOptions {
  std::string path;  // the database file, created if absent; its directory must exist
  // After each committed transaction, with the new flush sequence number. Ledger thread;
  // must not throw, block for long or destroy the Ledger (the plugin posts to its loop).
  std::function<void(std::uint64_t seq)> on_flushed;
  // A batch could not be written (disk full, corrupt file, database locked by another
  // process): one line, no newline. The batch is kept and retried merged with the next one,
  // so a disk that stays full gives a line every interval. Ledger thread; same rules as
  // on_flushed.
  std::function<void(std::string_view line)> on_error;
  // A load() was read (or failed). Ledger thread; same rules as on_flushed.
  std::function<void(LoadedTotals&& loaded)> on_loaded;
  // prune_hourly() deleted `rows` hourly buckets. Ledger thread; same rules as on_flushed.
  std::function<void(std::uint64_t rows, std::int64_t before_s)> on_pruned;
  // How long a statement waits for a lock held by another connection (an operator's sqlite3
  // shell, say) before it fails.
  int busy_timeout_ms = 5000;
};

// Durability: journal_mode=WAL with synchronous=FULL, so every commit fsyncs the WAL before
// on_flushed reports it. synchronous=NORMAL would already survive kill -9 (a commit it
// reports has been written to the OS, which keeps it when the process dies), but a power
// cut or kernel panic could then take transactions back since the last checkpoint, i.e.
// many intervals, not one. One fsync per flush interval (10 s by default) costs nothing.
// A crash thus loses only what the plugin had not submitted yet, or what was still queued.
//
// Threads: submit(), load(), prune_hourly(), the reads and flush_seq() may be called from
// any thread. The writes, load() and prune_hourly() run on the ledger thread over its own
// connection, opened there, in the order they were queued. The reads run on the
// caller's thread over a second connection under a mutex: WAL lets it read the last
// committed state while the writer commits, so a read never waits for a flush (it may
// wait for another read). A read costs an index lookup, or a scan of one period's rows for
// period(); the loop thread's admin methods, which must not block, should answer the
// current period from the plugin's own counters and come here for past periods only.
// SQLite's errors come back in ReadResult::error; a read may throw std::bad_alloc.
class Ledger {
 public:
  // The version this code writes; a database with a newer one is refused.
  static constexpr int kSchemaVersion = 3;

  // Opens (creating or migrating) the database at options.path and starts the ledger
  // thread. Blocks until the schema is ready. nullptr and *error (one line) when the file
  // cannot be opened, is not a billing ledger, has a newer schema, or cannot use WAL.
  static std::unique_ptr<Ledger> open(LedgerOptions options, std::string* error);

  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  // close().
  ~Ledger();

  // Queues `batch` for the ledger thread, which writes it in one transaction and bumps the
  // flush sequence number. Never waits for the disk. False only when out of memory or
  // closed; `batch` is then left as it was.
  bool submit(Batch&& batch) noexcept;

  // The sequence number of the last committed transaction (0 for a new database). It
  // survives restarts and counts transactions: one per batch, except that a batch that
  // failed is written together with the next one.
  std::uint64_t flush_seq() const noexcept { return flush_seq_.load(std::memory_order_acquire); }

  // Queues a read of `queries`' period totals for the ledger thread, behind every batch
  // submitted before: on_loaded gets them with `ticket`. For the loop thread, which must
  // not read the database itself on the data path's behalf (a period reached by a clock
  // step or a reset). False when out of memory or closed.
  bool load(std::uint64_t ticket, std::vector<TotalsQuery>&& queries) noexcept;

  // Queues the deletion of every hourly bucket with hour_start_s < before_s, behind every
  // batch submitted before; per-period totals stay. on_pruned says how many went, on_error
  // why none did. False when out of memory or closed.
  bool prune_hourly(std::int64_t before_s) noexcept;

  // How many reads (totals, period, hourly, clients) ran on callers' threads so far: the
  // admin reads that paid a database lookup (billing.status shows it). load() is not one.
  std::uint64_t read_count() const noexcept { return reads_.load(std::memory_order_relaxed); }

  // One client's totals of one period; nullopt when it has none.
  ReadResult<std::optional<PeriodTotals>> totals(const PublicKey& key, std::string_view period_label) const;
  // Every client's totals of one period, ordered by key: for statements, and at start to
  // resume each client's totals of the current period.
  ReadResult<std::vector<PeriodTotals>> period(std::string_view period_label) const;
  // One client's hourly buckets with from_s <= hour_start_s < to_s, oldest first.
  ReadResult<std::vector<HourlyBucket>> hourly(const PublicKey& key, std::int64_t from_s,
                                               std::int64_t to_s) const;
  // Every client ever seen, ordered by key.
  ReadResult<std::vector<ClientRecord>> clients() const;

  // Tests: waits up to `timeout` until every submitted batch, load and prune has been
  // done or has failed; true if so.
  bool wait_idle(std::chrono::milliseconds timeout);

  // Writes what is queued (a failed batch gets one last try, then on_error says it is
  // lost), stops the thread and closes the database. Reads fail afterwards. Must not race
  // with reads or submits on other threads.
  void close() noexcept;

 private:
  struct Writer;
  // What the ledger thread does next: write a batch, read totals, or prune hourly rows.
  struct Job {
    enum class Kind : std::uint8_t { write, load, prune } kind = Kind::write;
    Batch batch;
    std::uint64_t ticket = 0;
    std::vector<TotalsQuery> queries;
    std::int64_t before_s = 0;
  };
  explicit Ledger(LedgerOptions options);
  bool enqueue(Job&& job) noexcept;
  void run(Writer& writer) noexcept;
  void load(Writer& writer, const Batch& carry, Job& job) noexcept;
  void prune(Writer& writer, std::int64_t before_s) noexcept;
  void flush(Writer& writer, Batch& carry, Batch&& next) noexcept;
  // Joins `parts` into one line for on_error.
  void report(std::initializer_list<std::string_view> parts) noexcept;

  LedgerOptions options_;
  std::thread thread_;
  std::atomic<std::uint64_t> flush_seq_{0};

  std::mutex mutex_;
  std::condition_variable work_;  // the thread waits for a batch or stop_
  std::condition_variable idle_;  // wait_idle waits for the queue to drain
  std::deque<Job> queue_;
  bool writing_ = false;
  bool stop_ = false;

  mutable std::atomic<std::uint64_t> reads_{0};
  mutable std::mutex read_mutex_;
  sqlite3* reader_ = nullptr;
};

}  // namespace mh::billing
