// The ledger under process death and a full disk, each in a forked child: kill -9 loses no
// flush the child saw completed and leaves no batch half written; a flush the disk refused
// is written with the next one.
#include "ledger.hpp"

#include "child_facts.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace mh;
using namespace mh::billing;
using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/billing_ledger_crash_XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

constexpr std::int64_t kMay = 1714521600;  // 2024-05-01T00:00:00Z
constexpr std::int64_t kJune = 1717200000;
constexpr std::int64_t kHour = 3600;
constexpr int kClients = 4;

PublicKey client_key(int i) {
  PublicKey key;
  for (std::size_t b = 0; b < kPublicKeySize; ++b) key.bytes[b] = static_cast<std::uint8_t>(0x10 * (i + 1) + b);
  return key;
}

// Batch number n (from 1, across every child's life): every client gets something that
// depends on n, the hour moves every 16 batches, and client 0 also has a second period
// every 5th batch, so a half-written batch shows in some total or bucket.
Batch numbered_batch(std::uint64_t n) {
  Batch batch;
  for (int c = 0; c < kClients; ++c) {
    UsageDelta d;
    d.key = client_key(c);
    d.plan = "basic";
    d.period_label = "2024-05";
    d.period_start_s = kMay;
    d.period_end_s = kJune;
    d.hour_start_s = kMay + static_cast<std::int64_t>(n / 16) * kHour;
    d.last_seen_s = d.hour_start_s;
    d.counters.bytes_up = n * static_cast<std::uint64_t>(c + 1);
    d.counters.bytes_down = n % 7;
    d.counters.packets_up = 1;
    d.counters.billable_bytes = d.counters.bytes_up;
    d.counters.unbilled_bytes = d.counters.bytes_down;
    d.counters.amount_micros = 3 * d.counters.bytes_up;
    batch.deltas.push_back(d);
    if (c == 0 && n % 5 == 0) {
      d.period_label = "2024-06";
      d.period_start_s = kJune;
      d.period_end_s = kJune + 30 * 24 * kHour;
      batch.deltas.push_back(d);
    }
  }
  return batch;
}

// The child: writes numbered batches as fast as the disk allows, a few in flight, and
// reports each completed flush sequence number on `fd`. Never returns.
[[noreturn]] void write_until_killed(const std::string& path, int fd) {
  auto say = [fd](const std::string& line) {
    const std::string text = line + "\n";
    (void)!::write(fd, text.data(), text.size());
  };
  LedgerOptions options;
  options.path = path;
  options.on_flushed = [say](std::uint64_t seq) { say(std::to_string(seq)); };
  options.on_error = [say](std::string_view line) { say("error " + std::string(line)); };
  std::string error;
  auto ledger = Ledger::open(std::move(options), &error);
  if (!ledger) {
    say("error " + error);
    std::_Exit(2);
  }
  // One batch per transaction, so sequence number n holds batches 1..n.
  for (std::uint64_t n = ledger->flush_seq() + 1;; ++n) {
    while (n - ledger->flush_seq() > 3) std::this_thread::sleep_for(100us);
    ledger->submit(numbered_batch(n));
  }
}

struct Expected {
  std::map<std::pair<int, std::string>, UsageCounters> totals;  // (client, period)
  std::map<std::pair<int, std::int64_t>, UsageCounters> hourly;  // (client, hour)
};

Expected sum_of_batches(std::uint64_t last) {
  Expected e;
  for (std::uint64_t n = 1; n <= last; ++n) {
    for (const UsageDelta& d : numbered_batch(n).deltas) {
      const int c = d.key.bytes[0] / 0x10 - 1;
      e.totals[{c, d.period_label}] += d.counters;
      e.hourly[{c, d.hour_start_s}] += d.counters;
    }
  }
  return e;
}

}  // namespace

