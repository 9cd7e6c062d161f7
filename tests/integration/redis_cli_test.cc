// The queue tools on a Redis queue (`sluice queue append|tail|stats
// redis://HOST:PORT/DB?stream=KEY`) against a private redis-server: what they do on a directory,
// through the queue interface.

#include <cstdio>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

TEST(redis_cli, append_tail_and_stats_work_on_a_redis_location) {
  redis_server redis;
  const std::string at = redis.url() + "?stream=tools";
  auto a = run_sluice({"queue", "append", at, "--json"}, "one\ntwo\nthree\n");
  ASSERT_EQ(a.status, 0) << a.err;
  auto appended = nlohmann::json::parse(a.out);
  EXPECT_EQ(appended["appended"], 3);
  EXPECT_EQ(redis.command({"XLEN", "tools"}), "3");

  auto t = run_sluice({"queue", "tail", at});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, "one\ntwo\nthree\n");

  // As a subscription: the group is created, and commits leave nothing pending.
  auto s = run_sluice({"queue", "tail", at, "--subscription", "tool", "--count", "2"});
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, "one\ntwo\n");
  auto stats = run_sluice({"queue", "stats", at, "--json"});
  ASSERT_EQ(stats.status, 0) << stats.err;
  auto j = nlohmann::json::parse(stats.out);
  EXPECT_EQ(j["location"], at);
  EXPECT_EQ(j["first"], appended["first"]);
  EXPECT_EQ(j["watermark"], appended["last"]);
  ASSERT_EQ(j["subscriptions"].size(), 1u);
  EXPECT_EQ(j["subscriptions"][0]["name"], "tool");
  EXPECT_EQ(j["subscriptions"][0]["lag"], 1);

  auto v = run_sluice({"queue", "verify", at});
  EXPECT_EQ(v.status, 1);
  EXPECT_NE(v.err.find("works on a disk queue's directory"), std::string::npos) << v.err;
}

TEST(redis_cli, a_redis_location_that_does_not_answer_is_a_clear_error) {
  redis_server redis;
  std::string at = redis.url() + "?stream=tools";
  redis.stop();
  auto t = run_sluice({"queue", "stats", at});
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.err.find("Redis at 127.0.0.1:" + std::to_string(redis.port())), std::string::npos)
      << t.err;
}

TEST(redis_cli, a_shell_consumer_written_the_seeds_way_reads_a_list_sluice_wrote) {
  redis_server redis;
  const std::string at = redis.url() + "?list=jobs";
  auto a = run_sluice({"queue", "append", at}, "first\nsecond\nthird\n");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(redis.command({"LLEN", "jobs"}), "3");
  // The seeds' subscriber in sh and redis-cli: BRPOPLPUSH work busy, store, LREM busy.
  std::string cli = "redis-cli -p " + std::to_string(redis.port());
  std::string script = "for i in 1 2 3; do item=$(" + cli +
                       " BRPOPLPUSH jobs jobs:busy 1); echo \"$item\"; " + cli +
                       " LREM jobs:busy 1 \"$item\" >/dev/null; done";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(("sh -c '" + script + "'").c_str(), "r"),
                                          ::pclose);
  ASSERT_TRUE(p);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p.get()) != nullptr)
    out += buf;
  EXPECT_EQ(out, "first\nsecond\nthird\n"); // oldest first
  EXPECT_EQ(redis.command({"LLEN", "jobs:busy"}), "0");
  auto t = run_sluice({"queue", "tail", at});
  EXPECT_EQ(t.status, 1);
}

} // namespace
} // namespace sluice::testing
