// The billing ledger: the schema and its migrations, the ledger thread's transactions and
// the read connection's queries.
#include "ledger.hpp"

#include <meshhost/keys.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <future>
#include <map>
#include <tuple>
#include <utility>

namespace mh::billing {

namespace {

// kMigrations[n] takes a database from schema version n to n + 1; version 0 is an empty
// file. Append only: a step that has shipped is never edited, because ledgers in the field
// have already run it. Times are Unix seconds; the counters are UsageCounters' fields.
constexpr std::array<const char*, 3> kMigrations = {
    // 0 → 1: the first schema. Keys are in their text form so an operator's sqlite3 shell
    // shows what meshctl shows.
    R"sql(
CREATE TABLE meta (
  schema_version INTEGER NOT NULL,
  flush_seq INTEGER NOT NULL
);
INSERT INTO meta (schema_version, flush_seq) VALUES (0, 0);
CREATE TABLE clients (
  key TEXT PRIMARY KEY,
  plan TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE TABLE period_totals (
  key TEXT NOT NULL,
  period_label TEXT NOT NULL,
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  bytes_up INTEGER NOT NULL DEFAULT 0,
  bytes_down INTEGER NOT NULL DEFAULT 0,
  packets_up INTEGER NOT NULL DEFAULT 0,
  packets_down INTEGER NOT NULL DEFAULT 0,
  billable_bytes INTEGER NOT NULL DEFAULT 0,
  unbilled_bytes INTEGER NOT NULL DEFAULT 0,
  amount_micros INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (key, period_label)
) WITHOUT ROWID;
CREATE TABLE hourly (
  key TEXT NOT NULL,
  hour_start INTEGER NOT NULL,
  bytes_up INTEGER NOT NULL DEFAULT 0,
  bytes_down INTEGER NOT NULL DEFAULT 0,
  packets_up INTEGER NOT NULL DEFAULT 0,
  packets_down INTEGER NOT NULL DEFAULT 0,
  billable_bytes INTEGER NOT NULL DEFAULT 0,
  unbilled_bytes INTEGER NOT NULL DEFAULT 0,
  amount_micros INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (key, hour_start)
) WITHOUT ROWID;
)sql",
    // 1 → 2: a statement reads one period of every client, and the primary key leads with
    // the client's key.
    R"sql(
CREATE INDEX period_totals_by_label ON period_totals (period_label);
)sql",
    // 2 → 3: whether the client crossed its quota in the period. With overQuota "block" the
    // bytes stay just under the quota (the packet that crossed was not counted), so a
    // restart cannot tell the crossing from the totals.
    R"sql(
ALTER TABLE period_totals ADD COLUMN quota_crossed INTEGER NOT NULL DEFAULT 0;
)sql",
};
static_assert(kMigrations.size() == Ledger::kSchemaVersion, "one migration per schema version");

constexpr const char* kUpsertClient = R"sql(
INSERT INTO clients (key, plan, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
ON CONFLICT (key) DO UPDATE SET
  plan = excluded.plan,
  first_seen = min(first_seen, excluded.first_seen),
  last_seen = max(last_seen, excluded.last_seen)
)sql";

constexpr const char* kUpsertPeriod = R"sql(
INSERT INTO period_totals (key, period_label, period_start, period_end, bytes_up, bytes_down,
  packets_up, packets_down, billable_bytes, unbilled_bytes, amount_micros, quota_crossed)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (key, period_label) DO UPDATE SET
  period_start = excluded.period_start,
  period_end = excluded.period_end,
  bytes_up = bytes_up + excluded.bytes_up,
  bytes_down = bytes_down + excluded.bytes_down,
  packets_up = packets_up + excluded.packets_up,
  packets_down = packets_down + excluded.packets_down,
  billable_bytes = billable_bytes + excluded.billable_bytes,
  unbilled_bytes = unbilled_bytes + excluded.unbilled_bytes,
  amount_micros = amount_micros + excluded.amount_micros,
  quota_crossed = max(quota_crossed, excluded.quota_crossed)
)sql";

