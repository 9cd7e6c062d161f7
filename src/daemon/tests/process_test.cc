#include <cerrno>
#include <chrono>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>

#include <gtest/gtest.h>

#include "daemon/process.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;
using sluice::testing::temp_dir;

// Bounds every wait below: a generous ceiling that only a broken build reaches, never a
// measurement.
constexpr auto k_ceiling = 20s;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Built by appending: `"'" + p.string() + "'"` trips GCC 12's -Wrestrict false positive at -O3.
std::string quoted(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.native());
  s.push_back('\'');
  return s;
}

// The whole of a one-line file once its writer finished the line; empty at the ceiling.
std::string wait_for_line(const std::filesystem::path& p) {
  std::string s;
  bool whole = sluice::testing::eventually(
      k_ceiling,
      [&] {
        s = read_file(p);
        return !s.empty() && s.back() == '\n';
      },
      5ms);
  return whole ? s : std::string();
}

bool gone(pid_t pid) {
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

TEST(process, describe_status_names_exit_codes_and_signals) {
  EXPECT_EQ(describe_status(0), "exit 0");
  EXPECT_EQ(describe_status(3 << 8), "exit 3");
  EXPECT_EQ(describe_status(9), "signal 9");
}

TEST(process, exit_code_of_a_shell_command) {
  auto c = child::spawn({.argv = {"/bin/sh", "-c", "exit 3"}});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_GT(c->pid(), 0);
  auto st = c->wait_for(k_ceiling);
  ASSERT_TRUE(st);
  EXPECT_EQ(describe_status(*st), "exit 3");
  // Reaped once: the status stays.
  EXPECT_EQ(c->wait_for(0ms), st);
}

TEST(process, env_extra_is_added_to_the_inherited_environment) {
  temp_dir dir;
  auto out = dir / "x";
  ::setenv("SLUICE_PROCESS_TEST_INHERITED", "kept", 1);
  auto c = child::spawn(
      {.argv = {"/bin/sh", "-c",
                "printf '%s|%s' \"$SLUICE_X\" \"$SLUICE_PROCESS_TEST_INHERITED\" > " + quoted(out)},
       .env_extra = {{"SLUICE_X", "a value with spaces"}}});
  ::unsetenv("SLUICE_PROCESS_TEST_INHERITED");
  ASSERT_TRUE(c) << c.error().message();
  auto st = c->wait_for(k_ceiling);
  ASSERT_TRUE(st);
  EXPECT_EQ(describe_status(*st), "exit 0");
  EXPECT_EQ(read_file(out), "a value with spaces|kept");
}

TEST(process, env_extra_replaces_an_inherited_variable) {
  temp_dir dir;
  auto out = dir / "x";
  ::setenv("SLUICE_PROCESS_TEST_REPLACED", "old", 1);
  auto c = child::spawn(
      {.argv = {"/bin/sh", "-c", "env | grep '^SLUICE_PROCESS_TEST_REPLACED=' > " + quoted(out)},
       .env_extra = {{"SLUICE_PROCESS_TEST_REPLACED", "new"}}});
  ::unsetenv("SLUICE_PROCESS_TEST_REPLACED");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->wait_for(k_ceiling));
  EXPECT_EQ(read_file(out), "SLUICE_PROCESS_TEST_REPLACED=new\n");
}

TEST(process, stdout_and_stderr_are_appended_to_the_output_file) {
  temp_dir dir;
  auto log = dir / "log";
  { std::ofstream(log) << "before\n"; }
  auto c =
      child::spawn({.argv = {"/bin/sh", "-c", "echo out; echo err >&2; read x; echo \"stdin:$x\""},
                    .stdout_stderr_to = log});
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->wait_for(k_ceiling));
  // stdin is /dev/null: read gets end of file and nothing.
  EXPECT_EQ(read_file(log), "before\nout\nerr\nstdin:\n");
}

TEST(process, a_running_child_is_terminated) {
  auto c = child::spawn({.argv = {"sleep", "30"}});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->wait_for(50ms), std::nullopt);
  c->terminate();
  auto st = c->wait_for(k_ceiling);
  ASSERT_TRUE(st);
  EXPECT_EQ(describe_status(*st), "signal 15");
}

TEST(process, a_child_of_a_thread_that_blocks_signals_gets_an_empty_mask) {
  // The daemon blocks TERM in its threads; a child inheriting that would ignore terminate().
  std::optional<int> st;
  std::thread t([&] {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);
    auto c = child::spawn({.argv = {"sleep", "30"}});
    if (!c)
      return;
    c->terminate();
    st = c->wait_for(k_ceiling);
  });
  t.join();
  ASSERT_TRUE(st);
  EXPECT_EQ(describe_status(*st), "signal 15");
}

TEST(process, kill_ends_the_whole_process_group) {
  temp_dir dir;
  auto pid_file = dir / "grandchild.pid";
  // Orphans are re-parented to this process while the test runs, so the killed grandchild is
  // reaped here and does not linger as a zombie under a PID 1 that never reaps (containers).
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto c = child::spawn(
      {.argv = {"/bin/sh", "-c", "sleep 30 & echo $! > " + quoted(pid_file) + "; wait"}});
  ASSERT_TRUE(c) << c.error().message();
  std::string line = wait_for_line(pid_file);
  ASSERT_FALSE(line.empty());
  const pid_t grandchild = std::stoi(line);
  ASSERT_FALSE(gone(grandchild));

  c->kill();
  auto st = c->wait_for(k_ceiling);
  ASSERT_TRUE(st);
  EXPECT_EQ(describe_status(*st), "signal 9");

  sluice::testing::eventually(
      k_ceiling,
      [&] {
        if (gone(grandchild))
          return true;
        ::waitpid(grandchild, nullptr, WNOHANG);
        return false;
      },
      5ms);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_TRUE(gone(grandchild));
}

TEST(process, the_destructor_kills_and_reaps_a_running_child) {
  pid_t pid = -1;
  {
    auto c = child::spawn({.argv = {"sleep", "30"}});
    ASSERT_TRUE(c) << c.error().message();
    pid = c->pid();
    child moved = std::move(*c);
    EXPECT_EQ(moved.pid(), pid);
  }
  // Reaped by the destructor, so no zombie is left either.
  EXPECT_TRUE(gone(pid));
}

// glibc reports a failed exec from posix_spawn itself: no child is left to exit 127.
TEST(process, a_program_that_does_not_exist_fails_to_spawn_with_enoent) {
  auto by_path = child::spawn({.argv = {"/nonexistent/sluice-no-such-program"}});
  ASSERT_FALSE(by_path);
  EXPECT_EQ(by_path.error(), std::error_code(ENOENT, std::system_category()));

  auto by_name = child::spawn({.argv = {"sluice-no-such-program"}});
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.error(), std::error_code(ENOENT, std::system_category()));
}

TEST(process, an_empty_argv_is_invalid) {
  auto c = child::spawn({});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::error_code(EINVAL, std::system_category()));
}

} // namespace
} // namespace sluice::daemon
