// The `sluice` binary's command line, run as a child process with pipes for its stdio.

#include <cstdint>
#include <filesystem>
#include <signal.h>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "queue/disk/disk_queue.h"
#include "queue/event.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using namespace sluice::testing;

std::string numbered_lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i)
    s += "record " + std::to_string(i) + "\n";
  return s;
}

class cli_test : public ::testing::Test {
protected:
  // Appends lines 1..n ("record 1" ...) and checks the command succeeded.
  void append_numbered(int n) {
    auto r = run_sluice({"queue", "append", dir_}, numbered_lines(1, n));
    ASSERT_EQ(r.status, 0) << r.err;
  }

  temp_dir tmp_{"cli"};
  std::filesystem::path root_ = tmp_.path();
  std::string dir_ = (root_ / "q").string();
};

TEST_F(cli_test, version_prints_name_and_number) {
  auto r = run_sluice({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "sluice 0.1.0\n");
}

TEST_F(cli_test, help_lists_the_verbs) {
  auto r = run_sluice({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("queue"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bench"), std::string::npos) << r.out;
  auto q = run_sluice({"queue", "--help"});
  EXPECT_EQ(q.status, 0);
  for (const char* verb : {"append", "tail", "stats", "verify", "repair"}) {
    EXPECT_NE(q.out.find(verb), std::string::npos) << q.out;
    auto v = run_sluice({"queue", verb, "--help"});
    EXPECT_EQ(v.status, 0) << verb << ": " << v.err;
    EXPECT_NE(v.out.find("DIR"), std::string::npos) << v.out;
  }
}

TEST_F(cli_test, usage_errors_exit_2) {
  auto unknown_verb = run_sluice({"frobnicate"});
  EXPECT_EQ(unknown_verb.status, 2);
  EXPECT_NE(unknown_verb.err.find("frobnicate"), std::string::npos) << unknown_verb.err;
  auto unknown_flag = run_sluice({"queue", "stats", dir_, "--no-such-flag"});
  EXPECT_EQ(unknown_flag.status, 2);
  EXPECT_NE(unknown_flag.err.find("--no-such-flag"), std::string::npos) << unknown_flag.err;
  auto missing_dir = run_sluice({"queue", "append"});
  EXPECT_EQ(missing_dir.status, 2);
  EXPECT_NE(missing_dir.err.find("DIR"), std::string::npos) << missing_dir.err;
  auto bad_fsync = run_sluice({"queue", "append", dir_, "--fsync", "sometimes"});
  EXPECT_EQ(bad_fsync.status, 2);
  auto no_verb = run_sluice({});
  EXPECT_EQ(no_verb.status, 2);
  EXPECT_NE(no_verb.err.find("queue"), std::string::npos) << no_verb.err;
}

TEST_F(cli_test, append_then_tail_gives_the_same_lines) {
  auto input = numbered_lines(1, 1000);
  auto a = run_sluice({"queue", "append", dir_}, input);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_NE(a.err.find("appended 1000 records, positions 1..1000"), std::string::npos) << a.err;
  auto t = run_sluice({"queue", "tail", dir_, "--from", "beginning"});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, input);
}

TEST_F(cli_test, append_strips_crlf_and_keeps_a_last_line_without_newline) {
  auto a = run_sluice({"queue", "append", dir_}, "one\r\ntwo\n\nthree");
  ASSERT_EQ(a.status, 0) << a.err;
  auto t = run_sluice({"queue", "tail", dir_});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, "one\ntwo\n\nthree\n");
}

TEST_F(cli_test, tail_from_a_position_starts_there) {
  append_numbered(1000);
  auto t = run_sluice({"queue", "tail", dir_, "--from", "500"});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, numbered_lines(500, 1000));
  auto counted = run_sluice({"queue", "tail", dir_, "--from", "500", "--count", "3"});
  EXPECT_EQ(counted.out, numbered_lines(500, 502));
}

TEST_F(cli_test, tail_json_carries_position_time_and_payload) {
  auto a = run_sluice({"queue", "append", dir_}, "{\"a\":1}\nplain \"quoted\"\n");
  ASSERT_EQ(a.status, 0) << a.err;
  auto t = run_sluice({"queue", "tail", dir_, "--json"});
  ASSERT_EQ(t.status, 0) << t.err;
  std::istringstream lines(t.out);
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(lines, line))
    records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["pos"], 1);
  EXPECT_EQ(records[0]["payload"], "{\"a\":1}");
  EXPECT_EQ(records[1]["pos"], 2);
  EXPECT_EQ(records[1]["payload"], "plain \"quoted\"");
  EXPECT_GT(records[1]["time_ns"].get<std::int64_t>(), 0);
}

