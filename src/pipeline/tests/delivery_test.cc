#include <fstream>
#include <sqlite3.h>
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "pipeline/delivery.h"
#include "queue/disk/disk_queue.h"
#include "queue/tests/test_dir.h"
#include "sinks/errc.h"
#include "sinks/sqlite.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::test_dir;

std::unique_ptr<queue::queue> make_queue(const std::filesystem::path& dir) {
  queue::disk::options o;
  o.dir = dir;
  o.segment_bytes = 1u << 20;
  o.fsync_interval = std::chrono::milliseconds(1);
  return queue::disk::open(o).value();
}

void append_events(queue::queue& q, int first, int last) {
  std::vector<std::string> bufs;
  for (int i = first; i <= last; ++i) {
    std::string b;
    std::string payload =
        "{\"n\":" + std::to_string(i) + ",\"team\":\"" + (i % 2 ? "Bears" : "Jets") + "\"}";
    queue::encode_event(b, "test", i % 10 == 0 ? "limit" : "tweet", "", payload);
    bufs.push_back(std::move(b));
  }
  std::vector<queue::record_in> recs;
  for (auto& b : bufs)
    recs.push_back({0, b});
  ASSERT_TRUE(q.append(recs).has_value());
  ASSERT_TRUE(q.sync().has_value());
}

// Waits (bounded) until the delivery committed `pos`.
bool wait_committed(const delivery& d, queue::position pos) {
  for (int i = 0; i < 6000; ++i) {
    if (d.counters().committed.load() >= static_cast<std::int64_t>(pos))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::int64_t count_rows(const std::filesystem::path& db, const std::string& where = "") {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string sql = "SELECT COUNT(*) FROM archive" + (where.empty() ? "" : " WHERE " + where);
  EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
  auto n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

std::unique_ptr<sinks::sink> sqlite_sink_at(const std::filesystem::path& db) {
  sinks::sqlite_options o;
  o.path = db;
  o.table = "archive";
  return sinks::sqlite_sink::open(o).value();
}

TEST(delivery, delivers_every_event_once_and_commits_after_the_sink) {
  test_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 5000);
  delivery_options o;
  o.name = "archive";
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  del.start();
  ASSERT_TRUE(wait_committed(del, 5000));
  append_events(*q, 5001, 6000);
  ASSERT_TRUE(wait_committed(del, 6000));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(count_rows(d / "db.sqlite"), 6000);
  EXPECT_EQ(del.counters().delivered.load(), 6000u);
  EXPECT_EQ(q->cursors().at(0).committed, 6000u);
}

TEST(delivery, records_each_confirmed_events_latency_from_its_receipt) {
  test_dir d;
  auto q = make_queue(d / "queue");
  // Two reads' worth of events, received 50 ms and 20 ms ago.
  std::vector<std::string> bufs(300);
  std::vector<queue::record_in> recs;
  const std::int64_t now = now_unix_ns();
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    queue::encode_event(bufs[i], "test", "tweet", "", "{\"n\":" + std::to_string(i) + "}");
    recs.push_back({now - (i < 100 ? 50'000'000 : 20'000'000), bufs[i]});
  }
  ASSERT_TRUE(q->append(recs).has_value());
  ASSERT_TRUE(q->sync().has_value());
  delivery_options o;
  o.name = "archive";
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  del.start();
  ASSERT_TRUE(wait_committed(del, 300));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  const auto& h = del.counters().receipt_to_delivered_ns;
  EXPECT_EQ(h.count(), 300u);
  // Sorted by latency: 200 events at 20 ms and more, then 100 at 50 ms and more.
  EXPECT_GE(h.quantile(0.50), 20'000'000u);
  EXPECT_GE(h.quantile(0.90), 50'000'000u);
  EXPECT_LT(h.quantile(0.50), h.quantile(0.90));
  EXPECT_LT(h.quantile(0.99), 10'000'000'000u);
}

TEST(delivery, filtered_events_advance_the_cursor) {
  test_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 1000);
  delivery_options o;
  o.name = "archive";
  config::filter_config f;
  f.types = {"tweet"};
  f.field = "team";
  f.any_of = {"Bears"};
  o.filter = f;
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  del.start();
  ASSERT_TRUE(wait_committed(del, 1000));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  // Odd numbers are Bears; multiples of 10 are limits (even, so already Jets).
  EXPECT_EQ(count_rows(d / "db.sqlite"), 500);
  EXPECT_EQ(del.counters().filtered.load(), 500u);
}

/// A sink that fails its first `failures` writes, then passes writes to a real one.
class flaky_sink final : public sinks::sink {
public:
  flaky_sink(std::unique_ptr<sinks::sink> inner, int failures, std::error_code ec)
      : inner_(std::move(inner)), failures_(failures), ec_(ec) {}
  result<void> write(std::span<const queue::event_view> batch) override {
    if (failures_ > 0) {
      --failures_;
      return fail(ec_);
    }
    return inner_->write(batch);
  }
  std::string_view type() const noexcept override { return "flaky"; }

private:
  std::unique_ptr<sinks::sink> inner_;
  int failures_;
  std::error_code ec_;
};

TEST(delivery, a_failing_sink_is_retried_and_loses_nothing) {
  test_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 2000);
  delivery_options o;
  o.name = "archive";
  o.retry.initial = std::chrono::milliseconds(1);
  o.retry.max = std::chrono::milliseconds(4);
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               std::make_unique<flaky_sink>(sqlite_sink_at(d / "db.sqlite"), 5,
                                            std::error_code(EIO, std::system_category())));
  del.start();
  ASSERT_TRUE(wait_committed(del, 2000));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(count_rows(d / "db.sqlite"), 2000);
  EXPECT_EQ(del.counters().retries.load(), 5u);
  EXPECT_EQ(del.counters().dead_lettered.load(), 0u);
}

