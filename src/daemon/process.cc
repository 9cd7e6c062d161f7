#include "daemon/process.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "base/log.h"

extern char** environ; // NOLINT(readability-identifier-naming): POSIX's name

namespace sluice::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Reset to their default action in the child: a handler the daemon installed does not survive
// exec anyway, but an ignored signal would, and a program started with SIGPIPE ignored (say)
// misbehaves.
constexpr int k_default_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1,
                                     SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGXCPU};

// A long wait is cut down to this, so that `now + timeout` cannot overflow.
constexpr milliseconds k_max_wait = std::chrono::hours(24 * 365);

class spawn_attr {
public:
  spawn_attr() { ok_ = posix_spawnattr_init(&attr_) == 0; }
  ~spawn_attr() {
    if (ok_)
      posix_spawnattr_destroy(&attr_);
  }
  spawn_attr(const spawn_attr&) = delete;
  spawn_attr& operator=(const spawn_attr&) = delete;
  bool ok() const noexcept { return ok_; }
  posix_spawnattr_t* get() noexcept { return &attr_; }

private:
  posix_spawnattr_t attr_{};
  bool ok_ = false;
};

class spawn_actions {
public:
  spawn_actions() { ok_ = posix_spawn_file_actions_init(&actions_) == 0; }
  ~spawn_actions() {
    if (ok_)
      posix_spawn_file_actions_destroy(&actions_);
  }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
  bool ok() const noexcept { return ok_; }
  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

private:
  posix_spawn_file_actions_t actions_{};
  bool ok_ = false;
};

// 0 or an errno.
int set_attributes(posix_spawnattr_t* attr) {
  sigset_t empty;
  sigset_t defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : k_default_signals)
    sigaddset(&defaults, sig);
  const short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (int e = posix_spawnattr_setflags(attr, flags))
    return e;
  if (int e = posix_spawnattr_setpgroup(attr, 0)) // 0: a group of its own, pgid = its pid
    return e;
  if (int e = posix_spawnattr_setsigmask(attr, &empty))
    return e;
  return posix_spawnattr_setsigdefault(attr, &defaults);
}

// 0 or an errno.
int set_file_actions(posix_spawn_file_actions_t* actions, const std::string& output) {
  if (int e = posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0))
    return e;
  if (int e = posix_spawn_file_actions_addopen(actions, 1, output.c_str(),
                                               O_WRONLY | O_CREAT | O_APPEND, 0644))
    return e;
  if (int e = posix_spawn_file_actions_adddup2(actions, 1, 2))
    return e;
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  // Sockets, queue segments and pid files opened without O_CLOEXEC stay with the daemon.
  if (int e = posix_spawn_file_actions_addclosefrom_np(actions, 3))
    return e;
#endif
  return 0;
}

// The inherited environment with `extra` added, names in `extra` replacing inherited ones.
std::vector<std::string>
build_environment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced =
        std::any_of(extra.begin(), extra.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced)
      env.emplace_back(entry);
  }
  for (const auto& [name, value] : extra)
    env.push_back(name + "=" + value);
  return env;
}

// Pointers into `strings`, null-terminated, as exec wants them.
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -1 : static_cast<int>(fd);
#else
  (void)pid;
  return -1;
#endif
}

} // namespace

result<child> child::spawn(const spawn_options& options) {
  if (options.argv.empty())
    return fail_errno(EINVAL);
  std::vector<std::string> argv = options.argv;
  std::vector<std::string> env = build_environment(options.env_extra);
  std::vector<char*> argv_c = c_array(argv);
  std::vector<char*> env_c = c_array(env);
  const std::string output = options.stdout_stderr_to.empty() ? std::string("/dev/null")
                                                              : options.stdout_stderr_to.string();

  spawn_attr attr;
  spawn_actions actions;
  if (!attr.ok() || !actions.ok())
    return fail_errno(ENOMEM);
  if (int e = set_attributes(attr.get()))
    return fail_errno(e);
  if (int e = set_file_actions(actions.get(), output))
    return fail_errno(e);

  pid_t pid = -1;
  if (int e = posix_spawnp(&pid, argv_c[0], actions.get(), attr.get(), argv_c.data(), env_c.data()))
    return fail_errno(e);
  return child(pid, open_pidfd(pid));
}

child::child(child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)),
      status_(std::exchange(other.status_, std::nullopt)) {}

child& child::operator=(child&& other) noexcept {
  if (this != &other) {
    release();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

child::~child() {
  release();
}

void child::release() noexcept {
  if (pid_ > 0 && !status_) {
    signal_group(SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0)
    ::close(pidfd_);
  pid_ = -1;
  pidfd_ = -1;
  status_.reset();
}

std::optional<int> child::try_reap() noexcept {
  if (status_ || pid_ <= 0)
    return status_;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = st;
  } else if (r < 0) {
    // ECHILD: something else in the process reaped it (a waitpid(-1) it should not have made).
    // The status is lost; report it as exit 255 rather than wait forever.
    SLUICE_WARN_LIMITED("child {}: cannot wait for it: {}", pid_, std::strerror(errno));
    status_ = 255 << 8;
  }
  return status_;
}

std::optional<int> child::wait_for(milliseconds timeout) {
  if (auto st = try_reap())
    return st;
  if (timeout <= milliseconds::zero())
    return std::nullopt;
  const auto deadline = steady_clock::now() + std::min(timeout, k_max_wait);
  while (pidfd_ >= 0) {
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left <= milliseconds::zero())
      return try_reap();
    pollfd p{pidfd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      break; // fall back to polling waitpid
    if (auto st = try_reap())
      return st;
    if (r > 0) {
      // Readable but not reapable cannot happen for a child of ours; do not spin on it.
      ::close(pidfd_);
      pidfd_ = -1;
    }
  }
  for (;;) {
    auto left = deadline - steady_clock::now();
    if (left <= steady_clock::duration::zero())
      return try_reap();
    std::this_thread::sleep_for(std::min<steady_clock::duration>(left, milliseconds(10)));
    if (auto st = try_reap())
      return st;
  }
}

void child::signal_group(int sig) noexcept {
  // Once reaped, the pid (and so the group id) may belong to someone else.
  if (pid_ > 0 && !status_)
    ::kill(-pid_, sig);
}

void child::terminate() noexcept {
  signal_group(SIGTERM);
}

void child::kill() noexcept {
  signal_group(SIGKILL);
}

std::string describe_status(int raw) {
  if (WIFEXITED(raw))
    return "exit " + std::to_string(WEXITSTATUS(raw));
  if (WIFSIGNALED(raw))
    return "signal " + std::to_string(WTERMSIG(raw));
  return "status " + std::to_string(raw);
}

} // namespace sluice::daemon
