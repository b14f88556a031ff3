// The billing ledger: batches add up, hours stay apart, a restart resumes, old schemas are
// migrated and newer or foreign files refused, a failed flush is not lost, and reads run
// beside the writer.
#include "ledger.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace mh;
using namespace mh::billing;
using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/billing_ledger_XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// What the ledger thread reported.
struct Events {
  std::mutex mutex;
  std::vector<std::uint64_t> flushed;
  std::vector<std::string> errors;

  std::vector<std::string> error_lines() {
    std::lock_guard lock(mutex);
    return errors;
  }
  std::vector<std::uint64_t> flushed_seqs() {
    std::lock_guard lock(mutex);
    return flushed;
  }
};

LedgerOptions options_for(const std::string& path, Events& events) {
  LedgerOptions options;
  options.path = path;
  options.on_flushed = [&events](std::uint64_t seq) {
    std::lock_guard lock(events.mutex);
    events.flushed.push_back(seq);
  };
  options.on_error = [&events](std::string_view line) {
    std::lock_guard lock(events.mutex);
    events.errors.emplace_back(line);
  };
  return options;
}

std::unique_ptr<Ledger> open_ledger(const std::string& path, Events& events) {
  std::string error;
  auto ledger = Ledger::open(options_for(path, events), &error);
  INFO(error);
  REQUIRE(ledger != nullptr);
  return ledger;
}

constexpr std::int64_t kMay = 1714521600;   // 2024-05-01T00:00:00Z
constexpr std::int64_t kJune = 1717200000;  // 2024-06-01T00:00:00Z
constexpr std::int64_t kHour = 3600;

UsageCounters usage(std::uint64_t up, std::uint64_t down, std::uint64_t unbilled = 0) {
  UsageCounters c;
  c.bytes_up = up;
  c.bytes_down = down;
  c.packets_up = up / 100;
  c.packets_down = down / 100;
  c.billable_bytes = up + down - unbilled;
  c.unbilled_bytes = unbilled;
  c.amount_micros = c.billable_bytes * 2;  // 2 000 000 micro-units per GB
  return c;
}

UsageDelta delta(const PublicKey& key, std::int64_t hour_start_s, UsageCounters counters,
                 std::string plan = "basic") {
  UsageDelta d;
  d.key = key;
  d.plan = std::move(plan);
  d.period_label = "2024-05";
  d.period_start_s = kMay;
  d.period_end_s = kJune;
  d.hour_start_s = hour_start_s;
  d.last_seen_s = hour_start_s + 600;
  d.counters = counters;
  return d;
}

Batch batch_of(std::vector<UsageDelta> deltas) { return Batch{std::move(deltas)}; }

void submit(Ledger& ledger, Batch batch) {
  REQUIRE(ledger.submit(std::move(batch)));
  REQUIRE(ledger.wait_idle(10s));
}

bool same(const PublicKey& a, const PublicKey& b) { return std::memcmp(a.bytes, b.bytes, kPublicKeySize) == 0; }

// A connection of the test's own, for making and inspecting files by hand.
struct RawDb {
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    INFO(sql << ": " << (message != nullptr ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  }
  sqlite3* db = nullptr;
};

// Schema version 1 as it shipped, written out here rather than taken from ledger.cpp: the
// test stands for a ledger a gateway made before version 2 existed.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta (schema_version INTEGER NOT NULL, flush_seq INTEGER NOT NULL);
INSERT INTO meta (schema_version, flush_seq) VALUES (1, 7);
CREATE TABLE clients (key TEXT PRIMARY KEY, plan TEXT NOT NULL, first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL);
CREATE TABLE period_totals (key TEXT NOT NULL, period_label TEXT NOT NULL,
  period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
  bytes_up INTEGER NOT NULL DEFAULT 0, bytes_down INTEGER NOT NULL DEFAULT 0,
  packets_up INTEGER NOT NULL DEFAULT 0, packets_down INTEGER NOT NULL DEFAULT 0,
  billable_bytes INTEGER NOT NULL DEFAULT 0, unbilled_bytes INTEGER NOT NULL DEFAULT 0,
  amount_micros INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (key, period_label)) WITHOUT ROWID;
CREATE TABLE hourly (key TEXT NOT NULL, hour_start INTEGER NOT NULL,
  bytes_up INTEGER NOT NULL DEFAULT 0, bytes_down INTEGER NOT NULL DEFAULT 0,
  packets_up INTEGER NOT NULL DEFAULT 0, packets_down INTEGER NOT NULL DEFAULT 0,
  billable_bytes INTEGER NOT NULL DEFAULT 0, unbilled_bytes INTEGER NOT NULL DEFAULT 0,
  amount_micros INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (key, hour_start)) WITHOUT ROWID;
)sql";

}  // namespace

