#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "daemon/supervisor.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;

TEST(supervisor, restart_delay_doubles_from_min_to_max) {
  config::daemon_config d; // 1 s doubling to 60 s
  EXPECT_EQ(restart_delay(d, 1), 1s);
  EXPECT_EQ(restart_delay(d, 2), 2s);
  EXPECT_EQ(restart_delay(d, 3), 4s);
  EXPECT_EQ(restart_delay(d, 6), 32s);
  EXPECT_EQ(restart_delay(d, 7), 60s);
  EXPECT_EQ(restart_delay(d, 1000), 60s);
  d.restart_min = 250ms;
  d.restart_max = 1s;
  EXPECT_EQ(restart_delay(d, 1), 250ms);
  EXPECT_EQ(restart_delay(d, 3), 1s);
}

TEST(supervisor, common_log_lines_are_appended_whole) {
  sluice::testing::temp_dir dir("common");
  auto log = dir / "common.log";
  common_log_line(log, "t-default", "start", 42, "config=/etc/x.toml");
  common_log_line(log, "t-b", "stop", 43, "");
  std::ifstream in(log);
  std::string l1, l2, extra;
  ASSERT_TRUE(std::getline(in, l1));
  ASSERT_TRUE(std::getline(in, l2));
  EXPECT_FALSE(std::getline(in, extra));
  // "2026-11-23T17:00:01.123Z " and then the event.
  ASSERT_EQ(l1.size(), 25 + std::string("t-default start pid=42 config=/etc/x.toml").size());
  EXPECT_EQ(l1[10], 'T');
  EXPECT_EQ(l1[23], 'Z');
  EXPECT_EQ(l1.substr(25), "t-default start pid=42 config=/etc/x.toml");
  EXPECT_EQ(l2.substr(25), "t-b stop pid=43");
}

TEST(supervisor, daemon_paths_name_the_files_after_id_and_context) {
  daemon_paths p;
  p.id = "nfl";
  p.context = "test";
  p.run_dir = "/run/sluice";
  p.log_dir = "/var/log/sluice";
  EXPECT_EQ(p.pid_file(), "/run/sluice/nfl-test.pid");
  EXPECT_EQ(p.info_file(), "/run/sluice/nfl-test.json");
  EXPECT_EQ(p.log_file(), "/var/log/sluice/nfl-test.log");
}

} // namespace
} // namespace sluice::daemon
