#include <sqlite3.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "config/tables.h"
#include "pipeline/drain.h"
#include "pipeline/runner.h"
#include "queue/open.h"
#include "support/eventually.h"
#include "support/socket_sender.h"
#include "support/source_settings.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::temp_dir;

// A pipeline of one listen source on a Unix socket, an eventlog and a sqlite subscription.
config::pipeline_config make_config(const temp_dir& d) {
  config::pipeline_config cfg;
  cfg.data_dir = d / "data";
  cfg.shutdown_timeout = std::chrono::seconds(4);
  cfg.queue.fsync.interval = std::chrono::milliseconds(1);
  cfg.queue.segment_bytes = 64 * 1024;
  config::source_config s;
  s.name = "push";
  s.format = config::record_format::lines;
  s.settings = sluice::testing::source_settings(
      "listen", {{"listen", std::vector<std::string>{"unix:" + (d / "push.sock").string()}}});
  cfg.sources.push_back(s);
  config::subscription_config e;
  e.name = "log";
  e.sink = config::option_values::make(
      config::sink_types, "eventlog", e.name,
      {{"dir", (d / "events").string()}, {"rotate_bytes", std::uint64_t{0}}});
  cfg.subscriptions.push_back(e);
  config::subscription_config q;
  q.name = "db";
  q.sink = config::option_values::make(config::sink_types, "sqlite", q.name,
                                       {{"path", (d / "db.sqlite").string()}, {"table", std::string("rows")}});
  q.retry = {std::chrono::milliseconds(5), std::chrono::milliseconds(20), std::nullopt};
  cfg.subscriptions.push_back(q);
  return cfg;
}

// Sends lines "line-FIRST" .. "line-LAST" to the listen source's socket.
void push_lines(const std::filesystem::path& sock, int first, int last) {
  std::string data;
  for (int i = first; i <= last; ++i)
    data += "line-" + std::to_string(i) + "\n";
  sluice::testing::send_to_unix(sock, data);
}

// Waits (bounded) until every subscription committed at least `pos`.
bool wait_all_committed(const runner& r, queue::position pos) {
  return sluice::testing::eventually(
      std::chrono::seconds(30),
      [&] {
        auto st = r.status();
        bool all = true;
        for (const auto& s : st.subscriptions)
          all = all && s.committed >= pos;
        return all;
      },
      std::chrono::milliseconds(5));
}

// Waits (bounded) until every subscription but `except` committed at least `pos`.
bool wait_all_committed_but(const runner& r, const std::string& except, queue::position pos) {
  return sluice::testing::eventually(
      std::chrono::seconds(30),
      [&] {
        auto st = r.status();
        bool all = true;
        for (const auto& s : st.subscriptions)
          all = all && (s.name == except || s.committed >= pos);
        return all;
      },
      std::chrono::milliseconds(5));
}

// The rows of `table`, each id once.
std::int64_t row_count(const std::filesystem::path& db, const std::string& table) {
  auto [n, distinct] =
      sluice::testing::sqlite_ints<2>(db, "select count(*), count(distinct id) from " + table);
  EXPECT_EQ(n, distinct);
  return n;
}

// Lines pushed to the listen source reach both sinks; a second run resumes at the cursors and
// delivers only what is new.
TEST(runner, delivers_to_every_subscription_and_resumes_after_a_restart) {
  temp_dir d;
  auto cfg = make_config(d);
  for (int round = 0; round < 2; ++round) {
    std::string error;
    auto r = runner::open(cfg, error);
    ASSERT_TRUE(r.has_value()) << error;
    ASSERT_TRUE((*r)->start(error).has_value()) << error;
    push_lines(d / "push.sock", round * 1000 + 1, round * 1000 + 1000);
    auto want = static_cast<queue::position>((round + 1) * 1000);
    ASSERT_TRUE(wait_all_committed(**r, want));
    auto st = (*r)->status();
    ASSERT_EQ(st.sources.size(), 1u);
    EXPECT_EQ(st.sources[0].name, "push");
    EXPECT_EQ(st.sources[0].type, "listen");
    EXPECT_EQ(st.sources[0].counts.records, 1000u); // counters are per run
    EXPECT_EQ(st.durable, want);
    ASSERT_EQ(st.subscriptions.size(), 2u);
    for (const auto& s : st.subscriptions) {
      EXPECT_EQ(s.delivered, 1000u) << s.name;
      EXPECT_EQ(s.lag, 0u) << s.name;
      EXPECT_TRUE(s.last_error.empty()) << s.name;
    }
    EXPECT_EQ(st.subscriptions[0].sink, "eventlog");
    EXPECT_EQ(st.subscriptions[1].sink, "sqlite");
    ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
    // After stop(), status() keeps the final figures.
    EXPECT_EQ((*r)->status().subscriptions.at(1).committed, want);
  }
  EXPECT_EQ(row_count(d / "db.sqlite", "rows"), 2000);
}

// A second runner on the same data_dir is refused: the queue is locked.
TEST(runner, a_second_runner_on_the_same_queue_is_refused) {
  temp_dir d;
  auto cfg = make_config(d);
  std::string error;
  auto r1 = runner::open(cfg, error);
  ASSERT_TRUE(r1.has_value()) << error;
  auto r2 = runner::open(cfg, error);
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(error.find("cannot open the queue"), std::string::npos) << error;
}

