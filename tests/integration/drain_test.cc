// `sluice drain SUBSCRIPTION -c FILE` with the real binary: while `sluice run` collects from a
// `sluice firehose`, against a drain holding the subscription, against `sluice run` delivering a
// continuous subscription, and with a wrong name or configuration.

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/watermark_file.h"
#include "queue/event.h"
#include "support/child_process.h"
#include "support/firehose_child.h"
#include "support/eventually.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace sluice;
using namespace sluice::testing;

constexpr std::uint64_t k_events = 6000;
constexpr std::chrono::seconds k_limit{60};

/// A drain's summary line, parsed: "drain NAME: N delivered, F filtered out, D dead-lettered,
/// positions A-B, T s".
struct summary {
  std::uint64_t delivered = 0, filtered = 0, dead_lettered = 0, from = 0, to = 0;
};
std::optional<summary> parse_summary(const std::string& out, const std::string& name) {
  auto at = out.find("drain " + name + ": ");
  if (at == std::string::npos || out.find('\n', at) != out.size() - 1)
    return std::nullopt; // exactly one line, at the end
  summary s;
  unsigned long long n[5];
  double secs = 0;
  std::string fmt = "drain " + name +
                    ": %llu delivered, %llu filtered out, %llu dead-lettered, positions "
                    "%llu-%llu, %lf s";
  if (std::sscanf(out.c_str() + at, fmt.c_str(), &n[0], &n[1], &n[2], &n[3], &n[4], &secs) != 6)
    return std::nullopt;
  s.delivered = n[0];
  s.filtered = n[1];
  s.dead_lettered = n[2];
  s.from = n[3];
  s.to = n[4];
  return s;
}

struct db_rows {
  std::int64_t count = 0, distinct = 0, min = 0, max = 0;
};
/// The rows of `table` now (zeros when the database or table is not there yet).
db_rows rows_of(const fs::path& db, const std::string& table) {
  auto v = sqlite_try_ints<4>(db, "select count(*), count(distinct id), coalesce(min(id),0), "
                                  "coalesce(max(id),0) from " +
                                      table)
               .value_or(std::array<std::int64_t, 4>{});
  return db_rows{v[0], v[1], v[2], v[3]};
}

/// The queue's durable watermark as another process sees it (0 before the queue exists).
std::uint64_t watermark_of(const fs::path& queue_dir) {
  auto wm = queue::disk::watermark_file::open_for_reader(queue_dir);
  return wm ? wm->load().pos : 0;
}

/// Waits (bounded) until the watermark reaches `pos`.
bool wait_watermark(const fs::path& queue_dir, std::uint64_t pos) {
  return eventually(
      k_limit, [&] { return watermark_of(queue_dir) >= pos; }, 10ms);
}

/// Waits (bounded) until the child's log contains `text`.
bool wait_log(const child_process& c, const std::string& text) {
  return eventually(
      k_limit, [&] { return c.log().find(text) != std::string::npos; }, 10ms);
}

class drain_test : public ::testing::Test {
protected:
  fs::path queue_dir() const { return dir_ / "data" / "queue"; }
  fs::path db() const { return dir_ / "later.sqlite"; }
  fs::path config() const { return dir_ / "sluice.toml"; }

  /// A continuous eventlog subscription "live" and a drain sqlite subscription "later" (table
  /// "later"); the firehose on `port` as an http source when given, else no source.
  void write_config(std::uint16_t port) const {
    std::ofstream f(config());
    f << "data_dir = \"" << (dir_ / "data").string() << "\"\n"
      << "shutdown_timeout = \"10s\"\n\n[queue]\nfsync = \"5ms\"\n\n";
    if (port != 0)
      f << "[sources.firehose]\ntype = \"http\"\n"
        << "url = \"http://127.0.0.1:" << port << "/1.1/statuses/filter.json\"\n"
        << "default_type = \"tweet\"\nreconnect = { network_initial = \"10ms\", network_step = "
           "\"10ms\", network_max = \"200ms\" }\n\n";
    f << "[subscriptions.live]\nsink = { type = \"eventlog\", dir = \""
      << (dir_ / "events").string() << "\" }\n\n"
      << "[subscriptions.later]\ndeliver = \"drain\"\nbatch = 100\n"
      << "sink = { type = \"sqlite\", path = \"" << db().string() << "\", table = \"later\" }\n"
      << "retry = { initial = \"10ms\", max = \"50ms\" }\n";
  }

