#pragma once

// The real `sluice` binary as a child process of a fault test: stdin and stdout are pipes held
// by the test (or /dev/null and a log file), stderr always goes to the log file so the child never
// blocks on it. Waiting for the child uses a pidfd, so every wait is bounded without polling.

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace sluice::testing {

/// Milliseconds left until `deadline`, at least 0, for poll().
inline int ms_until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

/// The whole content of a (small) file, "" when it cannot be read.
inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class child_process {
public:
  struct stdio {
    bool pipe_stdin = false;   ///< otherwise /dev/null
    bool pipe_stdout = false;  ///< otherwise appended to `log`
    std::filesystem::path log; ///< receives stderr (and stdout when not piped)
  };

  /// Starts SLUICE_BIN with `args`. The test's own SIGPIPE stays ignored (a write to a killed
  /// child's stdin must fail with EPIPE, not end the test); the child gets the default back.
  child_process(const std::vector<std::string>& args, const stdio& io) : log_(io.log) {
    ::signal(SIGPIPE, SIG_IGN);
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (io.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0)
      throw_errno("pipe2");
    if (io.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0)
      throw_errno("pipe2");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (io.pipe_stdin)
      posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    else
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0640);
    if (io.pipe_stdout)
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    else
      posix_spawn_file_actions_adddup2(&actions, 2, 1);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_strings{SLUICE_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : {in[0], out[1]})
      if (fd >= 0)
        ::close(fd);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0) {
      close_stdin();
      close_stdout();
      errno = rc;
      throw_errno("posix_spawn " + argv_strings.front());
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0)
      throw_errno("pidfd_open");
    for (int fd : {in_, out_})
      if (fd >= 0)
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Kills and reaps a child still running.
  ~child_process() {
    if (status_ < 0) {
      ::kill(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
    }
    close_stdin();
    close_stdout();
    if (pidfd_ >= 0)
      ::close(pidfd_);
  }

  pid_t pid() const { return pid_; }
  /// The write end of the child's stdin (non-blocking), -1 when closed or not piped.
  int stdin_fd() const { return in_; }
  /// The read end of the child's stdout (non-blocking), -1 when closed or not piped.
  int stdout_fd() const { return out_; }

  void close_stdin() {
    if (in_ >= 0)
      ::close(in_);
    in_ = -1;
  }
  void close_stdout() {
    if (out_ >= 0)
      ::close(out_);
    out_ = -1;
  }

  void kill(int signal) const { ::kill(pid_, signal); }

  /// Waits up to `timeout` for the child to end and reaps it: its wait status (see WIFEXITED),
  /// nothing when it is still running at the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (status_ >= 0)
      return status_;
    pollfd p{pidfd_, POLLIN, 0};
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
      return std::nullopt;
    int raw = 0;
    if (::waitpid(pid_, &raw, 0) != pid_)
      return std::nullopt;
    status_ = raw;
    return status_;
  }

  /// What the child wrote to its log so far.
  std::string log() const { return file_text(log_); }

private:
  [[noreturn]] static void throw_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
  }

  std::filesystem::path log_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int in_ = -1, out_ = -1;
  int status_ = -1;
};

/// "exit 0", "killed by signal 9", ... for failure messages.
inline std::string describe_status(int raw) {
  if (WIFEXITED(raw))
    return "exit " + std::to_string(WEXITSTATUS(raw));
  if (WIFSIGNALED(raw))
    return "killed by signal " + std::to_string(WTERMSIG(raw));
  return "status " + std::to_string(raw);
}

/// Reads what a non-blocking fd holds now into `into`. False at end of file or on an error
/// other than EAGAIN (the caller closes the fd then).
inline bool read_available(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 && errno == EAGAIN;
  }
}

/// Splits a byte stream into lines: feed bytes, take whole lines; a partial last line waits.
class line_splitter {
public:
  std::string& buffer() { return buf_; }

  /// The next whole line (without its '\n'), or nothing until more bytes come. The view stays
  /// valid until the buffer changes.
  std::optional<std::string_view> next() {
    auto nl = buf_.find('\n', taken_);
    if (nl == std::string::npos) {
      buf_.erase(0, taken_);
      taken_ = 0;
      return std::nullopt;
    }
    std::string_view line(buf_.data() + taken_, nl - taken_);
    taken_ = nl + 1;
    return line;
  }

  /// Bytes received after the last whole line.
  std::size_t partial_bytes() const { return buf_.size() - taken_; }

private:
  std::string buf_;
  std::size_t taken_ = 0;
};

} // namespace sluice::testing
