#include <atomic>
#include <fstream>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "pipeline/delivery.h"
#include "queue/tests/queue_helpers.h"
#include "sinks/errc.h"
#include "sinks/sqlite.h"
#include "support/eventually.h"
#include "support/sqlite_rows.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::temp_dir;

std::unique_ptr<queue::queue> make_queue(const std::filesystem::path& dir) {
  return sluice::testing::open_small_queue(dir, 1u << 20);
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
  return sluice::testing::eventually(
      std::chrono::seconds(30),
      [&] { return d.counters().committed.load() >= static_cast<std::int64_t>(pos); },
      std::chrono::milliseconds(5));
}

// The rows of the sink's table "archive" (those `where` selects, when given).
std::int64_t count_rows(const std::filesystem::path& db, const std::string& where = "") {
  return sluice::testing::sqlite_count(db, "archive", where);
}

std::unique_ptr<sinks::sink> sqlite_sink_at(const std::filesystem::path& db) {
  sinks::sqlite_options o;
  o.path = db;
  o.table = "archive";
  return sinks::sqlite_sink::open(o).value();
}

TEST(delivery, delivers_every_event_once_and_commits_after_the_sink) {
  temp_dir d;
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
  temp_dir d;
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
  temp_dir d;
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
  temp_dir d;
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
  temp_dir d;
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
  temp_dir d;
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
    sluice::testing::eventually(
        std::chrono::seconds(10), [&] { return del.counters().retries.load() >= 3; },
        std::chrono::milliseconds(5));
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

// ---------------------------------------------------------------------------------------------
// drain_until: the same delivery on the caller's thread, up to a target.

/// A sink that always fails and, at its `n`th failure, sets `cancel` (as a signal would).
class cancelling_sink final : public sinks::sink {
public:
  cancelling_sink(std::atomic<bool>& cancel, int n) : cancel_(cancel), n_(n) {}
  result<void> write(std::span<const queue::event_view>) override {
    if (++failures_ == n_)
      cancel_.store(true);
    return fail(std::error_code(EIO, std::system_category()));
  }
  std::string_view type() const noexcept override { return "cancelling"; }
  int failures() const { return failures_; }

private:
  std::atomic<bool>& cancel_;
  int n_;
  int failures_ = 0;
};

constexpr std::uint64_t k_all = std::numeric_limits<std::uint64_t>::max();

delivery_options drain_options_for(std::size_t batch) {
  delivery_options o;
  o.name = "archive";
  o.batch = batch;
  return o;
}

TEST(delivery, drain_until_delivers_everything_up_to_the_target_and_commits) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 1000);
  delivery del(drain_options_for(128),
               q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  std::vector<std::uint64_t> progress;
  auto to = del.drain_until(1000, k_all, nullptr, [&](std::uint64_t n) { progress.push_back(n); });
  ASSERT_TRUE(to.has_value()) << to.error().message();
  EXPECT_EQ(*to, 1000u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 1000);
  EXPECT_EQ(del.counters().delivered.load(), 1000u);
  EXPECT_EQ(del.counters().committed.load(), 1000);
  EXPECT_EQ(q->cursors().at(0).committed, 1000u);
  // Batches of 128: 7 full ones and 104.
  ASSERT_EQ(progress.size(), 8u);
  EXPECT_EQ(progress.front(), 128u);
  EXPECT_EQ(progress.back(), 1000u);
}

TEST(delivery, drain_until_leaves_what_lies_past_the_target_for_the_next_drain) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 1000);
  {
    // Batches of 500: the second is cut to 100 so as not to pass 600.
    delivery del(drain_options_for(500),
                 q->subscribe("archive", queue::start_at::beginning()).value(),
                 sqlite_sink_at(d / "db.sqlite"));
    EXPECT_EQ(del.drain_until(600, k_all, nullptr).value(), 600u);
    EXPECT_EQ(del.counters().delivered.load(), 600u);
  }
  EXPECT_EQ(count_rows(d / "db.sqlite"), 600);
  EXPECT_EQ(q->cursors().at(0).committed, 600u);
  delivery again(drain_options_for(500),
                 q->subscribe("archive", queue::start_at::beginning()).value(),
                 sqlite_sink_at(d / "db.sqlite"));
  EXPECT_EQ(again.drain_until(1000, k_all, nullptr).value(), 1000u);
  EXPECT_EQ(again.counters().delivered.load(), 400u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 1000);
  EXPECT_EQ(count_rows(d / "db.sqlite", "id <= 600"), 600);
}

TEST(delivery, drain_until_delivers_at_most_max_records) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 1000);
  delivery del(drain_options_for(30), q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  EXPECT_EQ(del.drain_until(1000, 100, nullptr).value(), 100u);
  EXPECT_EQ(del.counters().delivered.load(), 100u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 100);
  EXPECT_EQ(q->cursors().at(0).committed, 100u);
}