constexpr const char* kUpsertHour = R"sql(
INSERT INTO hourly (key, hour_start, bytes_up, bytes_down, packets_up, packets_down,
  billable_bytes, unbilled_bytes, amount_micros)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (key, hour_start) DO UPDATE SET
  bytes_up = bytes_up + excluded.bytes_up,
  bytes_down = bytes_down + excluded.bytes_down,
  packets_up = packets_up + excluded.packets_up,
  packets_down = packets_down + excluded.packets_down,
  billable_bytes = billable_bytes + excluded.billable_bytes,
  unbilled_bytes = unbilled_bytes + excluded.unbilled_bytes,
  amount_micros = amount_micros + excluded.amount_micros
)sql";

constexpr const char* kBumpSeq = "UPDATE meta SET flush_seq = flush_seq + 1 RETURNING flush_seq";

constexpr const char* kSelectTotals = R"sql(
SELECT key, period_label, period_start, period_end, bytes_up, bytes_down, packets_up,
  packets_down, billable_bytes, unbilled_bytes, amount_micros, quota_crossed
FROM period_totals WHERE key = ?1 AND period_label = ?2
)sql";

constexpr const char* kSelectPeriod = R"sql(
SELECT key, period_label, period_start, period_end, bytes_up, bytes_down, packets_up,
  packets_down, billable_bytes, unbilled_bytes, amount_micros, quota_crossed
FROM period_totals WHERE period_label = ?1 ORDER BY key
)sql";

constexpr const char* kSelectHourly = R"sql(
SELECT hour_start, bytes_up, bytes_down, packets_up, packets_down, billable_bytes,
  unbilled_bytes, amount_micros
FROM hourly WHERE key = ?1 AND hour_start >= ?2 AND hour_start < ?3 ORDER BY hour_start
)sql";

// Hourly buckets are kept for a retention (the plugin's hourlyRetentionDays); a period's
// totals are kept for good. hour_start is the primary key's second column, not its first:
// this scans the table, once a day.
constexpr const char* kPruneHourly = "DELETE FROM hourly WHERE hour_start < ?1";

constexpr const char* kSelectClients = "SELECT key, plan, first_seen, last_seen FROM clients ORDER BY key";

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// "ledger: PATH: DOING: what SQLite says" — the one line on_error and open() report.
std::string failure(const std::string& path, std::string_view doing, sqlite3* db) {
  std::string line = "ledger: " + path + ": ";
  line += doing;
  line += ": ";
  line += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return line;
}

bool exec(sqlite3* db, const char* sql) noexcept {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// After a failed statement SQLite may have rolled the transaction back itself (disk full
// does); a second ROLLBACK would only replace its error message.
void rollback(sqlite3* db) noexcept {
  if (sqlite3_get_autocommit(db) == 0) exec(db, "ROLLBACK");
}

Statement prepare(sqlite3* db, const char* sql, unsigned flags = 0) noexcept {
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v3(db, sql, -1, flags, &statement, nullptr);
  return Statement(statement);
}

void bind_text(sqlite3_stmt* statement, int index, std::string_view text) noexcept {
  // A null pointer would bind SQL NULL, which the NOT NULL columns refuse.
  sqlite3_bind_text(statement, index, text.data() != nullptr ? text.data() : "", static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
}

void bind_counters(sqlite3_stmt* statement, int first, const UsageCounters& c) noexcept {
  const std::uint64_t values[] = {c.bytes_up,       c.bytes_down,     c.packets_up,   c.packets_down,
                                  c.billable_bytes, c.unbilled_bytes, c.amount_micros};
  for (std::uint64_t value : values) sqlite3_bind_int64(statement, first++, static_cast<sqlite3_int64>(value));
}

UsageCounters column_counters(sqlite3_stmt* statement, int first) noexcept {
  auto next = [&] { return static_cast<std::uint64_t>(sqlite3_column_int64(statement, first++)); };
  UsageCounters c;
  c.bytes_up = next();
  c.bytes_down = next();
  c.packets_up = next();
  c.packets_down = next();
  c.billable_bytes = next();
  c.unbilled_bytes = next();
  c.amount_micros = next();
  return c;
}

std::string column_text(sqlite3_stmt* statement, int column) {
  const unsigned char* text = sqlite3_column_text(statement, column);
  return text != nullptr ? std::string(reinterpret_cast<const char*>(text)) : std::string();
}

std::optional<PublicKey> column_key(sqlite3_stmt* statement, int column) {
  return parse_public_key(column_text(statement, column));
}

// Runs one SELECT and hands each row to `row`. "" on success, else the line to report. A
// single statement reads one snapshot, so a batch committed meanwhile is seen whole or not.
template <class Bind, class Row>
std::string select(sqlite3* db, const std::string& path, const char* sql, Bind bind, Row row) {
  if (db == nullptr) return "ledger: " + path + ": closed";
  Statement statement = prepare(db, sql);
  if (!statement) return failure(path, "reading", db);
  bind(statement.get());
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(statement.get())) == SQLITE_ROW) row(statement.get());
  if (rc != SQLITE_DONE) return failure(path, "reading", db);
  return {};
}