TEST_CASE("a new ledger is at the current schema, in WAL mode, at flush sequence 0") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  Events events;
  auto ledger = open_ledger(path, events);
  CHECK(ledger->flush_seq() == 0);
  REQUIRE(ledger->clients().ok());
  CHECK(ledger->clients().value.empty());
  RawDb raw(path);
  CHECK(raw.text("SELECT schema_version FROM meta") == std::to_string(Ledger::kSchemaVersion));
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
}

TEST_CASE("batches add up per client and period, one flush sequence number each") {
  TempDir dir;
  Events events;
  auto ledger = open_ledger(dir.path + "/billing.db", events);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;

  // Two deltas of `a` in one batch (two hours of one interval) add up too.
  submit(*ledger, batch_of({delta(a, kMay, usage(1000, 5000, 300)), delta(a, kMay + kHour, usage(100, 200)),
                            delta(b, kMay, usage(7, 0))}));
  submit(*ledger, batch_of({delta(a, kMay + kHour, usage(10, 20), "premium")}));
  CHECK(ledger->flush_seq() == 2);
  CHECK(events.flushed_seqs() == std::vector<std::uint64_t>{1, 2});
  CHECK(events.error_lines().empty());

  UsageCounters expected_a = usage(1000, 5000, 300);
  expected_a += usage(100, 200);
  expected_a += usage(10, 20);
  const auto totals = ledger->totals(a, "2024-05");
  REQUIRE(totals.ok());
  REQUIRE(totals.value.has_value());
  CHECK(totals.value->counters == expected_a);
  CHECK(totals.value->counters.billable_bytes == 1000 + 5000 - 300 + 300 + 30);
  CHECK(totals.value->counters.unbilled_bytes == 300);
  CHECK(totals.value->period_start_s == kMay);
  CHECK(totals.value->period_end_s == kJune);
  CHECK(ledger->totals(b, "2024-05").value->counters == usage(7, 0));
  // Another period, or a client never seen, has nothing.
  CHECK_FALSE(ledger->totals(a, "2024-06").value.has_value());
  CHECK_FALSE(ledger->totals(generate_node_key().pub, "2024-05").value.has_value());

  const auto clients = ledger->clients();
  REQUIRE(clients.value.size() == 2);
  for (const ClientRecord& client : clients.value) {
    if (!same(client.key, a)) continue;
    CHECK(client.plan == "premium");  // the latest delta's
    CHECK(client.first_seen_s == kMay + 600);
    CHECK(client.last_seen_s == kMay + kHour + 600);
  }
}

TEST_CASE("hourly buckets keep each hour apart, read over a half-open range") {
  TempDir dir;
  Events events;
  auto ledger = open_ledger(dir.path + "/billing.db", events);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  submit(*ledger, batch_of({delta(a, kMay, usage(100, 0)), delta(a, kMay + 2 * kHour, usage(300, 0)),
                            delta(b, kMay + kHour, usage(999, 0))}));
  submit(*ledger, batch_of({delta(a, kMay, usage(1, 0)), delta(a, kMay + 3 * kHour, usage(400, 0))}));

  const auto all = ledger->hourly(a, kMay, kMay + 24 * kHour);
  REQUIRE(all.ok());
  REQUIRE(all.value.size() == 3);
  CHECK(all.value[0].hour_start_s == kMay);
  UsageCounters first_hour = usage(100, 0);
  first_hour += usage(1, 0);
  CHECK(all.value[0].counters == first_hour);
  CHECK(all.value[1].hour_start_s == kMay + 2 * kHour);
  CHECK(all.value[1].counters == usage(300, 0));
  CHECK(all.value[2].hour_start_s == kMay + 3 * kHour);

  const auto middle = ledger->hourly(a, kMay + kHour, kMay + 3 * kHour);
  REQUIRE(middle.value.size() == 1);
  CHECK(middle.value[0].hour_start_s == kMay + 2 * kHour);
  CHECK(ledger->hourly(b, kMay, kMay + kHour).value.empty());
  CHECK(ledger->hourly(b, kMay + kHour, kMay + 2 * kHour).value.size() == 1);
}