TEST_F(cli_test, append_and_stats_json_have_exact_counts) {
  auto a = run_sluice({"queue", "append", dir_, "--json"}, numbered_lines(1, 1000));
  ASSERT_EQ(a.status, 0) << a.err;
  auto appended = nlohmann::json::parse(a.out);
  EXPECT_EQ(appended,
            nlohmann::json::parse(R"({"appended":1000,"first":1,"last":1000,"dropped":0})"));

  auto t = run_sluice({"queue", "tail", dir_, "--subscription", "audit", "--count", "10"});
  ASSERT_EQ(t.status, 0) << t.err;

  auto s = run_sluice({"queue", "stats", dir_, "--json"});
  ASSERT_EQ(s.status, 0) << s.err;
  auto stats = nlohmann::json::parse(s.out);
  EXPECT_EQ(stats["first"], 1);
  EXPECT_EQ(stats["last"], 1000);
  EXPECT_EQ(stats["watermark"], 1000);
  EXPECT_EQ(stats["writer_pid"], 0);
  ASSERT_FALSE(stats["segments"].empty());
  EXPECT_EQ(stats["segments"][0]["first"], 1);
  std::uint64_t bytes = 0;
  for (const auto& seg : stats["segments"])
    bytes += seg["bytes"].get<std::uint64_t>();
  EXPECT_EQ(stats["bytes"], bytes);
  EXPECT_GT(bytes, numbered_lines(1, 1000).size() - 1000);
  ASSERT_EQ(stats["subscriptions"].size(), 1u);
  EXPECT_EQ(stats["subscriptions"][0]["name"], "audit");
  EXPECT_EQ(stats["subscriptions"][0]["committed"], 10);
  EXPECT_EQ(stats["subscriptions"][0]["lag"], 990);

  auto human = run_sluice({"queue", "stats", dir_});
  ASSERT_EQ(human.status, 0) << human.err;
  EXPECT_NE(human.out.find("no writer"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("audit"), std::string::npos) << human.out;
}

TEST_F(cli_test, subscription_tail_resumes_after_its_cursor) {
  append_numbered(100);
  auto first = run_sluice({"queue", "tail", dir_, "--subscription", "s", "--count", "10"});
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.out, numbered_lines(1, 10));
  auto second =
      run_sluice({"queue", "tail", dir_, "--subscription", "s", "--count", "10", "--from", "end"});
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_EQ(second.out, numbered_lines(11, 20));
}

TEST_F(cli_test, follow_waits_for_records_appended_later) {
  append_numbered(5);
  auto deadline = steady::now() + k_run_timeout;
  child_process tail({"queue", "tail", dir_, "--follow", "--count", "8"});
  // The follower has printed the first five before more exist.
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(tail.read_line(deadline), "record " + std::to_string(i));
  auto more = run_sluice({"queue", "append", dir_}, "record 6\nrecord 7\nrecord 8\n");
  ASSERT_EQ(more.status, 0) << more.err;
  EXPECT_EQ(tail.finish(deadline), 0) << tail.err();
  EXPECT_EQ(tail.out(), numbered_lines(1, 8));
}

TEST_F(cli_test, verify_clean_queue_exits_0_and_missing_queue_exits_1) {
  append_numbered(100);
  auto v = run_sluice({"queue", "verify", dir_});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  auto j = run_sluice({"queue", "verify", dir_, "--json"});
  ASSERT_EQ(j.status, 0) << j.err;
  auto report = nlohmann::json::parse(j.out);
  EXPECT_EQ(report["records"], 100);
  EXPECT_EQ(report["clean"], true);

  auto missing = (root_ / "nothing").string();
  auto m = run_sluice({"queue", "verify", missing});
  EXPECT_EQ(m.status, 1);
  EXPECT_NE(m.err.find("no queue at " + missing), std::string::npos) << m.err;
}

TEST_F(cli_test, second_appender_is_refused_naming_the_holder) {
  auto deadline = steady::now() + k_run_timeout;
  child_process holder({"queue", "append", dir_, "--ack"});
  // Once its first record is acknowledged the holder has the lock; its stdin stays open.
  ASSERT_TRUE(holder.write_stdin("first\n", deadline));
  auto ack = holder.read_line(deadline);
  ASSERT_EQ(ack, "ack 1") << holder.err();

  auto second = run_sluice({"queue", "append", dir_}, "second\n");
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find(std::to_string(holder.pid())), std::string::npos) << second.err;
  EXPECT_EQ(second.err.rfind("sluice: ", 0), 0u) << second.err;

  EXPECT_EQ(holder.finish(deadline), 0) << holder.err();
  auto t = run_sluice({"queue", "tail", dir_});
  EXPECT_EQ(t.out, "first\n");
}