// `next` folded into `carry`, deltas of the same client, period and hour added up, so that
// a ledger that keeps failing holds one delta per client-hour rather than one per interval.
// Everything that allocates comes before the first move: on std::bad_alloc `carry` is
// intact.
void merge_into(Batch& carry, Batch&& next) {
  using Slot = std::tuple<std::array<std::uint8_t, kPublicKeySize>, std::string, std::int64_t>;
  const std::size_t total = carry.deltas.size() + next.deltas.size();
  auto source = [&](std::size_t i) -> UsageDelta& {
    return i < carry.deltas.size() ? carry.deltas[i] : next.deltas[i - carry.deltas.size()];
  };
  std::map<Slot, std::size_t> index;
  std::vector<std::size_t> target(total);  // where source(i) goes in `merged`
  for (std::size_t i = 0; i < total; ++i) {
    const UsageDelta& delta = source(i);
    Slot slot;
    std::memcpy(std::get<0>(slot).data(), delta.key.bytes, kPublicKeySize);
    std::get<1>(slot) = delta.period_label;
    std::get<2>(slot) = delta.hour_start_s;
    target[i] = index.emplace(std::move(slot), index.size()).first->second;
  }
  std::vector<UsageDelta> merged;
  merged.reserve(index.size());

  for (std::size_t i = 0; i < total; ++i) {
    UsageDelta& delta = source(i);
    if (target[i] == merged.size()) {
      merged.push_back(std::move(delta));
      continue;
    }
    UsageDelta& into = merged[target[i]];
    into.counters += delta.counters;
    into.quota_crossed = into.quota_crossed || delta.quota_crossed;
    into.last_seen_s = std::max(into.last_seen_s, delta.last_seen_s);
    // The later delta knows the current plan and period bounds.
    into.plan = std::move(delta.plan);
    into.period_start_s = delta.period_start_s;
    into.period_end_s = delta.period_end_s;
  }
  carry.deltas = std::move(merged);
}

}  // namespace

UsageCounters& UsageCounters::operator+=(const UsageCounters& other) noexcept {
  bytes_up += other.bytes_up;
  bytes_down += other.bytes_down;
  packets_up += other.packets_up;
  packets_down += other.packets_down;
  billable_bytes += other.billable_bytes;
  unbilled_bytes += other.unbilled_bytes;
  amount_micros += other.amount_micros;
  return *this;
}

// The write connection and its statements; lives on the ledger thread's stack, so nothing
// else can touch it.
struct Ledger::Writer {
  std::string path;
  DbHandle db;
  Statement upsert_client;
  Statement upsert_period;
  Statement upsert_hour;
  Statement bump_seq;
  Statement select_totals;
  Statement prune_hourly;
  std::uint64_t seq = 0;  // as committed

  // "" once the database is open, in WAL mode and at kSchemaVersion; else the line to report.
  std::string open(int busy_timeout_ms) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    db.reset(raw);
    if (rc != SQLITE_OK) return failure(path, "cannot open", raw);
    sqlite3_busy_timeout(db.get(), busy_timeout_ms);
    // See the durability note in ledger.hpp. Per connection: the file is not touched.
    if (!exec(db.get(), "PRAGMA synchronous = FULL")) return failure(path, "cannot open", db.get());

    // Before WAL, which is written into the file: a file that is refused stays as it was.
    if (std::string failed = migrate(); !failed.empty()) return failed;

    // The pragma answers with the mode now in force: a file system without shared memory
    // (some network file systems) keeps the old one.
    Statement wal = prepare(db.get(), "PRAGMA journal_mode = WAL");
    if (!wal || sqlite3_step(wal.get()) != SQLITE_ROW) return failure(path, "cannot use WAL", db.get());
    const std::string mode = column_text(wal.get(), 0);
    wal.reset();
    if (mode != "wal") return "ledger: " + path + ": cannot use WAL (the journal mode stays \"" + mode + "\")";