TEST_CASE("kill -9 loses no completed flush and leaves no batch half written") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  std::mt19937 random(std::random_device{}());
  constexpr int kRounds = 4;
  constexpr int kCompletions = 40;  // seen by the parent before it kills

  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(stdout);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      write_until_killed(path, fds[1]);
    }
    ::close(fds[1]);

    std::uint64_t last_seen = 0;
    int completions = 0;
    std::string pending, errors;
    auto take = [&](const char* data, std::size_t size) {
      pending.append(data, size);
      for (std::size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
        const std::string line = pending.substr(0, end);
        if (line.rfind("error", 0) == 0) {
          errors += line + "\n";
          continue;
        }
        last_seen = std::max<std::uint64_t>(last_seen, std::stoull(line));
        ++completions;
      }
    };
    char buffer[4096];
    while (completions < kCompletions && errors.empty()) {
      pollfd p{fds[0], POLLIN, 0};
      REQUIRE(::poll(&p, 1, 30'000) == 1);
      const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      REQUIRE(n > 0);
      take(buffer, static_cast<std::size_t>(n));
    }
    // Somewhere inside the next transactions, not always right after a completion.
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    // Completions written before the end count too: those flushes must have survived.
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) take(buffer, static_cast<std::size_t>(n));
    ::close(fds[0]);
    INFO(errors);
    REQUIRE(errors.empty());

    std::string error;
    LedgerOptions options;
    options.path = path;
    auto ledger = Ledger::open(std::move(options), &error);
    INFO(error);
    REQUIRE(ledger != nullptr);
    const std::uint64_t seq = ledger->flush_seq();
    MESSAGE("round " << round << ": last completion seen " << last_seen << ", database at " << seq);
    CHECK(seq >= last_seen);
    CHECK(last_seen >= static_cast<std::uint64_t>(kCompletions) * (round + 1));

    const Expected expected = sum_of_batches(seq);
    for (int c = 0; c < kClients; ++c) {
      CAPTURE(c);
      for (const char* label : {"2024-05", "2024-06"}) {
        const auto totals = ledger->totals(client_key(c), label);
        REQUIRE(totals.ok());
        const auto want = expected.totals.find({c, label});
        if (want == expected.totals.end()) {
          CHECK_FALSE(totals.value.has_value());
        } else {
          REQUIRE(totals.value.has_value());
          CHECK(totals.value->counters == want->second);
        }
      }
      const auto hourly = ledger->hourly(client_key(c), kMay, kJune);
      REQUIRE(hourly.ok());
      std::size_t buckets = 0;
      for (const auto& entry : expected.hourly) buckets += entry.first.first == c;
      CHECK(hourly.value.size() == buckets);
      for (const HourlyBucket& bucket : hourly.value) {
        const auto want = expected.hourly.find({c, bucket.hour_start_s});
        REQUIRE(want != expected.hourly.end());
        CHECK(bucket.counters == want->second);
      }
    }
  }
}

TEST_CASE("a flush the full disk refused is written with the next one") {
  TempDir dir;
  const std::string path = dir.path + "/billing.db";
  constexpr int kBigClients = 3000;

  const auto report = mh::testing_support::run_in_child([&](std::ostream& out) {
    // Past RLIMIT_FSIZE a write fails with EFBIG, as on a full disk, instead of the signal.
    ::signal(SIGXFSZ, SIG_IGN);
    std::vector<std::string> errors;
    std::mutex mutex;
    LedgerOptions options;
    options.path = path;
    options.on_error = [&](std::string_view line) {
      std::lock_guard lock(mutex);
      errors.emplace_back(line);
    };
    std::string error;
    auto ledger = Ledger::open(std::move(options), &error);
    if (!ledger) {
      out << "open_error " << error << "\n";
      return 1;
    }
    ledger->submit(numbered_batch(1));
    ledger->wait_idle(10s);

    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    rlimit tight = old;
    tight.rlim_cur = static_cast<rlim_t>(std::filesystem::file_size(path + "-wal") + 4096);
    ::setrlimit(RLIMIT_FSIZE, &tight);
    Batch big;
    for (int i = 0; i < kBigClients; ++i) {
      UsageDelta d;
      d.key.bytes[0] = 0xf0;  // unlike client_key()'s
      d.key.bytes[1] = static_cast<std::uint8_t>(i >> 8);
      d.key.bytes[2] = static_cast<std::uint8_t>(i);
      d.plan = "basic";
      d.period_label = "2024-05";
      d.period_start_s = kMay;
      d.period_end_s = kJune;
      d.hour_start_s = kMay;
      d.counters.bytes_up = 1000;
      big.deltas.push_back(d);
    }
    ledger->submit(std::move(big));
    ledger->wait_idle(10s);
    out << "seq_refused " << ledger->flush_seq() << "\n";
    {
      std::lock_guard lock(mutex);
      out << "errors " << errors.size() << "\n";
      if (!errors.empty()) out << "error " << errors.front() << "\n";
    }

    ::setrlimit(RLIMIT_FSIZE, &old);
    ledger->submit(numbered_batch(2));
    ledger->wait_idle(10s);
    out << "seq_after " << ledger->flush_seq() << "\n";
    const auto period = ledger->period("2024-05");
    std::uint64_t bytes_up = 0;
    for (const PeriodTotals& t : period.value) bytes_up += t.counters.bytes_up;
    out << "clients " << period.value.size() << "\n";
    out << "bytes_up " << bytes_up << "\n";
    {
      std::lock_guard lock(mutex);
      out << "errors_after " << errors.size() << "\n";
    }
    return 0;
  });

  CHECK(report.exit_code == 0);
  CHECK(report.facts.at("seq_refused") == "1");
  CHECK(report.facts.at("errors") == "1");
  const std::string& line = report.facts.at("error");
  CHECK(line.rfind("ledger: " + path + ": writing 3000 deltas: ", 0) == 0);
  CHECK(line.find("; kept for the next flush") != std::string::npos);
  // The refused batch and the next one went in together, as one transaction.
  CHECK(report.facts.at("seq_after") == "2");
  CHECK(report.facts.at("errors_after") == "1");
  CHECK(report.facts.at("clients") == std::to_string(kClients + kBigClients));
  std::uint64_t expected = 1000ull * kBigClients;
  for (std::uint64_t n = 1; n <= 2; ++n)
    for (const UsageDelta& d : numbered_batch(n).deltas)
      if (d.period_label == "2024-05") expected += d.counters.bytes_up;
  CHECK(report.facts.at("bytes_up") == std::to_string(expected));
}