TEST_CASE("a restart resumes every client's period totals and the flush sequence") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  {
    Events events;
    auto ledger = open_ledger(path, events);
    submit(*ledger, batch_of({delta(a, kMay, usage(100, 200)), delta(b, kMay, usage(5, 5))}));
    // Queued at close: written before the thread stops.
    for (int i = 0; i < 20; ++i) REQUIRE(ledger->submit(batch_of({delta(a, kMay + kHour, usage(1, 1))})));
  }
  // The writer was the last connection: the WAL went into the database file.
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));

  Events events;
  auto ledger = open_ledger(path, events);
  CHECK(ledger->flush_seq() == 21);
  const auto resumed = ledger->period("2024-05");
  REQUIRE(resumed.ok());
  REQUIRE(resumed.value.size() == 2);
  UsageCounters expected_a = usage(100, 200);
  for (int i = 0; i < 20; ++i) expected_a += usage(1, 1);
  for (const PeriodTotals& totals : resumed.value) {
    CHECK(totals.period_label == "2024-05");
    CHECK(totals.counters == (same(totals.key, a) ? expected_a : usage(5, 5)));
  }
  CHECK(format_public_key(resumed.value[0].key) < format_public_key(resumed.value[1].key));
  CHECK(ledger->period("2024-06").value.empty());

  submit(*ledger, batch_of({delta(b, kMay, usage(5, 5))}));
  CHECK(ledger->flush_seq() == 22);
  CHECK(events.flushed_seqs() == std::vector<std::uint64_t>{22});
}

TEST_CASE("a version-1 ledger made by hand is migrated, its rows kept") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  const PublicKey a = generate_node_key().pub;
  const std::string a_text = format_public_key(a);
  {
    RawDb raw(path);
    raw.exec(kSchemaV1);
    raw.exec("INSERT INTO clients VALUES ('" + a_text + "', 'basic', 100, 200)");
    raw.exec("INSERT INTO period_totals VALUES ('" + a_text + "', '2024-05', " + std::to_string(kMay) + ", " +
             std::to_string(kJune) + ", 10, 20, 1, 2, 25, 5, 50)");
    raw.exec("INSERT INTO hourly VALUES ('" + a_text + "', " + std::to_string(kMay) + ", 10, 20, 1, 2, 25, 5, 50)");
  }

  Events events;
  auto ledger = open_ledger(path, events);
  CHECK(ledger->flush_seq() == 7);
  {
    RawDb raw(path);
    CHECK(raw.text("SELECT schema_version FROM meta") == "3");
    CHECK(raw.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'period_totals' "
                   "AND name NOT LIKE 'sqlite_%'") == "period_totals_by_label");
    // 2 → 3: a row from before knows of no crossing.
    CHECK(raw.text("SELECT quota_crossed FROM period_totals") == "0");
  }
  const auto before = ledger->totals(a, "2024-05");
  REQUIRE(before.value.has_value());
  CHECK_FALSE(before.value->quota_crossed);
  CHECK(before.value->counters.billable_bytes == 25);
  CHECK(before.value->counters.amount_micros == 50);

  submit(*ledger, batch_of({delta(a, kMay, usage(100, 0))}));
  CHECK(ledger->flush_seq() == 8);
  const auto after = ledger->totals(a, "2024-05");
  CHECK(after.value->counters.bytes_up == 110);
  CHECK(after.value->counters.packets_up == 2);
  CHECK(ledger->hourly(a, kMay, kMay + kHour).value.at(0).counters.bytes_up == 110);
  const auto clients = ledger->clients();
  REQUIRE(clients.value.size() == 1);
  CHECK(clients.value[0].first_seen_s == 100);
}