    const unsigned persistent = SQLITE_PREPARE_PERSISTENT;
    upsert_client = prepare(db.get(), kUpsertClient, persistent);
    upsert_period = prepare(db.get(), kUpsertPeriod, persistent);
    upsert_hour = prepare(db.get(), kUpsertHour, persistent);
    bump_seq = prepare(db.get(), kBumpSeq, persistent);
    select_totals = prepare(db.get(), kSelectTotals, persistent);
    prune_hourly = prepare(db.get(), kPruneHourly, persistent);
    if (!upsert_client || !upsert_period || !upsert_hour || !bump_seq || !select_totals || !prune_hourly)
      return failure(path, "preparing statements", db.get());
    return {};
  }

  // Brings the schema to kSchemaVersion in one transaction, so a crash midway leaves the
  // old version whole, and reads flush_seq.
  std::string migrate() {
    sqlite3* d = db.get();
    if (!exec(d, "BEGIN IMMEDIATE")) return failure(path, "cannot open", d);
    std::string failed;
    const std::int64_t version = schema_version(&failed);
    if (failed.empty() && version > Ledger::kSchemaVersion)
      failed = "ledger: " + path + ": schema version " + std::to_string(version) +
               " is newer than this meshhost knows (" + std::to_string(Ledger::kSchemaVersion) +
               "); refusing to open it";
    for (std::int64_t v = version; failed.empty() && v < Ledger::kSchemaVersion; ++v) {
      const std::string to = std::to_string(v + 1);
      const std::string set_version = "UPDATE meta SET schema_version = " + to;
      if (!exec(d, kMigrations[static_cast<std::size_t>(v)]) || !exec(d, set_version.c_str()))
        failed = failure(path, "migrating the schema from version " + std::to_string(v) + " to " + to, d);
    }
    if (failed.empty()) {
      Statement read = prepare(d, "SELECT flush_seq FROM meta");
      if (!read || sqlite3_step(read.get()) != SQLITE_ROW)
        failed = failure(path, "reading flush_seq", d);
      else
        seq = static_cast<std::uint64_t>(sqlite3_column_int64(read.get(), 0));
      read.reset();  // no statement may be in progress at COMMIT
    }
    if (failed.empty() && !exec(d, "COMMIT")) failed = failure(path, "migrating the schema", d);
    if (!failed.empty()) rollback(d);
    return failed;
  }

  // 0 for an empty file. A file with tables but no single-row meta table is someone else's.
  std::int64_t schema_version(std::string* failed) {
    sqlite3* d = db.get();
    auto number = [&](const char* sql) -> std::optional<std::int64_t> {
      Statement s = prepare(d, sql);
      if (!s || sqlite3_step(s.get()) != SQLITE_ROW) {
        *failed = failure(path, "cannot open", d);
        return std::nullopt;
      }
      return sqlite3_column_int64(s.get(), 0);
    };
    const auto meta = number("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (!meta) return 0;
    if (*meta == 0) {
      const auto objects = number("SELECT count(*) FROM sqlite_master");
      if (objects && *objects > 0)
        *failed = "ledger: " + path + ": not a billing ledger (it has tables but no meta table)";
      return 0;
    }
    const auto rows = number("SELECT count(*) FROM meta");
    if (!rows) return 0;
    if (*rows != 1) {
      *failed = "ledger: " + path + ": not a billing ledger (its meta table has " + std::to_string(*rows) + " rows)";
      return 0;
    }
    const auto version = number("SELECT schema_version FROM meta");
    if (!version) return 0;
    if (*version <= 0) {
      *failed = "ledger: " + path + ": not a billing ledger (schema version " + std::to_string(*version) + ")";
      return 0;
    }
    return *version;
  }

  // Writes `batch` and bumps flush_seq in one transaction; on failure nothing of it stays
  // and *error says why.
  bool write(const Batch& batch, std::string* error) noexcept {
    sqlite3* d = db.get();
    std::uint64_t new_seq = 0;
    try {
      const std::string doing = "writing " + std::to_string(batch.deltas.size()) + " deltas";
      // The message is taken before the reset, which may replace it.
      auto step = [&](sqlite3_stmt* statement) {
        const bool done = sqlite3_step(statement) == SQLITE_DONE;
        if (!done) *error = failure(path, doing, d);
        sqlite3_reset(statement);
        sqlite3_clear_bindings(statement);
        return done;
      };
      if (!exec(d, "BEGIN IMMEDIATE")) {
        *error = failure(path, doing, d);
        return false;
      }
      bool ok = true;
      for (const UsageDelta& delta : batch.deltas) {
        const std::string key = format_public_key(delta.key);
        sqlite3_stmt* client = upsert_client.get();
        bind_text(client, 1, key);
        bind_text(client, 2, delta.plan);
        sqlite3_bind_int64(client, 3, delta.last_seen_s);
        ok = step(client);
        if (!ok) break;

        sqlite3_stmt* period = upsert_period.get();
        bind_text(period, 1, key);
        bind_text(period, 2, delta.period_label);
        sqlite3_bind_int64(period, 3, delta.period_start_s);
        sqlite3_bind_int64(period, 4, delta.period_end_s);
        bind_counters(period, 5, delta.counters);
        sqlite3_bind_int(period, 12, delta.quota_crossed ? 1 : 0);
        ok = step(period);
        if (!ok) break;

        sqlite3_stmt* hour = upsert_hour.get();
        bind_text(hour, 1, key);
        sqlite3_bind_int64(hour, 2, delta.hour_start_s);
        bind_counters(hour, 3, delta.counters);
        ok = step(hour);
        if (!ok) break;
      }
      if (ok) {
        // RETURNING: the row, then done.
        sqlite3_stmt* bump = bump_seq.get();
        ok = sqlite3_step(bump) == SQLITE_ROW;
        if (ok) new_seq = static_cast<std::uint64_t>(sqlite3_column_int64(bump, 0));
        ok = ok && sqlite3_step(bump) == SQLITE_DONE;
        if (!ok) *error = failure(path, doing, d);
        sqlite3_reset(bump);
      }
      if (ok && !exec(d, "COMMIT")) {
        *error = failure(path, doing, d);
        ok = false;
      }
      if (!ok) {
        rollback(d);
        return false;
      }
    } catch (const std::exception&) {  // std::bad_alloc building a key or a message
      rollback(d);
      *error = "ledger: " + path + ": out of memory writing a batch";
      return false;
    }
    seq = new_seq;
    return true;
  }
};

