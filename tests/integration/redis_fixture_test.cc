// The private Redis of support/redis_server.h, which the Redis backend's tests stand on: it
// starts on a free port, answers, keeps what it persisted across a kill with appendonly and
// loses it without, and is gone when the fixture goes.

#include <csignal>
#include <string>

#include <gtest/gtest.h>

#include "support/eventually.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

TEST(redis_server, answers_on_its_own_port_and_stops_with_the_fixture) {
  std::uint16_t port = 0;
  {
    redis_server r;
    port = r.port();
    EXPECT_NE(port, 6379) << "never the system's port";
    EXPECT_EQ(r.command({"PING"}), "PONG");
    EXPECT_EQ(r.command({"XADD", "s", "*", "k", "v"}).find('-'), 13u); // "ms-seq"
    EXPECT_EQ(r.command({"XLEN", "s"}), "1");
    EXPECT_EQ(r.command({"NOSUCHCOMMAND"}).substr(0, 4), "-ERR");
  }
  std::string error;
  int fd = try_connect_tcp(port, error);
  EXPECT_LT(fd, 0) << "the server is gone";
  if (fd >= 0)
    ::close(fd);
}

TEST(redis_server, a_kill_keeps_what_appendonly_wrote_and_loses_the_rest_without_it) {
  redis_server durable({.appendonly = true});
  redis_server volatile_one;
  for (auto* r : {&durable, &volatile_one})
    ASSERT_EQ(r->command({"RPUSH", "l", "a", "b", "c"}), "3");
  // appendfsync everysec may lose the last second on a kill: a rewrite writes and syncs it all.
  ASSERT_EQ(durable.command({"BGREWRITEAOF"}).substr(0, 10), "Background");
  EXPECT_TRUE(eventually(std::chrono::seconds(10), [&] {
    return durable.command({"INFO", "persistence"}).find("aof_rewrite_in_progress:0") !=
           std::string::npos;
  }));
  durable.kill();
  volatile_one.kill();
  EXPECT_FALSE(durable.running());
  durable.start();
  volatile_one.start();
  EXPECT_EQ(durable.command({"LRANGE", "l", "0", "-1"}), "a\nb\nc");
  EXPECT_EQ(volatile_one.command({"LLEN", "l"}), "0");
}

} // namespace
} // namespace sluice::testing
