#include "daemon/pid_file.h"

#include <cerrno>
#include <charconv>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace sluice::daemon {
namespace {

// How often acquire() retries while the only lock in its way is a shared one: read_live_pid()
// probing the file, which lets go within microseconds.
constexpr int k_probe_retries = 100;

// How often acquire() reopens the path after locking a file that a releasing holder had already
// unlinked; more than a couple means something keeps replacing the file.
constexpr int k_reopen_attempts = 16;

struct pid_content {
  bool empty = true;
  int pid = 0; // 0 when the content does not start with a positive pid
};

pid_content read_content(int fd) {
  char buf[32];
  ssize_t n = -1;
  do {
    n = ::pread(fd, buf, sizeof(buf), 0);
  } while (n < 0 && errno == EINTR);
  pid_content c;
  if (n <= 0)
    return c;
  c.empty = false;
  int pid = 0;
  auto [p, ec] = std::from_chars(buf, buf + n, pid);
  if (ec == std::errc() && p != buf && pid > 0)
    c.pid = pid;
  return c;
}

// Writes first and truncates after, so a reader never finds the file empty: at worst it sees the
// new pid followed by the tail of a longer old one, and parsing stops at the newline.
result<void> write_pid(int fd, int pid) {
  std::string text = std::to_string(pid) + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail_errno(errno);
    done += static_cast<std::size_t>(n);
  }
  if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0)
    return fail_errno(errno);
  if (::fsync(fd) != 0)
    return fail_errno(errno);
  return {};
}

int try_lock(int fd, int op) {
  int rc = -1;
  do {
    rc = ::flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

// True when `fd` is still the file at `path`: a holder that released the file between our open()
// and our flock() has unlinked it, and its lock is then worthless.
bool same_file(int fd, const std::filesystem::path& path) {
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(fd, &by_fd) != 0 || ::lstat(path.c_str(), &by_path) != 0)
    return false;
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

result<void> make_directories(const std::filesystem::path& dir) {
  if (dir.empty())
    return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return fail_errno(ENOTDIR);
    return {};
  }
  if (errno != ENOENT)
    return fail_errno(errno);
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    if (auto r = make_directories(dir.parent_path()); !r)
      return r;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return fail_errno(errno);
  return {};
}

// Takes the exclusive lock without blocking; 0 or -1 with errno as flock() leaves it.
int lock_exclusive(int fd) {
  int rc = try_lock(fd, LOCK_EX | LOCK_NB);
  for (int i = 0; rc != 0 && errno == EWOULDBLOCK && i < k_probe_retries; ++i) {
    // A shared lock is only possible while no one holds the exclusive one: whoever is in the way
    // is a reader probing the file, not a running daemon. Wait for it to let go.
    if (try_lock(fd, LOCK_SH | LOCK_NB) != 0) {
      errno = EWOULDBLOCK;
      return -1;
    }
    timespec pause{0, 1000000};
    ::nanosleep(&pause, nullptr);
    rc = try_lock(fd, LOCK_EX | LOCK_NB);
  }
  return rc;
}

} // namespace

result<pid_file> pid_file::acquire(const std::filesystem::path& path, int* holder_pid,
                                   bool* took_over_stale) {
  if (holder_pid != nullptr)
    *holder_pid = 0;
  if (took_over_stale != nullptr)
    *took_over_stale = false;
  if (auto r = make_directories(path.parent_path()); !r)
    return fail(r.error());

  // Retried only when the file we locked was unlinked under us by a holder releasing it.
  for (int attempt = 0; attempt < k_reopen_attempts; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      return fail_errno(errno);
    if (lock_exclusive(fd) != 0) {
      int e = errno;
      if (e == EWOULDBLOCK && holder_pid != nullptr)
        *holder_pid = read_content(fd).pid;
      ::close(fd);
      if (e == EWOULDBLOCK)
        return fail(std::make_error_code(std::errc::resource_unavailable_try_again));
      return fail_errno(e);
    }
    if (!same_file(fd, path)) {
      ::close(fd);
      continue;
    }
    pid_content old = read_content(fd);
    if (!old.empty) {
      if (took_over_stale != nullptr)
        *took_over_stale = true;
      if (holder_pid != nullptr)
        *holder_pid = old.pid;
    }
    if (auto r = write_pid(fd, ::getpid()); !r) {
      // Still locked: removing it now follows the release protocol.
      ::unlink(path.c_str());
      ::close(fd);
      return fail(r.error());
    }
    return pid_file(path, fd);
  }
  return fail(std::make_error_code(std::errc::resource_unavailable_try_again));
}

pid_file::pid_file(pid_file&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

pid_file& pid_file::operator=(pid_file&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

pid_file::~pid_file() {
  release();
}

result<void> pid_file::update_pid(int pid) {
  if (fd_ < 0)
    return fail(std::make_error_code(std::errc::bad_file_descriptor));
  return write_pid(fd_, pid);
}

void pid_file::release() noexcept {
  if (fd_ < 0)
    return;
  if (read_content(fd_).pid == ::getpid() && same_file(fd_, path_)) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      spdlog::warn("cannot remove pid file {}: {}", path_.string(),
                   std::error_code(errno, std::system_category()).message());
  }
  ::close(fd_);
  fd_ = -1;
}

std::optional<int> read_live_pid(const std::filesystem::path& path, bool* stale) {
  if (stale != nullptr)
    *stale = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return std::nullopt;
  std::optional<int> live;
  if (try_lock(fd, LOCK_SH | LOCK_NB) == 0) {
    // Nobody holds it. A file unlinked since our open() was released cleanly, not left stale.
    if (stale != nullptr)
      *stale = same_file(fd, path);
  } else if (errno == EWOULDBLOCK) {
    if (int pid = read_content(fd).pid; pid > 0)
      live = pid;
  }
  ::close(fd);
  return live;
}

} // namespace sluice::daemon