TEST_CASE("a quota crossing stays recorded for the period once a delta says so") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  Events events;
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  {
    auto ledger = open_ledger(path, events);
    submit(*ledger, batch_of({delta(a, kMay, usage(100, 0)), delta(b, kMay, usage(100, 0))}));
    CHECK_FALSE(ledger->totals(a, "2024-05").value->quota_crossed);

    UsageDelta crossed = delta(a, kMay, UsageCounters{});  // the crossing packet was blocked, not counted
    crossed.quota_crossed = true;
    submit(*ledger, batch_of({crossed}));
    CHECK(ledger->totals(a, "2024-05").value->quota_crossed);

    // A later delta that does not say so does not undo it: max(old, new).
    submit(*ledger, batch_of({delta(a, kMay + kHour, usage(10, 0))}));
    const auto totals = ledger->totals(a, "2024-05");
    CHECK(totals.value->quota_crossed);
    CHECK(totals.value->counters.bytes_up == 110);
    CHECK_FALSE(ledger->totals(b, "2024-05").value->quota_crossed);
  }
  // And it survives a restart, in the period's read as in the client's.
  auto ledger = open_ledger(path, events);
  const auto period = ledger->period("2024-05");
  REQUIRE(period.value.size() == 2);
  for (const PeriodTotals& t : period.value) CHECK(t.quota_crossed == same(t.key, a));
  RawDb raw(path);
  CHECK(raw.text("SELECT quota_crossed FROM period_totals WHERE key = '" + format_public_key(a) + "'") == "1");
  CHECK(events.error_lines().empty());
}

TEST_CASE("a ledger with a newer schema is refused, and left as it was") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  {
    RawDb raw(path);
    raw.exec(kSchemaV1);
    raw.exec("UPDATE meta SET schema_version = 99");
  }
  Events events;
  std::string error;
  CHECK(Ledger::open(options_for(path, events), &error) == nullptr);
  CHECK(error == "ledger: " + path + ": schema version 99 is newer than this meshhost knows (" +
                     std::to_string(Ledger::kSchemaVersion) + "); refusing to open it");
  RawDb raw(path);
  CHECK(raw.text("SELECT schema_version FROM meta") == "99");
  CHECK(raw.text("PRAGMA journal_mode") == "delete");
}

TEST_CASE("a file that is not a billing ledger is refused with one line") {
  TempDir dir;
  Events events;
  std::string error;

  const std::string garbage = dir.path + "/garbage.db";
  std::ofstream(garbage) << std::string(8192, 'x');
  CHECK(Ledger::open(options_for(garbage, events), &error) == nullptr);
  CHECK(error == "ledger: " + garbage + ": cannot open: file is not a database");

  const std::string foreign = dir.path + "/foreign.db";
  RawDb(foreign).exec("CREATE TABLE photos (name TEXT)");
  CHECK(Ledger::open(options_for(foreign, events), &error) == nullptr);
  CHECK(error == "ledger: " + foreign + ": not a billing ledger (it has tables but no meta table)");

  const std::string missing = dir.path + "/no-such-dir/billing.db";
  CHECK(Ledger::open(options_for(missing, events), &error) == nullptr);
  CHECK(error.rfind("ledger: " + missing + ": cannot open: ", 0) == 0);
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("a batch that fails is kept and written with the next one") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  Events events;
  LedgerOptions options = options_for(path, events);
  options.busy_timeout_ms = 50;
  std::string error;
  auto ledger = Ledger::open(std::move(options), &error);
  REQUIRE(ledger != nullptr);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  submit(*ledger, batch_of({delta(a, kMay, usage(1, 1))}));

  // Another process (an operator's sqlite3 shell, say) holds the write lock.
  auto blocker = std::make_unique<RawDb>(path);
  blocker->exec("BEGIN IMMEDIATE");
  submit(*ledger, batch_of({delta(a, kMay, usage(10, 10)), delta(b, kMay, usage(3, 3))}));
  submit(*ledger, batch_of({delta(a, kMay, usage(100, 100))}));
  CHECK(ledger->flush_seq() == 1);
  const auto errors = events.error_lines();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "ledger: " + path + ": writing 2 deltas: database is locked; kept for the next flush");
  // The second try carried the first batch, merged: a, b.
  CHECK(errors[1] == "ledger: " + path + ": writing 2 deltas: database is locked; kept for the next flush");
  // The reader still sees the last commit.
  CHECK(ledger->totals(a, "2024-05").value->counters == usage(1, 1));
  blocker.reset();

  submit(*ledger, batch_of({delta(b, kMay + kHour, usage(1000, 0))}));
  CHECK(ledger->flush_seq() == 2);
  CHECK(events.flushed_seqs() == std::vector<std::uint64_t>{1, 2});
  UsageCounters expected_a = usage(1, 1);
  expected_a += usage(10, 10);
  expected_a += usage(100, 100);
  CHECK(ledger->totals(a, "2024-05").value->counters == expected_a);
  UsageCounters expected_b = usage(3, 3);
  expected_b += usage(1000, 0);
  CHECK(ledger->totals(b, "2024-05").value->counters == expected_b);
  CHECK(ledger->hourly(b, kMay, kMay + 2 * kHour).value.size() == 2);
}