TEST(delivery, drain_until_counts_what_the_filter_passes_over) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 1000);
  auto o = drain_options_for(64);
  config::filter_config f;
  f.types = {"tweet"};
  f.field = "team";
  f.any_of = {"Bears"};
  o.filter = f;
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  EXPECT_EQ(del.drain_until(1000, k_all, nullptr).value(), 1000u);
  EXPECT_EQ(del.counters().delivered.load(), 500u);
  EXPECT_EQ(del.counters().filtered.load(), 500u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 500);
}

// The cursor passes a dead-lettered batch only once its copy is durable: while the dead-letter
// file cannot be written (a file stands where its directory should be), the batch is kept and
// tried again, and counted; once it can, the batch is written there and passed.
TEST(delivery, a_batch_passes_only_once_its_dead_letter_copy_is_written) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 10);
  { std::ofstream(d / "blocker") << "x"; }
  delivery_options o;
  o.name = "archive";
  o.retry.initial = std::chrono::milliseconds(1);
  o.retry.max = std::chrono::milliseconds(5);
  o.retry.max_attempts = 2;
  o.dead_letter_file = d / "blocker" / "sub-archive.ndjson";
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               std::make_unique<flaky_sink>(sqlite_sink_at(d / "db.sqlite"), 1000000,
                                            std::error_code(EIO, std::system_category())));
  del.start();
  ASSERT_TRUE(sluice::testing::eventually(std::chrono::seconds(30), [&] {
    return del.counters().dead_letter_failures.load() >= 3;
  }));
  EXPECT_EQ(del.counters().committed.load(), 0);
  EXPECT_EQ(del.counters().dead_lettered.load(), 0u);
  std::filesystem::remove(d / "blocker");
  ASSERT_TRUE(wait_committed(del, 10));
  del.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(del.counters().dead_lettered.load(), 10u);
  std::ifstream in(o.dead_letter_file);
  int lines = 0;
  for (std::string l; std::getline(in, l);)
    ++lines;
  EXPECT_EQ(lines, 10);
}

TEST(delivery, drain_until_dead_letters_a_batch_that_exhausts_max_attempts) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 25);
  auto o = drain_options_for(10);
  o.retry.initial = std::chrono::milliseconds(1);
  o.retry.max_attempts = 2;
  o.dead_letter_file = d / "dead-letter" / "sub-archive.ndjson";
  // The first batch fails twice (dead-lettered), the others pass.
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(),
               std::make_unique<flaky_sink>(sqlite_sink_at(d / "db.sqlite"), 2,
                                            std::error_code(EIO, std::system_category())));
  EXPECT_EQ(del.drain_until(25, k_all, nullptr).value(), 25u);
  EXPECT_EQ(del.counters().dead_lettered.load(), 10u);
  EXPECT_EQ(del.counters().delivered.load(), 15u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 15);
  std::ifstream in(o.dead_letter_file);
  int lines = 0;
  for (std::string l; std::getline(in, l);)
    ++lines;
  EXPECT_EQ(lines, 10);
}

TEST(delivery, drain_until_stops_after_the_batch_in_flight_when_cancelled) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 100);
  std::atomic<bool> cancel{false};
  delivery del(drain_options_for(10), q->subscribe("archive", queue::start_at::beginning()).value(),
               sqlite_sink_at(d / "db.sqlite"));
  // Cancelled after the third batch: that one is delivered and committed, no fourth starts.
  auto to = del.drain_until(100, k_all, &cancel, [&](std::uint64_t n) {
    if (n == 30)
      cancel.store(true);
  });
  EXPECT_EQ(to.value(), 30u);
  EXPECT_EQ(count_rows(d / "db.sqlite"), 30);
  EXPECT_EQ(q->cursors().at(0).committed, 30u);
}

TEST(delivery, drain_until_cancelled_during_retries_commits_nothing_of_that_batch) {
  temp_dir d;
  auto q = make_queue(d / "queue");
  append_events(*q, 1, 100);
  std::atomic<bool> cancel{false};
  auto o = drain_options_for(10);
  o.retry.initial = std::chrono::milliseconds(1);
  auto sink = std::make_unique<cancelling_sink>(cancel, 3);
  const auto* failing = sink.get();
  delivery del(o, q->subscribe("archive", queue::start_at::beginning()).value(), std::move(sink));
  // Retried forever (no max_attempts) until the cancel: then the drain ends, nothing committed.
  EXPECT_EQ(del.drain_until(100, k_all, &cancel).value(), 0u);
  EXPECT_EQ(failing->failures(), 3);
  EXPECT_EQ(del.counters().retries.load(), 3u);
  EXPECT_EQ(del.counters().delivered.load(), 0u);
  EXPECT_EQ(q->cursors().at(0).committed, 0u);
}

} // namespace
} // namespace sluice::pipeline