// A sink that cannot open names its subscription.
TEST(runner, a_sink_that_cannot_open_is_named) {
  temp_dir d;
  auto cfg = make_config(d);
  cfg.subscriptions[1].sink = config::option_values::make(
      config::sink_types, "sqlite", "db",
      {{"path", (d / "db.sqlite").string()}, {"table", std::string("no such table")}});
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(error.find("subscription db"), std::string::npos) << error;
}

// The queue at its cap and a subscription that cannot write (its database locked by another
// connection): the source's append waits at the cap, and stop() still ends, refusing it.
// Everything the queue took is still there for the next run.
TEST(runner, stop_ends_while_an_append_waits_at_the_cap) {
  temp_dir d;
  auto cfg = make_config(d);
  cfg.queue.max_disk = 256 * 1024;
  cfg.subscriptions.erase(cfg.subscriptions.begin()); // only the sqlite one holds segments
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  sqlite3* lock = nullptr;
  ASSERT_EQ(sqlite3_open((d / "db.sqlite").c_str(), &lock), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(lock, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  std::thread pusher([&] {
    int fd = sluice::testing::unix_connect((d / "push.sock").string());
    ASSERT_GE(fd, 0);
    std::string line(200, 'x');
    line += '\n';
    // Writes until the connection closes at the stop (the source stopped reading at the cap).
    for (int i = 0; i < 100000; ++i)
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) <= 0)
        break;
    ::close(fd);
  });
  sluice::testing::eventually(
      std::chrono::seconds(30), [&] { return (*r)->status().blocked_appenders != 0; },
      std::chrono::milliseconds(5));
  ASSERT_GT((*r)->status().blocked_appenders, 0u);
  // What reached the queue before the cap becomes durable at the next group commit.
  sluice::testing::eventually(
      std::chrono::seconds(30), [&] { return (*r)->status().durable != 0; },
      std::chrono::milliseconds(5));
  auto durable = (*r)->status().durable;
  ASSERT_GT(durable, 0u);
  auto stopped = (*r)->stop(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  EXPECT_TRUE(stopped.has_value());
  pusher.join();
  EXPECT_GT((*r)->status().subscriptions.at(0).lag, 0u);
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);
  r->reset();
  // The next run delivers what the queue holds.
  cfg.queue.max_disk = 0;
  auto r2 = runner::open(cfg, error);
  ASSERT_TRUE(r2.has_value()) << error;
  ASSERT_TRUE((*r2)->start(error).has_value()) << error;
  auto last = (*r2)->queue().last_position();
  EXPECT_GE(last, durable);
  ASSERT_TRUE(wait_all_committed(**r2, last));
  ASSERT_TRUE((*r2)->stop(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(row_count(d / "db.sqlite", "rows"), static_cast<std::int64_t>(last));
}

// ---------------------------------------------------------------------------------------------
// deliver = "drain" subscriptions: the runner leaves them to drain_subscription.

// make_config() plus a drain subscription "later" writing to the table "later".
config::pipeline_config make_drain_config(const temp_dir& d) {
  auto cfg = make_config(d);
  config::subscription_config s;
  s.name = "later";
  s.sink = config::option_values::make(config::sink_types, "sqlite", s.name,
                                       {{"path", (d / "later.sqlite").string()}});
  s.batch = 64;
  s.continuous = false;
  cfg.subscriptions.push_back(s);
  return cfg;
}

// Waits (bounded) until the queue's durable watermark reaches `pos`.
bool wait_durable(const runner& r, queue::position pos) {
  return sluice::testing::eventually(
      std::chrono::seconds(30), [&] { return r.status().durable >= pos; },
      std::chrono::milliseconds(5));
}

const subscription_status& status_of(const pipeline_status& st, const std::string& name) {
  for (const auto& s : st.subscriptions)
    if (s.name == name)
      return s;
  throw std::runtime_error("no subscription " + name);
}

// The runner creates a drain subscription's cursor and lets go of it; status() lists it.
TEST(runner, a_drain_subscription_gets_a_cursor_and_no_delivery) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  EXPECT_EQ((*r)->queue().cursor("later").value(), 0u);
  push_lines(d / "push.sock", 1, 300);
  ASSERT_TRUE(wait_all_committed_but(**r, "later", 300));
  auto st = (*r)->status();
  ASSERT_EQ(st.subscriptions.size(), 3u);
  const auto& later = st.subscriptions[2];
  EXPECT_EQ(later.name, "later");
  EXPECT_EQ(later.sink, "sqlite");
  EXPECT_FALSE(later.continuous);
  EXPECT_TRUE(st.subscriptions[0].continuous);
  EXPECT_EQ(later.delivered, 0u);
  EXPECT_EQ(later.committed, 0u);
  EXPECT_EQ(later.lag, 300u);
  EXPECT_FALSE(std::filesystem::exists(d / "later.sqlite")); // its sink was never opened
  // Nobody in this process holds it: another reader can take it.
  auto sub = queue::attach(cfg, "later", queue::start_at::beginning(), error);
  ASSERT_TRUE(sub.has_value()) << error;
  ASSERT_TRUE(sub->sub->commit(120).has_value());
  EXPECT_EQ(status_of((*r)->status(), "later").committed, 120u);
  EXPECT_EQ(status_of((*r)->status(), "later").lag, 180u);
}

// A drain holding its subscription when the runner starts does not keep the runner from opening.
TEST(runner, opens_while_a_drain_holds_a_drain_subscription) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  std::string error;
  ASSERT_TRUE(runner::open(cfg, error).has_value()) << error; // creates the queue and cursors
  auto held = queue::attach(cfg, "later", queue::start_at::beginning(), error);
  ASSERT_TRUE(held.has_value()) << error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  EXPECT_EQ((*r)->status().subscriptions.size(), 3u);
}