Ledger::Ledger(LedgerOptions options) : options_(std::move(options)) {}

Ledger::~Ledger() { close(); }

std::unique_ptr<Ledger> Ledger::open(LedgerOptions options, std::string* error) {
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(options)));
  std::promise<std::string> opened;
  std::future<std::string> result = opened.get_future();
  try {
    // The promise moves into the thread: it must outlive set_value, which this thread
    // cannot know once get() returns.
    ledger->thread_ = std::thread([self = ledger.get(), opened = std::move(opened)]() mutable {
      Writer writer;
      std::string failed;
      try {
        writer.path = self->options_.path;
        failed = writer.open(self->options_.busy_timeout_ms);
      } catch (const std::exception&) {
        failed = "ledger: " + self->options_.path + ": out of memory opening it";
      }
      self->flush_seq_.store(writer.seq, std::memory_order_release);
      const bool ok = failed.empty();
      opened.set_value(std::move(failed));
      if (ok) self->run(writer);
    });
  } catch (const std::exception& e) {  // std::system_error: no thread to be had
    *error = "ledger: cannot start its thread: " + std::string(e.what());
    return nullptr;
  }
  if (std::string failed = result.get(); !failed.empty()) {
    ledger->thread_.join();
    *error = std::move(failed);
    return nullptr;
  }

  sqlite3* reader = nullptr;
  const std::string& path = ledger->options_.path;
  const int rc = sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  ledger->reader_ = reader;
  if (rc != SQLITE_OK || !exec(reader, "PRAGMA query_only = ON")) {
    *error = failure(path, "cannot open a read connection", reader);
    ledger->close();
    return nullptr;
  }
  sqlite3_busy_timeout(reader, ledger->options_.busy_timeout_ms);
  return ledger;
}

void Ledger::close() noexcept {
  // The reader goes first so that the writer is the last connection: its close checkpoints
  // the WAL into the database and removes it.
  {
    std::lock_guard lock(read_mutex_);
    if (reader_ != nullptr) sqlite3_close_v2(reader_);
    reader_ = nullptr;
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Ledger::enqueue(Job&& job) noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stop_) return false;
    try {
      queue_.push_back(std::move(job));  // strong guarantee: on bad_alloc `job` is intact
    } catch (const std::exception&) {
      return false;
    }
  }
  work_.notify_one();
  return true;
}

