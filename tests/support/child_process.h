#pragma once

// The real `sluice` binary (SLUICE_BIN) as a child process of a test. Its stdin and stdout are
// pipes the test holds (or /dev/null and the log); its stderr goes to a log file or to a pipe
// whose bytes the child_process keeps. Every wait is bounded: the child's end is awaited on a
// pidfd, its output with poll() up to a deadline, and a child still running at destruction is
// killed.
//
// A test uses a child_process one of two ways: it polls stdin_fd() and stdout_fd() itself (with
// read_available() and line_splitter), or it lets the child_process move the bytes
// (write_stdin(), read_line(), finish()). run_sluice() does the latter for one whole run.

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <initializer_list>
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

#include <gtest/gtest.h>

extern char** environ;

namespace sluice::testing {

using steady = std::chrono::steady_clock;

/// How long one run_sluice() may take before the test kills sluice and fails.
inline constexpr std::chrono::seconds k_run_timeout{15};

/// Milliseconds left until `deadline`, at least 0, for poll().
inline int ms_until(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

/// The whole content of a (small) file, "" when it cannot be read.
inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// "exit 0", "killed by signal 9", ... of a wait status, for failure messages.
inline std::string describe_status(int raw) {
  if (WIFEXITED(raw))
    return "exit " + std::to_string(WEXITSTATUS(raw));
  if (WIFSIGNALED(raw))
    return "killed by signal " + std::to_string(WTERMSIG(raw));
  return "status " + std::to_string(raw);
}

/// A wait status as a shell reports it: the exit status, or 128 + the signal that ended the child.
inline int exit_code(int raw) {
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
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

/// Where a child_process's stdio goes.
struct child_stdio {
  bool pipe_stdin = true;       ///< otherwise /dev/null
  bool pipe_stdout = true;      ///< otherwise wherever stderr goes
  std::filesystem::path log;    ///< appended stderr; empty: stderr is a pipe, kept in err()
  std::filesystem::path cwd;    ///< the child's working directory; empty: the test's
  std::vector<std::string> env; ///< NAME=VALUE entries added to (or replacing) the test's own
};

/// A running SLUICE_BIN. Not thread-safe; owned by one test.
class child_process {
public:
  /// Starts SLUICE_BIN with `args`. The test's own SIGPIPE stays ignored from then on (a write to
  /// an ended child's stdin must fail with EPIPE, not end the test); the child gets the default
  /// back. Throws std::runtime_error when the child cannot be started.
  explicit child_process(const std::vector<std::string>& args, const child_stdio& io = {}) {
    ::signal(SIGPIPE, SIG_IGN);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (io.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0)
      throw_errno("pipe2");
    if (io.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0)
      throw_errno("pipe2");
    if (io.log.empty() && ::pipe2(err, O_CLOEXEC) != 0)
      throw_errno("pipe2");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (io.pipe_stdin)
      posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    else
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (io.log.empty())
      posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    else
      posix_spawn_file_actions_addopen(&actions, 2, io.log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                       0640);
    if (io.pipe_stdout)
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    else
      posix_spawn_file_actions_adddup2(&actions, 2, 1);
    if (!io.cwd.empty())
      posix_spawn_file_actions_addchdir_np(&actions, io.cwd.c_str());

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
    std::vector<char*> envp;
    std::vector<std::string> extra = io.env;
    for (char** e = environ; *e; ++e) {
      std::string_view entry(*e);
      bool replaced = false;
      for (const auto& x : extra)
        replaced = replaced || entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
      if (!replaced)
        envp.push_back(*e);
    }
    for (auto& e : extra)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : {in[0], out[1], err[1]})
      if (fd >= 0)
        ::close(fd);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    log_ = io.log;
    if (rc != 0) {
      close_fds();
      errno = rc;
      throw_errno("posix_spawn " + argv_strings.front());
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
      ::kill(pid_, SIGKILL);
      reap();
      close_fds();
      throw_errno("pidfd_open");
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0)
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Kills and reaps a child still running.
  ~child_process() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      reap();
    }
    close_fds();
    close_fd(pidfd_);
  }

  pid_t pid() const { return pid_; }
  /// The write end of the child's stdin (non-blocking), -1 when closed or not piped.
  int stdin_fd() const { return in_; }
  /// The read end of the child's stdout (non-blocking), -1 when closed or not piped.
  int stdout_fd() const { return out_; }

  void close_stdin() { close_fd(in_); }
  void close_stdout() { close_fd(out_); }

  /// Sends `signal` to the child.
  void kill(int signal) const { ::kill(pid_, signal); }

  /// Waits up to `timeout` for the child to end and reaps it: its wait status (see WIFEXITED,
  /// describe_status), nothing when it is still running at the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (status_)
      return status_;
    pollfd p{pidfd_, POLLIN, 0};
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
      return std::nullopt;
    return reap();
  }