  /// Makes the queue with `n` events in it, from this process (as `sluice run` would).
  void fill_queue(int n) const {
    queue::disk::options o;
    o.dir = queue_dir();
    auto q = queue::disk::open(o);
    ASSERT_TRUE(q.has_value()) << q.error().message();
    std::vector<std::string> bufs(static_cast<std::size_t>(n));
    std::vector<queue::record_in> recs;
    for (int i = 0; i < n; ++i) {
      queue::encode_event(bufs[static_cast<std::size_t>(i)], "test", "tweet", "",
                          "{\"n\":" + std::to_string(i + 1) + "}");
      recs.push_back({0, bufs[static_cast<std::size_t>(i)]});
    }
    ASSERT_TRUE((*q)->append(recs).has_value());
    ASSERT_TRUE((*q)->close().has_value());
  }

  child_stdio logged(const std::string& name) const {
    return child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = dir_ / (name + ".log")};
  }

  temp_dir dir_;
};

// (a) While `sluice run` collects from the firehose, a drain delivers what was durable and its
// summary says how many; once the firehose is done, a second drain delivers the rest: every
// position once, none twice.
TEST_F(drain_test, drains_while_sluice_run_collects_and_a_later_drain_delivers_the_rest) {
  firehose_child fh({"--count", std::to_string(k_events), "--rate", "3000", "--resume"},
                    dir_ / "firehose.log");
  ASSERT_NE(fh.port(), 0) << file_text(dir_ / "firehose.log");
  write_config(fh.port());
  child_process run({"run", "-c", config().string(), "--no-status"}, logged("run"));
  ASSERT_TRUE(wait_watermark(queue_dir(), 1000)) << run.log();

  auto first = run_sluice({"drain", "later", "-c", config().string()});
  ASSERT_EQ(first.status, 0) << first.err;
  auto s1 = parse_summary(first.out, "later");
  ASSERT_TRUE(s1.has_value()) << first.out;
  EXPECT_GE(s1->delivered, 1000u);
  EXPECT_EQ(s1->filtered, 0u);
  EXPECT_EQ(s1->dead_lettered, 0u);
  EXPECT_EQ(s1->from, 0u);
  EXPECT_EQ(s1->to, s1->delivered); // positions are 1, 2, 3, ... with no gap
  EXPECT_LT(s1->to, k_events);      // the firehose takes 2 s to send them all
  auto r1 = rows_of(db(), "later");
  EXPECT_EQ(static_cast<std::uint64_t>(r1.count), s1->delivered);
  EXPECT_EQ(r1.max, static_cast<std::int64_t>(s1->to));

  ASSERT_TRUE(wait_watermark(queue_dir(), k_events)) << run.log();
  auto second = run_sluice({"drain", "later", "-c", config().string()});
  ASSERT_EQ(second.status, 0) << second.err;
  auto s2 = parse_summary(second.out, "later");
  ASSERT_TRUE(s2.has_value()) << second.out;
  EXPECT_EQ(s2->from, s1->to);
  EXPECT_EQ(s2->to, k_events);
  EXPECT_EQ(s1->delivered + s2->delivered, k_events);
  auto r2 = rows_of(db(), "later");
  EXPECT_EQ(r2.count, static_cast<std::int64_t>(k_events));
  EXPECT_EQ(r2.distinct, r2.count);
  EXPECT_EQ(r2.min, 1);
  EXPECT_EQ(r2.max, static_cast<std::int64_t>(k_events));

  run.kill(SIGTERM);
  auto st = run.wait(30s);
  ASSERT_TRUE(st.has_value()) << run.log();
  EXPECT_EQ(exit_code(*st), 0) << run.log();
}

