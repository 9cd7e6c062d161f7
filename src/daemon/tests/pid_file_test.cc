#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

#include <gtest/gtest.h>

#include "daemon/pid_file.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

namespace fs = std::filesystem;

using sluice::testing::temp_dir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

std::string pid_line(int pid) {
  return std::to_string(pid) + "\n";
}

bool read_all(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Exits 0 when the child ended normally with status 0.
void expect_clean_exit(pid_t child) {
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// What a second acquire() of `path` in a forked child saw: its error (0 on success) and
// holder_pid.
struct child_attempt {
  int error = -1;
  int holder = -1;
};

child_attempt acquire_in_child(const fs::path& path) {
  int fds[2];
  if (::pipe(fds) != 0)
    std::abort();
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    child_attempt a;
    auto r = pid_file::acquire(path, &a.holder, nullptr);
    a.error = r.has_value() ? 0 : r.error().value();
    if (r)
      r->release();
    bool ok = ::write(fds[1], &a, sizeof(a)) == static_cast<ssize_t>(sizeof(a));
    ::_exit(ok ? 0 : 1); // no destructors, no gtest teardown in the child
  }
  ::close(fds[1]);
  child_attempt a;
  EXPECT_TRUE(read_all(fds[0], &a, sizeof(a)));
  ::close(fds[0]);
  expect_clean_exit(child);
  return a;
}

// The pid of a process that has exited and been reaped.
int dead_pid() {
  pid_t child = ::fork();
  if (child == 0)
    ::_exit(0);
  expect_clean_exit(child);
  return child;
}

TEST(pid_file, acquire_writes_our_pid) {
  temp_dir dir("pid");
  int holder = -1;
  bool stale = true;
  auto f = pid_file::acquire(dir / "sluice.pid", &holder, &stale);
  ASSERT_TRUE(f.has_value()) << f.error().message();
  EXPECT_TRUE(f->held());
  EXPECT_EQ(slurp(dir / "sluice.pid"), pid_line(::getpid()));
  EXPECT_EQ(holder, 0);
  EXPECT_FALSE(stale);
  EXPECT_EQ(fs::status(dir / "sluice.pid").permissions() & fs::perms::others_write,
            fs::perms::none);
}

TEST(pid_file, acquire_creates_missing_run_directory) {
  temp_dir dir("pid");
  fs::path path = dir / "run/sluice/a.pid";
  auto f = pid_file::acquire(path, nullptr, nullptr);
  ASSERT_TRUE(f.has_value()) << f.error().message();
  EXPECT_TRUE(fs::is_directory(dir / "run/sluice"));
  EXPECT_EQ(slurp(path), pid_line(::getpid()));
}

TEST(pid_file, acquire_fails_when_run_directory_is_a_file) {
  temp_dir dir("pid");
  spit(dir / "run", "");
  auto f = pid_file::acquire(dir / "run/a.pid", nullptr, nullptr);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error(), std::error_code(ENOTDIR, std::system_category()));
}

TEST(pid_file, second_acquire_from_another_process_fails_with_holder_pid) {
  temp_dir dir("pid");
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(f.has_value());
  child_attempt a = acquire_in_child(dir / "sluice.pid");
  EXPECT_EQ(a.error, static_cast<int>(std::errc::resource_unavailable_try_again));
  EXPECT_EQ(a.holder, ::getpid());
  // The loser leaves the holder's file alone.
  EXPECT_EQ(slurp(dir / "sluice.pid"), pid_line(::getpid()));
}

TEST(pid_file, second_acquire_in_same_process_conflicts) {
  temp_dir dir("pid");
  auto first = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(first.has_value());
  int holder = -1;
  bool stale = true;
  auto second = pid_file::acquire(dir / "sluice.pid", &holder, &stale);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), std::make_error_code(std::errc::resource_unavailable_try_again));
  EXPECT_EQ(holder, ::getpid());
  EXPECT_FALSE(stale);
}

TEST(pid_file, release_removes_the_file_and_frees_the_lock) {
  temp_dir dir("pid");
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(f.has_value());
  f->release();
  EXPECT_FALSE(f->held());
  EXPECT_FALSE(fs::exists(dir / "sluice.pid"));
  f->release(); // idempotent
  child_attempt a = acquire_in_child(dir / "sluice.pid");
  EXPECT_EQ(a.error, 0);
  EXPECT_FALSE(fs::exists(dir / "sluice.pid"));
}

TEST(pid_file, destructor_removes_the_file_and_moved_from_does_nothing) {
  temp_dir dir("pid");
  {
    auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
    ASSERT_TRUE(f.has_value());
    pid_file moved = std::move(*f);
    EXPECT_FALSE(f->held());
    EXPECT_TRUE(moved.held());
    f->release();
    EXPECT_TRUE(fs::exists(dir / "sluice.pid"));
  }
  EXPECT_FALSE(fs::exists(dir / "sluice.pid"));
}

TEST(pid_file, stale_file_of_dead_process_is_taken_over) {
  temp_dir dir("pid");
  int old = dead_pid();
  spit(dir / "sluice.pid", pid_line(old));
  int holder = -1;
  bool stale = false;
  auto f = pid_file::acquire(dir / "sluice.pid", &holder, &stale);
  ASSERT_TRUE(f.has_value()) << f.error().message();
  EXPECT_TRUE(stale);
  EXPECT_EQ(holder, old);
  EXPECT_EQ(slurp(dir / "sluice.pid"), pid_line(::getpid()));
}