// While the runner runs: a drain delivers exactly what was durable, --max bounds it, a second
// drain delivers the rest, and the runner's status sees the cursor move.
TEST(runner, drain_subscription_delivers_the_backlog_while_the_runner_runs) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  push_lines(d / "push.sock", 1, 1000);
  ASSERT_TRUE(wait_durable(**r, 1000));

  drain_options o;
  o.max = 100;
  std::uint64_t last_done = 0, last_total = 0;
  o.progress = [&](std::uint64_t done, std::uint64_t total) {
    last_done = done;
    last_total = total;
  };
  auto first = drain_subscription(cfg, "later", o, error);
  ASSERT_TRUE(first.has_value()) << error;
  EXPECT_EQ(first->delivered, 100u);
  EXPECT_EQ(first->filtered, 0u);
  EXPECT_EQ(first->dead_lettered, 0u);
  EXPECT_EQ(first->from, 0u);
  EXPECT_EQ(first->to, 100u);
  EXPECT_FALSE(first->cancelled);
  EXPECT_EQ(last_done, 100u);
  EXPECT_EQ(last_total, 100u);
  EXPECT_EQ(row_count(d / "later.sqlite", "later"), 100);
  EXPECT_EQ(status_of((*r)->status(), "later").committed, 100u);

  auto rest = drain_subscription(cfg, "later", {}, error);
  ASSERT_TRUE(rest.has_value()) << error;
  EXPECT_EQ(rest->delivered, 900u);
  EXPECT_EQ(rest->from, 100u);
  EXPECT_EQ(rest->to, 1000u);
  EXPECT_EQ(row_count(d / "later.sqlite", "later"), 1000);
  EXPECT_EQ(status_of((*r)->status(), "later").lag, 0u);

  // Nothing new: an empty drain.
  auto none = drain_subscription(cfg, "later", {}, error);
  ASSERT_TRUE(none.has_value()) << error;
  EXPECT_EQ(none->delivered, 0u);
  EXPECT_EQ(none->from, 1000u);
  EXPECT_EQ(none->to, 1000u);
}

// A continuous subscription the runner delivers is busy, named with this process's pid; once
// the runner stopped, it can be drained.
TEST(runner, drain_subscription_of_a_continuous_subscription_needs_its_lock) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  std::string error;
  {
    auto r = runner::open(cfg, error);
    ASSERT_TRUE(r.has_value()) << error;
    auto busy = drain_subscription(cfg, "db", {}, error);
    ASSERT_FALSE(busy.has_value());
    EXPECT_EQ(busy.error(), queue::errc::subscription_busy);
    EXPECT_NE(error.find("held by pid " + std::to_string(::getpid())), std::string::npos) << error;
  }
  auto idle = drain_subscription(cfg, "db", {}, error);
  ASSERT_TRUE(idle.has_value()) << error;
  EXPECT_EQ(idle->delivered, 0u);
}

TEST(runner, drain_subscription_of_an_unknown_name_lists_the_known_ones) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  std::string error;
  auto r = drain_subscription(cfg, "nope", {}, error);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), queue::errc::invalid_argument);
  EXPECT_EQ(error, "no subscription named 'nope' in the configuration; it has log, db, "
                   "later (drain)");
}

// After the runner stopped (no process appends): the filter passes over every line, and the
// cursor still moves past them.
TEST(runner, drain_subscription_filters_and_counts) {
  temp_dir d;
  auto cfg = make_drain_config(d);
  // The listen source's lines all get the default type "event": none passes.
  config::filter_config f;
  f.types = {"tweet"};
  cfg.subscriptions[2].filter = f;
  std::string error;
  {
    auto r = runner::open(cfg, error);
    ASSERT_TRUE(r.has_value()) << error;
    ASSERT_TRUE((*r)->start(error).has_value()) << error;
    push_lines(d / "push.sock", 1, 200);
    ASSERT_TRUE(wait_durable(**r, 200));
  }
  auto rep = drain_subscription(cfg, "later", {}, error);
  ASSERT_TRUE(rep.has_value()) << error;
  EXPECT_EQ(rep->delivered, 0u);
  EXPECT_EQ(rep->filtered, 200u);
  EXPECT_EQ(rep->to, 200u);
}

} // namespace
} // namespace sluice::pipeline