// (b) A drain holding the subscription (its sink blocked by a lock on the database) makes a
// second drain exit 75 naming its pid; TERM stops the first after its batch in flight with the
// summary and exit 1; so does the lock taken by this process through the queue library.
TEST_F(drain_test, a_second_drain_of_one_subscription_is_refused_with_the_holders_pid) {
  write_config(0);
  fill_queue(100);
  // The table exists after a first drain of 10.
  auto setup = run_sluice({"drain", "later", "-c", config().string(), "--max", "10"});
  ASSERT_EQ(setup.status, 0) << setup.err;
  ASSERT_EQ(setup.out.substr(0, setup.out.find(", positions")),
            "drain later: 10 delivered, 0 filtered out, 0 dead-lettered");

  sqlite3* lock = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &lock), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(lock, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  {
    child_process blocked({"drain", "later", "-c", config().string()}, logged("blocked"));
    ASSERT_TRUE(wait_log(blocked, "sink failed")) << blocked.log();
    auto second = run_sluice({"drain", "later", "-c", config().string()});
    EXPECT_EQ(second.status, 75) << second.err;
    EXPECT_NE(second.err.find("held by pid " + std::to_string(blocked.pid())), std::string::npos)
        << second.err;
    EXPECT_EQ(second.out, "");
    blocked.kill(SIGTERM);
    EXPECT_EQ(blocked.finish(steady::now() + 30s), 1) << blocked.log();
    EXPECT_EQ(blocked.out().substr(0, blocked.out().find(", positions")),
              "drain later: 0 delivered, 0 filtered out, 0 dead-lettered");
    EXPECT_NE(blocked.out().find("positions 10-10, "), std::string::npos) << blocked.out();
    EXPECT_NE(blocked.log().find("stopped by SIGTERM at position 10"), std::string::npos)
        << blocked.log();
  }
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);
  {
    auto held = queue::disk::subscribe(queue_dir(), "later", queue::start_at::beginning());
    ASSERT_TRUE(held.has_value()) << held.error().message();
    auto refused = run_sluice({"drain", "later", "-c", config().string()});
    EXPECT_EQ(refused.status, 75) << refused.err;
    EXPECT_NE(refused.err.find("held by pid " + std::to_string(::getpid())), std::string::npos)
        << refused.err;
  }
  auto rest = run_sluice({"drain", "later", "-c", config().string()});
  ASSERT_EQ(rest.status, 0) << rest.err;
  auto s = parse_summary(rest.out, "later");
  ASSERT_TRUE(s.has_value()) << rest.out;
  EXPECT_EQ(s->delivered, 90u);
  EXPECT_EQ(s->from, 10u);
  EXPECT_EQ(s->to, 100u);
  auto r = rows_of(db(), "later");
  EXPECT_EQ(r.count, 100);
  EXPECT_EQ(r.distinct, 100);
}

// (c) A continuous subscription `sluice run` delivers is refused with sluice run's pid; once it
// stopped, the same subscription can be drained.
TEST_F(drain_test, a_continuous_subscription_sluice_run_delivers_is_refused_with_its_pid) {
  write_config(0);
  fill_queue(50);
  {
    child_process run({"run", "-c", config().string(), "--no-status"}, logged("run"));
    ASSERT_TRUE(wait_log(run, "running:")) << run.log();
    auto refused = run_sluice({"drain", "live", "-c", config().string()});
    EXPECT_EQ(refused.status, 75) << refused.err;
    EXPECT_NE(refused.err.find("held by pid " + std::to_string(run.pid())), std::string::npos)
        << refused.err;
    // The drain subscription is free while sluice run runs.
    auto later = run_sluice({"drain", "later", "-c", config().string()});
    EXPECT_EQ(later.status, 0) << later.err;
    EXPECT_EQ(later.out.substr(0, later.out.find(", positions")),
              "drain later: 50 delivered, 0 filtered out, 0 dead-lettered");
    run.kill(SIGTERM);
    auto st = run.wait(30s);
    ASSERT_TRUE(st.has_value()) << run.log();
    EXPECT_EQ(exit_code(*st), 0) << run.log();
  }
  auto after = run_sluice({"drain", "live", "-c", config().string()});
  EXPECT_EQ(after.status, 0) << after.err;
  EXPECT_NE(after.out.find("drain live: 0 delivered"), std::string::npos) << after.out;
}

// (d) A name the configuration lacks: exit 1 naming the ones it has; a bad file: 78.
TEST_F(drain_test, an_unknown_subscription_or_a_bad_configuration_is_refused) {
  write_config(0);
  auto unknown = run_sluice({"drain", "nope", "-c", config().string()});
  EXPECT_EQ(unknown.status, 1) << unknown.err;
  EXPECT_NE(unknown.err.find("no subscription named 'nope'"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("it has later (drain), live"), std::string::npos) << unknown.err;
  EXPECT_EQ(unknown.out, "");

  auto bad = dir_ / "bad.toml";
  std::ofstream(bad) << "data_dir = \"" << (dir_ / "data").string() << "\"\n"
                     << "[queue]\nfsync = \"sometimes\"\n";
  auto r = run_sluice({"drain", "later", "-c", bad.string()});
  EXPECT_EQ(r.status, 78) << r.err;
  EXPECT_NE(r.err.find("queue.fsync (line 3)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing drained"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "data"));
}

} // namespace
