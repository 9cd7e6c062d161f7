// The Redis connection against a private redis-server (support/redis_server.h).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/errc.h"
#include "io/redis.h"
#include "support/redis_server.h"

namespace sluice::io::redis {
namespace {

using namespace std::chrono_literals;
using sluice::testing::redis_server;

endpoint at(const redis_server& r) {
  return parse_url(r.url()).value();
}

TEST(redis_url, parses_host_port_db_and_credentials) {
  auto e = parse_url("redis://127.0.0.1:6380/3").value();
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 3);
  EXPECT_EQ(e.password, "");
  e = parse_url("redis://cache.example").value();
  EXPECT_EQ(e.host, "cache.example");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0);
  e = parse_url("redis://:s%40cret@h:1/0").value();
  EXPECT_EQ(e.user, "");
  EXPECT_EQ(e.password, "s@cret");
  e = parse_url("redis://app:pw@[::1]:7000/2").value();
  EXPECT_EQ(e.user, "app");
  EXPECT_EQ(e.password, "pw");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.db, 2);
  for (const char* bad : {"http://h:1", "redis://", "redis://:1", "redis://h:0", "redis://h:x",
                          "redis://h:70000", "redis://h/-1", "redis://h/a", "redis://user@h",
                          "redis://[::1", "redis://[::1]x", "redis://:%zz@h"})
    EXPECT_EQ(parse_url(bad).error(), errc::bad_url) << bad;
}

TEST(redis_url, parses_sentinels_and_the_primary_name) {
  auto e = parse_url("redis-sentinel://:pw@10.0.0.1:26380,10.0.0.2,[::1]:5000/mymaster/4").value();
  ASSERT_EQ(e.sentinels.size(), 3u);
  EXPECT_EQ(e.sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(e.sentinels[0].port, 26380);
  EXPECT_EQ(e.sentinels[1].host, "10.0.0.2");
  EXPECT_EQ(e.sentinels[1].port, 26379);
  EXPECT_EQ(e.sentinels[2].host, "::1");
  EXPECT_EQ(e.sentinels[2].port, 5000);
  EXPECT_EQ(e.master, "mymaster");
  EXPECT_EQ(e.db, 4);
  EXPECT_EQ(e.password, "pw");
  EXPECT_EQ(parse_url("redis-sentinel://h:1/m").value().db, 0);
  for (const char* bad : {"redis-sentinel://h:1", "redis-sentinel://h:1/", "redis-sentinel://,h/m",
                          "redis-sentinel://h:0/m", "redis-sentinel://h/m/x"})
    EXPECT_EQ(parse_url(bad).error(), errc::bad_url) << bad;
}

TEST(redis_connection, pipelines_commands_and_returns_replies_in_order) {
  redis_server r;
  auto c = connection::open(at(r), 2s).value();
  for (int i = 0; i < 1000; ++i)
    c.append({"XADD", "s", "*", "n", std::to_string(i)});
  c.append({"XLEN", "s"});
  c.append({"RPUSH", "l", "x"});
  c.append({"XADD", "l", "*", "k", "v"}); // a list is not a stream: an error reply, not a failure
  c.append({"GET", "missing"});
  c.append({"XRANGE", "s", "-", "+", "COUNT", "2"});
  EXPECT_EQ(c.pending(), 1005u);
  auto replies = c.flush().value();
  ASSERT_EQ(replies.size(), 1005u);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(replies[0].type, reply::kind::string); // the entry id
  EXPECT_EQ(replies[1000].integer, 1000);
  EXPECT_EQ(replies[1001].integer, 1);
  EXPECT_TRUE(replies[1002].is_error());
  EXPECT_EQ(replies[1002].error_code(), "WRONGTYPE");
  EXPECT_EQ(replies[1003].type, reply::kind::nil);
  ASSERT_EQ(replies[1004].elements.size(), 2u);
  EXPECT_EQ(replies[1004].elements[0].elements[0].text, replies[0].text);
  EXPECT_EQ(replies[1004].elements[1].elements[1].elements[1].text, "1");
  EXPECT_FALSE(c.broken());
  EXPECT_EQ(c.command({"PING"}).value().text, "PONG");
}

TEST(redis_connection, selects_the_db_and_authenticates) {
  redis_server r({.extra = {"--requirepass", "s3cret"}});
  auto e = at(r);
  EXPECT_EQ(connection::open(e, 2s).value().command({"SET", "k", "v"}).value().error_code(),
            "NOAUTH");
  e.password = "wrong";
  EXPECT_EQ(connection::open(e, 2s).error(), errc::redis_refused);
  e.password = "s3cret";
  e.db = 5;
  auto c = connection::open(e, 2s).value();
  ASSERT_EQ(c.command({"SET", "k", "v"}).value().text, "OK");
  e.db = 0;
  auto other = connection::open(e, 2s).value();
  EXPECT_EQ(other.command({"EXISTS", "k"}).value().integer, 0);
  EXPECT_EQ(c.command({"EXISTS", "k"}).value().integer, 1);
}

TEST(redis_connection, a_server_that_goes_breaks_the_connection_and_a_new_one_works_again) {
  redis_server r({.appendonly = true});
  auto c = connection::open(at(r), 2s).value();
  ASSERT_EQ(c.command({"RPUSH", "l", "a"}).value().integer, 1);
  r.kill();
  c.append({"RPUSH", "l", "b"});
  auto lost = c.flush();
  ASSERT_FALSE(lost.has_value());
  EXPECT_TRUE(c.broken());
  EXPECT_FALSE(c.command({"PING"}).has_value()) << "a broken connection stays broken";
  EXPECT_FALSE(connection::open(at(r), 1s).has_value()) << "nothing listens";
  r.start();
  auto again = connection::open(at(r), 2s).value();
  EXPECT_EQ(again.command({"PING"}).value().text, "PONG");
}

} // namespace
} // namespace sluice::io::redis