TEST_CASE("reads run beside the writer and see whole batches only") {
  TempDir dir;
  Events events;
  auto ledger = open_ledger(dir.path + "/billing.db", events);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  constexpr int kBatches = 300;

  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kBatches; ++i) {
      // Each batch gives both clients 100 bytes and one packet; the hour moves now and then.
      const std::int64_t hour = kMay + (i / 50) * kHour;
      UsageCounters c = usage(100, 0);
      c.packets_up = 1;
      while (!ledger->submit(batch_of({delta(a, hour, c), delta(b, hour, c)}))) std::this_thread::yield();
      if (i % 8 == 0) std::this_thread::sleep_for(100us);
    }
    CHECK(ledger->wait_idle(30s));
    done = true;
  });

  std::uint64_t last = 0;
  int reads = 0;
  bool torn = false;
  bool went_back = false;
  std::string read_error;
  while (!done || reads == 0) {
    const auto period = ledger->period("2024-05");
    if (!period.ok()) read_error = period.error;
    ++reads;
    if (period.value.empty()) continue;
    if (period.value.size() != 2 || period.value[0].counters != period.value[1].counters) torn = true;
    const UsageCounters& c = period.value[0].counters;
    if (c.bytes_up != 100 * c.packets_up) torn = true;
    went_back = went_back || c.packets_up < last;
    last = c.packets_up;
  }
  writer.join();
  CHECK(read_error == "");
  CHECK_FALSE(torn);
  CHECK_FALSE(went_back);
  MESSAGE(reads << " reads beside " << kBatches << " batches");
  CHECK(reads > 1);
  CHECK(ledger->flush_seq() == kBatches);
  CHECK(ledger->totals(a, "2024-05").value->counters.packets_up == kBatches);
  std::uint64_t hourly_packets = 0;
  for (const HourlyBucket& bucket : ledger->hourly(b, kMay, kJune).value) hourly_packets += bucket.counters.packets_up;
  CHECK(hourly_packets == kBatches);
}

TEST_CASE("after close, submits and reads fail without touching the batch") {
  TempDir dir;
  Events events;
  auto ledger = open_ledger(dir.path + "/billing.db", events);
  ledger->close();
  Batch batch = batch_of({delta(generate_node_key().pub, kMay, usage(1, 1))});
  CHECK_FALSE(ledger->submit(std::move(batch)));
  CHECK(batch.deltas.size() == 1);
  const auto read = ledger->period("2024-05");
  CHECK_FALSE(read.ok());
  CHECK(read.error == "ledger: " + dir.path + "/billing.db: closed");
}