TEST_F(cli_test, busy_subscription_is_refused_and_follower_stops_on_sigterm) {
  append_numbered(3);
  auto deadline = steady::now() + k_run_timeout;
  child_process follower({"queue", "tail", dir_, "--subscription", "s", "--follow"});
  // Once it printed a record the follower holds the subscription.
  ASSERT_EQ(follower.read_line(deadline), "record 1") << follower.err();

  auto second = run_sluice({"queue", "tail", dir_, "--subscription", "s"});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("'s'"), std::string::npos) << second.err;

  follower.kill(SIGTERM);
  EXPECT_EQ(follower.finish(deadline), 0) << follower.err();
  EXPECT_EQ(follower.out(), numbered_lines(1, 3));
  // It committed what it printed: nothing is left for the subscription.
  auto after = run_sluice({"queue", "tail", dir_, "--subscription", "s"});
  EXPECT_EQ(after.status, 0) << after.err;
  EXPECT_EQ(after.out, "");
}

TEST_F(cli_test, verify_reports_a_torn_tail_and_repair_removes_it) {
  append_numbered(100);
  std::filesystem::path last_segment;
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    if (entry.path().extension() == ".seg" && entry.path() > last_segment)
      last_segment = entry.path();
  ASSERT_FALSE(last_segment.empty());
  // Cut the last record short, as a crash during its write would.
  std::filesystem::resize_file(last_segment, std::filesystem::file_size(last_segment) - 3);

  auto v = run_sluice({"queue", "verify", dir_, "--json"});
  EXPECT_EQ(v.status, 1) << v.err;
  auto report = nlohmann::json::parse(v.out);
  EXPECT_EQ(report["clean"], false);
  ASSERT_EQ(report["damages"].size(), 1u);
  EXPECT_EQ(report["damages"][0]["torn_tail"], true);
  EXPECT_EQ(report["damages"][0]["after"], 99);

  auto r = run_sluice({"queue", "repair", dir_});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  auto again = run_sluice({"queue", "verify", dir_});
  EXPECT_EQ(again.status, 0) << again.out << again.err;
  auto t = run_sluice({"queue", "tail", dir_});
  EXPECT_EQ(t.out, numbered_lines(1, 99));
}

TEST_F(cli_test, tail_prints_the_event_inside_a_source_envelope) {
  {
    sluice::queue::disk::options o;
    o.dir = dir_;
    auto q = sluice::queue::disk::open(o).value();
    std::string rec;
    sluice::queue::encode_event(rec, "firehose", "tweet", "", "{\"id\":7}");
    sluice::queue::record_in in{0, rec};
    ASSERT_TRUE(q->append({&in, 1}).has_value());
    ASSERT_TRUE(q->close().has_value());
  }
  auto t = run_sluice({"queue", "tail", dir_});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, "{\"id\":7}\n");
  auto j = run_sluice({"queue", "tail", dir_, "--json"});
  auto rec = nlohmann::json::parse(j.out);
  EXPECT_EQ(rec["source"], "firehose");
  EXPECT_EQ(rec["type"], "tweet");
  EXPECT_EQ(rec["payload"], "{\"id\":7}");
}

// `make bench` is not part of `make test`; this runs both benchmarks small, so that a change that
// breaks one (or leaves its directory behind) fails here rather than in the next `make bench`.
TEST_F(cli_test, the_benchmarks_run_small_and_leave_nothing_behind) {
  auto scratch = root_ / "bench";
  std::filesystem::create_directory(scratch);

  // The disk may stay busy while other tests run: each settle waits 5 s at most.
  auto q = run_sluice({"bench", "queue", "--records", "5000", "--settle-seconds", "5", "--dir",
                       scratch.string(), "--json"},
                      {}, 60s);
  ASSERT_EQ(q.status, 0) << q.err;
  auto qj = nlohmann::json::parse(q.out);
  EXPECT_EQ(qj["records"], 5000);
  EXPECT_GT(qj["appends_per_s"].get<double>(), 0.0);
  EXPECT_GT(qj["raw_mb_per_s"].get<double>(), 0.0);

  auto p = run_sluice({"bench", "pipeline", "--sink", "sqlite", "--events", "5000", "--rate",
                       "2000", "--latency-seconds", "1", "--settle-seconds", "5", "--dir",
                       scratch.string(), "--json"},
                      {}, 60s);
  ASSERT_EQ(p.status, 0) << p.err;
  auto pj = nlohmann::json::parse(p.out);
  EXPECT_EQ(pj["events"], 5000);
  EXPECT_EQ(pj["sink"], "sqlite");
  for (const char* key : {"events_per_s", "mb_per_s", "p50_ms", "p99_ms", "rss_mib"})
    EXPECT_GT(pj[key].get<double>(), 0.0) << key;

  EXPECT_TRUE(std::filesystem::is_empty(scratch));
}