TEST(delivery, max_attempts_sends_the_batch_to_the_dead_letter_file) {
  test_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 10);
  delivery_options o;
  o.name = "archive";
  o.retry.initial = std::chrono::milliseconds(1);
  o.retry.max_attempts = 3;
  o.dead_letter_file = d / "dead-letter" / "sub-archive.ndjson";
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               std::make_unique<flaky_sink>(sqlite_sink_at(d / "db.sqlite"), 3,
                                            std::error_code(EIO, std::system_category())));
  del.start();
  ASSERT_TRUE(wait_committed(del, 10));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(del.counters().dead_lettered.load(), 10u);
  std::ifstream in(o.dead_letter_file);
  int lines = 0;
  for (std::string l; std::getline(in, l);) {
    ++lines;
    EXPECT_NE(l.find("\"reason\":"), std::string::npos);
  }
  EXPECT_EQ(lines, 10);
}

TEST(delivery, stop_during_retries_does_not_commit_and_a_restart_redelivers) {
  test_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 100);
  {
    delivery_options o;
    o.name = "archive";
    o.retry.initial = std::chrono::milliseconds(1);
    delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
                 std::make_unique<flaky_sink>(sqlite_sink_at(d / "db.sqlite"), 1000000,
                                              std::error_code(EIO, std::system_category())));
    del.start();
    for (int i = 0; i < 2000 && del.counters().retries.load() < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    del.stop(std::chrono::steady_clock::now());
    EXPECT_EQ(del.counters().committed.load(), 0);
  }
  delivery_options o;
  o.name = "archive";
  delivery again(o, q->subscribe("archive", queue::start_at::beginning()).value(),
                 sqlite_sink_at(d / "db.sqlite"));
  again.start();
  ASSERT_TRUE(wait_committed(again, 100));
  again.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(count_rows(d / "db.sqlite"), 100);
}

} // namespace
} // namespace sluice::pipeline