TEST(pid_file, stale_file_with_longer_content_is_fully_replaced) {
  temp_dir dir("pid");
  spit(dir / "sluice.pid", "garbage that is longer than any pid\n");
  int holder = -1;
  bool stale = false;
  auto f = pid_file::acquire(dir / "sluice.pid", &holder, &stale);
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(stale);
  EXPECT_EQ(holder, 0);
  EXPECT_EQ(slurp(dir / "sluice.pid"), pid_line(::getpid()));
}

TEST(pid_file, empty_leftover_file_is_not_stale) {
  temp_dir dir("pid");
  spit(dir / "sluice.pid", "");
  bool stale = true;
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, &stale);
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(stale);
}

TEST(pid_file, update_pid_rewrites_the_content) {
  temp_dir dir("pid");
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(f->update_pid(123456789).has_value());
  EXPECT_EQ(slurp(dir / "sluice.pid"), "123456789\n");
  ASSERT_TRUE(f->update_pid(7).has_value());
  EXPECT_EQ(slurp(dir / "sluice.pid"), "7\n");
  // The file names another process now: this one only drops the lock.
  f->release();
  EXPECT_EQ(slurp(dir / "sluice.pid"), "7\n");
  bool stale = false;
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", &stale), std::nullopt);
  EXPECT_TRUE(stale);
}

TEST(pid_file, release_leaves_a_file_that_replaced_ours) {
  temp_dir dir("pid");
  auto first = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(first.has_value());
  // An operator removes the file and another instance starts and takes the path.
  fs::remove(dir / "sluice.pid");
  auto second = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(second.has_value());
  first->release();
  EXPECT_EQ(slurp(dir / "sluice.pid"), pid_line(::getpid()));
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", nullptr), ::getpid());
}

TEST(pid_file, read_live_pid_returns_holder_in_this_process) {
  temp_dir dir("pid");
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  ASSERT_TRUE(f.has_value());
  bool stale = true;
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", &stale), ::getpid());
  EXPECT_FALSE(stale);
  // After release there is neither a live holder nor a stale file.
  f->release();
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", &stale), std::nullopt);
  EXPECT_FALSE(stale);
}

TEST(pid_file, read_live_pid_returns_holder_in_another_process) {
  temp_dir dir("pid");
  fs::path path = dir / "sluice.pid";
  int ready[2];
  int go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    ::close(go[1]);
    auto f = pid_file::acquire(path, nullptr, nullptr);
    char ok = f.has_value() ? 1 : 0;
    if (::write(ready[1], &ok, 1) != 1)
      ::_exit(2);
    char c;
    (void)::read(go[0], &c, 1); // returns 0 when the parent closes its end
    if (f)
      f->release();
    ::_exit(ok ? 0 : 1);
  }
  ::close(ready[1]);
  ::close(go[0]);
  char ok = 0;
  ASSERT_TRUE(read_all(ready[0], &ok, 1));
  ::close(ready[0]);
  ASSERT_EQ(ok, 1);

  bool stale = true;
  EXPECT_EQ(read_live_pid(path, &stale), child);
  EXPECT_FALSE(stale);
  int holder = -1;
  auto ours = pid_file::acquire(path, &holder, nullptr);
  EXPECT_FALSE(ours.has_value());
  EXPECT_EQ(holder, child);

  ::close(go[1]);
  expect_clean_exit(child);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(read_live_pid(path, &stale), std::nullopt);
  EXPECT_FALSE(stale);
}

TEST(pid_file, read_live_pid_reports_stale_file) {
  temp_dir dir("pid");
  spit(dir / "sluice.pid", pid_line(dead_pid()));
  bool stale = false;
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", &stale), std::nullopt);
  EXPECT_TRUE(stale);
  // Reading changed nothing, and the probe let go of its lock.
  bool took_over = false;
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, &took_over);
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(took_over);
}

TEST(pid_file, read_live_pid_without_file) {
  temp_dir dir("pid");
  bool stale = true;
  EXPECT_EQ(read_live_pid(dir / "sluice.pid", &stale), std::nullopt);
  EXPECT_FALSE(stale);
  EXPECT_EQ(read_live_pid(dir / "missing/sluice.pid", nullptr), std::nullopt);
}

TEST(pid_file, acquire_gives_up_on_a_shared_lock_that_stays) {
  temp_dir dir("pid");
  spit(dir / "sluice.pid", pid_line(dead_pid()));
  // A shared lock like the one read_live_pid() takes for a moment. acquire() waits for such a
  // probe to let go, but only for a bounded time: this one never does.
  int probe = ::open((dir / "sluice.pid").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  ASSERT_EQ(::flock(probe, LOCK_SH | LOCK_NB), 0);
  auto f = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  EXPECT_FALSE(f.has_value());
  ::close(probe);
  auto g = pid_file::acquire(dir / "sluice.pid", nullptr, nullptr);
  EXPECT_TRUE(g.has_value());
}

} // namespace
} // namespace sluice::daemon
