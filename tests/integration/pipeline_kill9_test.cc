// The whole pipeline with the real binary, `sluice run` killed with SIGKILL ten times under load
// and restarted: what reached the queue is delivered to the event log and the SQLite table
// exactly once, in order, and backfill brings back what was in flight at each kill.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "pipeline_e2e_fixture.h"
#include "queue/disk/disk_queue.h"
#include "queue/event.h"
#include "support/child_process.h"
#include "support/eventually.h"
#include "support/sqlite_rows.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// The queue, read in-process (read-only, as `sluice queue tail` does).

struct queue_state {
  queue::position watermark = 0;
  std::map<std::string, queue::position> cursors; // committed, by subscription
};

std::optional<queue_state> inspect_queue(const fs::path& dir) {
  auto info = queue::disk::inspect(dir);
  if (!info)
    return std::nullopt;
  queue_state s;
  s.watermark = info->watermark;
  for (const auto& c : info->cursors)
    s.cursors[c.name] = c.committed;
  return s;
}

/// The payload of the durable record at `pos`, nothing when it cannot be read.
std::optional<std::string> queue_payload_at(const fs::path& dir, queue::position pos) {
  if (pos == 0)
    return std::nullopt;
  auto reader = queue::disk::open_reader(dir, queue::start_at::at(pos));
  if (!reader)
    return std::nullopt;
  queue::batch b;
  if (!(*reader)->read(b, {1, 8u << 20}, 0ms) || b.empty() || b.records[0].pos != pos)
    return std::nullopt;
  auto e = queue::decode_event(b.records[0]);
  if (!e)
    return std::nullopt;
  return std::string(e->payload);
}

// ---------------------------------------------------------------------------------------------
// The firehose's lines by content, to tell which rank a payload is.

/// Rank of each of the stream's lines 1..k_events, by a 64-bit hash of the line (the caller
/// compares the bytes with generator::line_at).
class rank_index {
public:
  rank_index() {
    firehose::generator g(stream_options());
    for (std::uint64_t r = 1; r <= k_events; ++r) {
      auto [it, fresh] = by_hash_.emplace(hash(g.line_at(r)), r);
      if (!fresh)
        ++collisions_;
    }
  }
  /// The rank whose line hashes as `payload`, 0 when none.
  std::uint64_t find(std::string_view payload) const {
    auto it = by_hash_.find(hash(payload));
    return it == by_hash_.end() ? 0 : it->second;
  }
  std::uint64_t collisions() const { return collisions_; }

private:
  static std::size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  std::unordered_map<std::size_t, std::uint64_t> by_hash_;
  std::uint64_t collisions_ = 0;
};