  /// What the child wrote to its log file so far ("" without one).
  std::string log() const { return file_text(log_); }

  /// Writes `data` to the child's stdin while keeping its stdout and stderr, so neither side
  /// blocks. False (with a test failure at the deadline) when not all of it could be written.
  bool write_stdin(std::string_view data, steady::time_point deadline) {
    while (!data.empty()) {
      if (in_ < 0 || !pump(deadline, true))
        return false;
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n > 0)
        data.remove_prefix(static_cast<std::size_t>(n));
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return false;
    }
    return true;
  }

  /// The next whole line of stdout (without its '\n') not returned before, reading until it
  /// comes; nothing at end of output or at the deadline (with a test failure).
  std::optional<std::string> read_line(steady::time_point deadline) {
    for (;;) {
      if (auto line = out_lines_.next())
        return std::string(*line);
      if (out_ < 0 || !pump(deadline, false))
        return std::nullopt;
    }
  }

  /// Closes stdin, keeps the output to its end and reaps the child: its exit_code(). A child
  /// still running at the deadline is killed and the test fails.
  int finish(steady::time_point deadline) {
    close_stdin();
    while ((out_ >= 0 || err_ >= 0) && pump(deadline, false)) {
    }
    auto raw = wait(std::chrono::milliseconds(ms_until(deadline)));
    if (!raw) {
      ADD_FAILURE() << "sluice did not exit in time; killed";
      kill(SIGKILL);
      raw = reap();
    }
    return raw ? exit_code(*raw) : -1;
  }

  /// What write_stdin(), read_line() and finish() kept of stdout and (piped) stderr so far.
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

private:
  [[noreturn]] static void throw_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
  }

  static void close_fd(int& fd) {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  void close_fds() {
    for (int* fd : {&in_, &out_, &err_})
      close_fd(*fd);
  }

  // Blocks until the child has ended and reaps it: its wait status, nothing when waitpid fails.
  std::optional<int> reap() {
    int raw = 0;
    if (::waitpid(pid_, &raw, 0) == pid_)
      status_ = raw;
    return status_;
  }

  // Waits for output (or, with `want_stdin`, room in stdin) and keeps what came. False at the
  // deadline (with a test failure) or when there is nothing left to wait for.
  bool pump(steady::time_point deadline, bool want_stdin) {
    pollfd fds[3];
    nfds_t n = 0;
    for (int fd : {out_, err_})
      if (fd >= 0)
        fds[n++] = {fd, POLLIN, 0};
    if (want_stdin && in_ >= 0)
      fds[n++] = {in_, POLLOUT, 0};
    if (n == 0)
      return false;
    int ready = ::poll(fds, n, ms_until(deadline));
    if (ready < 0 && errno == EINTR)
      return true;
    if (ready <= 0) {
      ADD_FAILURE() << "timed out waiting for sluice";
      return false;
    }
    if (out_ >= 0) {
      std::string got;
      bool open = read_available(out_, got);
      out_text_ += got;
      out_lines_.buffer() += got;
      if (!open)
        close_stdout();
    }
    if (err_ >= 0 && !read_available(err_, err_text_))
      close_fd(err_);
    return true;
  }

  std::filesystem::path log_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::optional<int> status_; // the wait status, once reaped
  std::string out_text_;
  std::string err_text_;
  line_splitter out_lines_; // stdout not yet returned by read_line()
};

/// What a finished run of sluice left.
struct run_result {
  int status = -1; ///< exit_code(): the exit status, or 128 + the signal that ended it
  std::string out;
  std::string err;
};

/// Runs sluice with `args` and `input` on its stdin to its end, within `timeout`.
inline run_result run_sluice(const std::vector<std::string>& args, std::string_view input = {},
                             std::chrono::seconds timeout = k_run_timeout) {
  auto deadline = steady::now() + timeout;
  child_process c(args);
  c.write_stdin(input, deadline);
  run_result r;
  r.status = c.finish(deadline);
  r.out = c.out();
  r.err = c.err();
  return r;
}

} // namespace sluice::testing