// The Redis benches small: the queue beside redis-benchmark, and the pipeline through a private
// redis-server with two deliverers; each leaves nothing behind (its redis-server stopped).
TEST_F(cli_test, the_redis_benchmarks_run_small_and_leave_nothing_behind) {
  auto scratch = root_ / "bench";
  std::filesystem::create_directory(scratch);
  auto r = run_sluice({"bench", "redis", "--records", "20000", "--dir", scratch.string(), "--json"},
                      {}, 60s);
  ASSERT_EQ(r.status, 0) << r.err;
  auto rj = nlohmann::json::parse(r.out);
  EXPECT_EQ(rj["records"], 20000);
  for (const char* key : {"appends_per_s", "redis_benchmark_xadd_per_s", "ratio", "reads_per_s"})
    EXPECT_GT(rj[key].get<double>(), 0.0) << key;

  auto p = run_sluice({"bench", "pipeline", "--queue", "redis", "--events", "20000", "--rate",
                       "5000", "--latency-seconds", "1", "--settle-seconds", "5", "--dir",
                       scratch.string(), "--json"},
                      {}, 90s);
  ASSERT_EQ(p.status, 0) << p.err;
  auto pj = nlohmann::json::parse(p.out);
  EXPECT_EQ(pj["events"], 20000);
  EXPECT_EQ(pj["queue"], "redis");
  for (const char* key : {"events_per_s", "p99_ms", "rss_mib"})
    EXPECT_GT(pj[key].get<double>(), 0.0) << key;
  EXPECT_TRUE(std::filesystem::is_empty(scratch));
}

// The intake bench small: pushed lines into a listen source with both rsyslog references (a
// private rsyslogd each), and the firehose over HTTP into the queue alone.
TEST_F(cli_test, the_intake_benchmark_runs_small_beside_rsyslog_and_leaves_nothing_behind) {
  auto scratch = root_ / "bench";
  std::filesystem::create_directory(scratch);
  auto l = run_sluice({"bench", "intake", "--source", "listen", "--connections", "3", "--lines",
                       "20000", "--rate", "5000", "--latency-seconds", "1", "--settle-seconds", "5",
                       "--dir", scratch.string(), "--json"},
                      {}, 90s);
  ASSERT_EQ(l.status, 0) << l.err;
  auto lj = nlohmann::json::parse(l.out);
  EXPECT_EQ(lj["lines"], 20000);
  EXPECT_EQ(lj["connections"], 3);
  EXPECT_EQ(lj["line_bytes"], 299.0); // 300 with the newline
  for (const char* key :
       {"lines_per_s", "mb_per_s", "p99_ms", "rss_mib", "raw_lines_per_s", "disk_mb_per_s",
        "rsyslog_direct_per_s", "rsyslog_da_per_s", "cpu_s_per_million_lines"})
    EXPECT_GT(lj[key].get<double>(), 0.0) << key;

  auto h = run_sluice({"bench", "intake", "--source", "http", "--sink", "none", "--no-rsyslog",
                       "--lines", "20000", "--rate", "5000", "--latency-seconds", "1",
                       "--settle-seconds", "5", "--dir", scratch.string(), "--json"},
                      {}, 90s);
  ASSERT_EQ(h.status, 0) << h.err;
  auto hj = nlohmann::json::parse(h.out);
  EXPECT_EQ(hj["lines"], 20000);
  EXPECT_EQ(hj["sink"], "none");
  EXPECT_FALSE(hj.contains("rsyslog_direct_per_s"));
  EXPECT_GT(hj["lines_per_s"].get<double>(), 0.0);

  EXPECT_TRUE(std::filesystem::is_empty(scratch));
}

} // namespace