// Ten SIGKILLs under load. A kill loses what was in flight (mostly in the socket buffers: 10,000
// to 35,000 events per kill in our runs without backfill), which the firehose counted as sent;
// with backfill = 50,000 each new run asks for the 50,000 events before its connection, drops
// those already queued (its window refilled from the queue) and queues the lost ones: every
// event of the stream ends in sqlite and the event log exactly once, in stream order.
TEST_F(pipeline_e2e_test, kill9_ten_times_with_backfill_delivers_every_event_exactly_once) {
  firehose_child fh(e2e_firehose_options(), paths_.firehose_log());
  ASSERT_NE(fh.port(), 0) << "the firehose did not print its port\n" << fh.proc().log();
  paths_.write_config(fh.port(), true, 50'000);

  rank_index ranks;
  ASSERT_EQ(ranks.collisions(), 0u);
  auto watermark = [&]() -> queue::position {
    auto q = inspect_queue(paths_.queue());
    return q ? q->watermark : 0;
  };
  // How far the stream got, in ranks: the rank of the queue's last durable event, and that of
  // sqlite's last row (0 while there is none).
  auto queue_rank = [&]() -> std::uint64_t {
    auto q = inspect_queue(paths_.queue());
    auto p = q ? queue_payload_at(paths_.queue(), q->watermark) : std::nullopt;
    return p ? ranks.find(*p) : 0;
  };
  auto sqlite_rank = [&]() -> std::uint64_t {
    auto p =
        sqlite_try_text(paths_.db(), "SELECT payload FROM \"sqlite\" ORDER BY id DESC LIMIT 1");
    return p ? ranks.find(*p) : 0;
  };

  // Ten kills at moments drawn from a fixed seed. Five while the stream comes in, each once the
  // queue holds a rank past a threshold in 1..k_events/2. Then five while the backlog goes out,
  // once the whole stream is queued, each once sqlite's last row is past a threshold in
  // 1..k_events (a threshold already passed kills the next run as it starts).
  struct kill_plan {
    bool on_sqlite;
    std::uint64_t threshold;
  };
  std::mt19937_64 rng(20240611);
  std::vector<kill_plan> plan;
  for (bool on_sqlite : {false, true}) {
    std::uniform_int_distribution<std::uint64_t> pick(1, on_sqlite ? k_events : k_events / 2);
    std::vector<std::uint64_t> t(5);
    for (auto& v : t)
      v = pick(rng);
    std::sort(t.begin(), t.end());
    for (auto v : t)
      plan.push_back({on_sqlite, v});
  }

  auto started = steady::now();
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto [on_sqlite, threshold] = plan[i];
    auto run = start_run(paths_);
    std::uint64_t seen = 0;
    bool reached = eventually(k_pipeline_timeout, [&] {
      if (ended_early(*run))
        return true;
      if (!on_sqlite)
        return (seen = queue_rank()) >= threshold;
      return queue_rank() == k_events && (seen = sqlite_rank()) >= threshold;
    });
    ASSERT_FALSE(HasFailure());
    ASSERT_TRUE(reached) << "kill " << i + 1 << ": after " << k_pipeline_timeout.count() << " s, "
                         << (on_sqlite ? "sqlite's" : "the queue's") << " last rank " << seen
                         << " < " << threshold << "\n"
                         << tail_of(run->log());
    run->kill(SIGKILL);
    auto st = run->wait(10s);
    ASSERT_TRUE(st && WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)
        << (st ? describe_status(*st) : "still running") << "\n"
        << tail_of(run->log());
    std::cout << "[ kill " << std::setw(2) << i + 1 << "  ] once "
              << (on_sqlite ? "sqlite" : "the queue") << " held rank " << seen
              << " >= " << threshold << ": queue watermark " << watermark() << " (rank "
              << queue_rank() << "), sqlite last id " << sqlite_max_id(paths_.db()) << " (rank "
              << sqlite_rank() << ")\n";
  }

  // The last run goes to the end: every event of the stream queued, every cursor at the end.
  auto run = start_run(paths_);
  std::optional<queue_state> q;
  std::uint64_t rows = 0;
  bool finished = eventually(k_pipeline_timeout, [&] {
    if (ended_early(*run))
      return true;
    q = inspect_queue(paths_.queue());
    if (!q || q->watermark == 0 || q->cursors["eventlog"] != q->watermark ||
        q->cursors["sqlite"] != q->watermark)
      return false;
    rows = sqlite_max_id(paths_.db());
    return rows == q->watermark && queue_rank() == k_events;
  });
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(finished) << "after " << k_pipeline_timeout.count() << " s: watermark "
                        << (q ? q->watermark : 0) << ", cursors eventlog "
                        << (q ? q->cursors["eventlog"] : 0) << " sqlite "
                        << (q ? q->cursors["sqlite"] : 0) << ", sqlite's last id " << rows << "\n"
                        << tail_of(run->log());
  stop_run(*run);
  ASSERT_FALSE(HasFailure());
  auto took = std::chrono::duration<double>(steady::now() - started).count();

  // Record by record: the queue holds firehose ranks in increasing order, and each of its
  // events is in sqlite (id = position) and in the event log, once, in queue order.
  auto reader = queue::disk::open_reader(paths_.queue(), queue::start_at::beginning());
  ASSERT_TRUE(reader) << reader.error().message();
  sqlite_rows table(paths_.db());
  ASSERT_TRUE(table.ok()) << table.error();
  expect_eventlog_layout(paths_.events());
  eventlog_lines events(paths_.events());
  firehose::generator g(stream_options());

  std::uint64_t records = 0, last_rank = 0, missing = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps; // missing ranks, first..last
  int failures = 0;
  auto report = [&](const std::string& what) {
    ++failures;
    ADD_FAILURE() << what;
  };
  sqlite_row row;
  std::string line;
  queue::batch b;
  while (failures < 10) {
    auto got = (*reader)->read(b, {4096, 16u << 20}, 0ms);
    if (!got) {
      EXPECT_EQ(got.error(), queue::errc::timed_out) << got.error().message();
      break;
    }
    EXPECT_EQ(b.damaged_records, 0u);
    for (const auto& rec : b.records) {
      if (failures >= 10)
        break;
      ++records;
      auto e = queue::decode_event(rec);
      if (!e) {
        report("position " + std::to_string(rec.pos) + ": no event envelope");
        continue;
      }
      std::uint64_t rank = ranks.find(e->payload);
      if (rank == 0 || g.line_at(rank) != e->payload) {
        report("position " + std::to_string(rec.pos) +
               " is no firehose line: " + std::string(e->payload.substr(0, 200)));
        continue;
      }
      if (rank <= last_rank)
        report("position " + std::to_string(rec.pos) + " holds rank " + std::to_string(rank) +
               " after rank " + std::to_string(last_rank));
      else if (rank > last_rank + 1) {
        missing += rank - last_rank - 1;
        gaps.emplace_back(last_rank + 1, rank - 1);
      }
      last_rank = std::max(last_rank, rank);
      if (e->source != "firehose" || e->type != expected_type(rank))
        report("position " + std::to_string(rec.pos) + ": source " + std::string(e->source) +
               ", type " + std::string(e->type) + " for rank " + std::to_string(rank));
      if (!table.next(row)) {
        report("no row for position " + std::to_string(rec.pos));
      } else if (row.id != static_cast<std::int64_t>(rec.pos) || row.payload != e->payload ||
                 row.type != e->type || row.source != e->source ||
                 row.received_at != e->received_ns) {
        report("position " + std::to_string(rec.pos) + " (rank " + std::to_string(rank) +
               "): row id " + std::to_string(row.id) + ", type " + row.type + ", received_at " +
               std::to_string(row.received_at) + " (queue " + std::to_string(e->received_ns) +
               "), payload " + row.payload.substr(0, 200));
      }
      if (!events.next(line))
        report("no event log line for position " + std::to_string(rec.pos));
      else if (line != e->payload)
        report("position " + std::to_string(rec.pos) + " (rank " + std::to_string(rank) +
               "): event log line " + std::to_string(events.line_number()) + " is rank " +
               std::to_string(ranks.find(line)) + " of " + events.file_name() + ": " +
               line.substr(0, 120));
    }
  }
  ASSERT_EQ(failures, 0);
  EXPECT_FALSE(table.next(row)) << "a row the queue does not hold: id " << row.id;
  EXPECT_FALSE(events.next(line)) << "an event log line past the queue's end: " << line;
  EXPECT_FALSE(events.unterminated) << "the event log's last line has no newline";
  EXPECT_EQ(table.count(), std::optional<std::int64_t>(records));
  EXPECT_EQ(last_rank, k_events) << "the stream's last rank is not in the queue";
  EXPECT_EQ(records, k_events);
  EXPECT_EQ(missing, 0u) << "ranks lost in flight at the kills, in " << gaps.size() << " gaps";

  std::cout << "[ figures  ] " << records << " events queued and delivered, " << missing
            << " ranks missing in " << gaps.size() << " gaps:";
  for (auto [first, last] : gaps)
    std::cout << " " << first << ".." << last;
  std::cout << "; " << took << " s\n";
  RecordProperty("missing_ranks", static_cast<int>(missing));
}

} // namespace
} // namespace sluice::testing