bool Ledger::submit(Batch&& batch) noexcept {
  Job job;
  job.batch.deltas.swap(batch.deltas);
  if (enqueue(std::move(job))) return true;
  batch.deltas.swap(job.batch.deltas);  // left as it was
  return false;
}

bool Ledger::load(std::uint64_t ticket, std::vector<TotalsQuery>&& queries) noexcept {
  Job job;
  job.kind = Job::Kind::load;
  job.ticket = ticket;
  job.queries.swap(queries);
  if (enqueue(std::move(job))) return true;
  queries.swap(job.queries);
  return false;
}

bool Ledger::prune_hourly(std::int64_t before_s) noexcept {
  Job job;
  job.kind = Job::Kind::prune;
  job.before_s = before_s;
  return enqueue(std::move(job));
}

bool Ledger::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !writing_; });
}

void Ledger::run(Writer& writer) noexcept {
  Batch carry;  // a batch that failed, waiting to go with the next one
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and every batch submitted has been tried
    Job next = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    switch (next.kind) {
      case Job::Kind::write: flush(writer, carry, std::move(next.batch)); break;
      case Job::Kind::load: load(writer, carry, next); break;
      case Job::Kind::prune: prune(writer, next.before_s); break;
    }
    lock.lock();
    writing_ = false;
    idle_.notify_all();
  }
  lock.unlock();
  if (carry.deltas.empty()) return;
  flush(writer, carry, Batch{});
  if (!carry.deltas.empty())
    report({"ledger: ", options_.path, ": ", std::to_string(carry.deltas.size()),
            " deltas could not be written before stop and are lost"});
}

void Ledger::flush(Writer& writer, Batch& carry, Batch&& next) noexcept {
  Batch* batch = &next;
  if (!carry.deltas.empty()) {
    try {
      merge_into(carry, std::move(next));
    } catch (const std::exception&) {  // std::bad_alloc; `carry` is intact
      report({"ledger: ", options_.path, ": out of memory merging a batch into the one kept; the new one is lost"});
    }
    batch = &carry;
  }
  std::string error;
  if (writer.write(*batch, &error)) {
    carry.deltas.clear();
    flush_seq_.store(writer.seq, std::memory_order_release);
    if (options_.on_flushed) {
      try {
        options_.on_flushed(writer.seq);
      } catch (...) {  // a throwing callback must not take the thread, and the process, down
      }
    }
    return;
  }
  if (batch == &next) carry = std::move(next);
  report({error, "; kept for the next flush"});
}

void Ledger::load(Writer& writer, const Batch& carry, Job& job) noexcept {
  LoadedTotals loaded;
  loaded.ticket = job.ticket;
  try {
    if (!carry.deltas.empty()) {
      loaded.error = "ledger: " + options_.path + ": reading totals: an earlier batch is not written yet";
    } else {
      sqlite3_stmt* s = writer.select_totals.get();
      for (const TotalsQuery& q : job.queries) {
        const std::string key = format_public_key(q.key);
        bind_text(s, 1, key);
        bind_text(s, 2, q.period_label);
        std::optional<PeriodTotals> found;
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
          PeriodTotals totals;
          totals.key = q.key;
          totals.period_label = column_text(s, 1);
          totals.period_start_s = sqlite3_column_int64(s, 2);
          totals.period_end_s = sqlite3_column_int64(s, 3);
          totals.counters = column_counters(s, 4);
          totals.quota_crossed = sqlite3_column_int64(s, 11) != 0;
          found = std::move(totals);
        }
        if (rc != SQLITE_DONE) loaded.error = failure(options_.path, "reading totals", writer.db.get());
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (!loaded.error.empty()) break;
        loaded.totals.push_back(std::move(found));
      }
    }
  } catch (const std::exception&) {  // std::bad_alloc
    loaded.error = "ledger: out of memory reading totals";
  }
  if (!loaded.error.empty()) loaded.totals.clear();
  loaded.queries = std::move(job.queries);
  if (!options_.on_loaded) return;
  try {
    options_.on_loaded(std::move(loaded));
  } catch (...) {  // as in flush()
  }
}