TEST_CASE("pruning deletes hourly buckets older than the cutoff and keeps every period's totals") {
  TempDir dir;
  Events events;
  LedgerOptions options = options_for(dir.path + "/billing.db", events);
  std::vector<std::pair<std::uint64_t, std::int64_t>> pruned;
  options.on_pruned = [&](std::uint64_t rows, std::int64_t before_s) {
    std::lock_guard lock(events.mutex);
    pruned.emplace_back(rows, before_s);
  };
  std::string error;
  auto ledger = Ledger::open(std::move(options), &error);
  REQUIRE(ledger != nullptr);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  submit(*ledger, batch_of({delta(a, kMay, usage(100, 0)), delta(a, kMay + kHour, usage(200, 0)),
                            delta(a, kMay + 2 * kHour, usage(300, 0)), delta(b, kMay, usage(7, 0))}));
  const auto before = ledger->totals(a, "2024-05");
  REQUIRE(before.value.has_value());

  // The cutoff is exclusive: the bucket starting at it stays.
  REQUIRE(ledger->prune_hourly(kMay + kHour));
  REQUIRE(ledger->wait_idle(10s));
  {
    std::lock_guard lock(events.mutex);
    REQUIRE(pruned.size() == 1);
    CHECK(pruned[0].first == 2);  // a's and b's first hour
    CHECK(pruned[0].second == kMay + kHour);
  }
  const auto left = ledger->hourly(a, 0, kJune);
  REQUIRE(left.value.size() == 2);
  CHECK(left.value[0].hour_start_s == kMay + kHour);
  CHECK(left.value[1].hour_start_s == kMay + 2 * kHour);
  CHECK(ledger->hourly(b, 0, kJune).value.empty());
  // Totals are untouched, and keep adding up after a prune.
  CHECK(ledger->totals(a, "2024-05").value->counters == before.value->counters);
  CHECK(ledger->totals(b, "2024-05").value->counters == usage(7, 0));
  submit(*ledger, batch_of({delta(b, kMay, usage(3, 0))}));
  UsageCounters expected_b = usage(7, 0);
  expected_b += usage(3, 0);
  CHECK(ledger->totals(b, "2024-05").value->counters == expected_b);
  // Nothing older is left: a second prune deletes nothing.
  REQUIRE(ledger->prune_hourly(kMay + kHour));
  REQUIRE(ledger->wait_idle(10s));
  {
    std::lock_guard lock(events.mutex);
    REQUIRE(pruned.size() == 2);
    CHECK(pruned[1].first == 1);  // b's first hour, written again after the first prune
  }
  CHECK(events.error_lines().empty());
}

TEST_CASE("load reads totals on the ledger thread behind the batches queued before it") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  Events events;
  LedgerOptions options = options_for(path, events);
  options.busy_timeout_ms = 50;
  std::vector<LoadedTotals> loads;
  options.on_loaded = [&](LoadedTotals&& loaded) {
    std::lock_guard lock(events.mutex);
    loads.push_back(std::move(loaded));
  };
  std::string error;
  auto ledger = Ledger::open(std::move(options), &error);
  REQUIRE(ledger != nullptr);
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;

  // Queued back to back: the load sees the batch before it.
  REQUIRE(ledger->submit(batch_of({delta(a, kMay, usage(100, 50))})));
  REQUIRE(ledger->load(7, {{a, "2024-05"}, {b, "2024-05"}, {a, "2024-06"}}));
  REQUIRE(ledger->wait_idle(10s));
  {
    std::lock_guard lock(events.mutex);
    REQUIRE(loads.size() == 1);
    CHECK(loads[0].ticket == 7);
    CHECK(loads[0].error.empty());
    REQUIRE(loads[0].queries.size() == 3);
    REQUIRE(loads[0].totals.size() == 3);
    REQUIRE(loads[0].totals[0].has_value());
    CHECK(same(loads[0].totals[0]->key, a));
    CHECK(loads[0].totals[0]->counters == usage(100, 50));
    CHECK(loads[0].totals[0]->period_start_s == kMay);
    CHECK_FALSE(loads[0].totals[1].has_value());
    CHECK_FALSE(loads[0].totals[2].has_value());
  }

  // A batch that failed and is kept would be missing from what a load reads: it fails.
  auto blocker = std::make_unique<RawDb>(path);
  blocker->exec("BEGIN IMMEDIATE");
  submit(*ledger, batch_of({delta(a, kMay, usage(1, 1))}));
  REQUIRE(ledger->load(8, {{a, "2024-05"}}));
  REQUIRE(ledger->wait_idle(10s));
  {
    std::lock_guard lock(events.mutex);
    REQUIRE(loads.size() == 2);
    CHECK(loads[1].ticket == 8);
    CHECK(loads[1].error.find("an earlier batch is not written yet") != std::string::npos);
    CHECK(loads[1].totals.empty());
    CHECK(loads[1].queries.size() == 1);
  }
  blocker.reset();
  submit(*ledger, batch_of({}));  // the kept batch goes with the next one
  REQUIRE(ledger->load(9, {{a, "2024-05"}}));
  REQUIRE(ledger->wait_idle(10s));
  std::lock_guard lock(events.mutex);
  REQUIRE(loads.size() == 3);
  CHECK(loads[2].error.empty());
  UsageCounters expected = usage(100, 50);
  expected += usage(1, 1);
  REQUIRE(loads[2].totals.at(0).has_value());
  CHECK(loads[2].totals[0]->counters == expected);
}