void Ledger::prune(Writer& writer, std::int64_t before_s) noexcept {
  sqlite3_stmt* s = writer.prune_hourly.get();
  sqlite3_bind_int64(s, 1, before_s);
  const bool done = sqlite3_step(s) == SQLITE_DONE;
  std::string error;
  if (!done) {
    try {
      error = failure(options_.path, "pruning hourly buckets", writer.db.get());
    } catch (const std::exception&) {
    }
  }
  const auto rows = static_cast<std::uint64_t>(sqlite3_changes64(writer.db.get()));
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (!done) {
    report({error, "; tried again at the next prune"});
    return;
  }
  if (!options_.on_pruned) return;
  try {
    options_.on_pruned(rows, before_s);
  } catch (...) {  // as in flush()
  }
}

void Ledger::report(std::initializer_list<std::string_view> parts) noexcept {
  if (!options_.on_error) return;
  try {
    std::string line;
    for (std::string_view part : parts) line += part;
    options_.on_error(line);
  } catch (...) {  // as in flush()
  }
}

ReadResult<std::optional<PeriodTotals>> Ledger::totals(const PublicKey& key, std::string_view period_label) const {
  ReadResult<std::optional<PeriodTotals>> out;
  const std::string key_text = format_public_key(key);
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(read_mutex_);
  out.error = select(
      reader_, options_.path, kSelectTotals,
      [&](sqlite3_stmt* s) {
        bind_text(s, 1, key_text);
        bind_text(s, 2, period_label);
      },
      [&](sqlite3_stmt* s) {
        PeriodTotals totals;
        totals.key = key;
        totals.period_label = column_text(s, 1);
        totals.period_start_s = sqlite3_column_int64(s, 2);
        totals.period_end_s = sqlite3_column_int64(s, 3);
        totals.counters = column_counters(s, 4);
        totals.quota_crossed = sqlite3_column_int64(s, 11) != 0;
        out.value = std::move(totals);
      });
  if (!out.ok()) out.value.reset();
  return out;
}

ReadResult<std::vector<PeriodTotals>> Ledger::period(std::string_view period_label) const {
  ReadResult<std::vector<PeriodTotals>> out;
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(read_mutex_);
  out.error = select(
      reader_, options_.path, kSelectPeriod, [&](sqlite3_stmt* s) { bind_text(s, 1, period_label); },
      [&](sqlite3_stmt* s) {
        std::optional<PublicKey> key = column_key(s, 0);
        if (!key) return;
        PeriodTotals totals;
        totals.key = *key;
        totals.period_label = column_text(s, 1);
        totals.period_start_s = sqlite3_column_int64(s, 2);
        totals.period_end_s = sqlite3_column_int64(s, 3);
        totals.counters = column_counters(s, 4);
        totals.quota_crossed = sqlite3_column_int64(s, 11) != 0;
        out.value.push_back(std::move(totals));
      });
  if (!out.ok()) out.value.clear();
  return out;
}

ReadResult<std::vector<HourlyBucket>> Ledger::hourly(const PublicKey& key, std::int64_t from_s,
                                                     std::int64_t to_s) const {
  ReadResult<std::vector<HourlyBucket>> out;
  const std::string key_text = format_public_key(key);
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(read_mutex_);
  out.error = select(
      reader_, options_.path, kSelectHourly,
      [&](sqlite3_stmt* s) {
        bind_text(s, 1, key_text);
        sqlite3_bind_int64(s, 2, from_s);
        sqlite3_bind_int64(s, 3, to_s);
      },
      [&](sqlite3_stmt* s) {
        HourlyBucket bucket;
        bucket.hour_start_s = sqlite3_column_int64(s, 0);
        bucket.counters = column_counters(s, 1);
        out.value.push_back(bucket);
      });
  if (!out.ok()) out.value.clear();
  return out;
}

ReadResult<std::vector<ClientRecord>> Ledger::clients() const {
  ReadResult<std::vector<ClientRecord>> out;
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(read_mutex_);
  out.error = select(
      reader_, options_.path, kSelectClients, [](sqlite3_stmt*) {},
      [&](sqlite3_stmt* s) {
        std::optional<PublicKey> key = column_key(s, 0);
        if (!key) return;
        ClientRecord client;
        client.key = *key;
        client.plan = column_text(s, 1);
        client.first_seen_s = sqlite3_column_int64(s, 2);
        client.last_seen_s = sqlite3_column_int64(s, 3);
        out.value.push_back(std::move(client));
      });
  if (!out.ok()) out.value.clear();
  return out;
}

}  // namespace mh::billing
