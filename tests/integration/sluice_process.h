#pragma once

// Runs the real `sluice` binary (SLUICE_BIN) as a child process, for integration tests.

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::integration {

using steady = std::chrono::steady_clock;

/// How long one run of sluice may take before the test kills it and fails.
inline constexpr std::chrono::seconds k_run_timeout{15};

/// What a finished run of sluice left.
struct run_result {
  int status = -1; ///< exit status, or 128 + the signal that ended it
  std::string out;
  std::string err;
};

inline int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

/// A running `sluice` with its stdin, stdout and stderr connected to pipes the test holds. Every
/// wait is bounded by a deadline; a child still running at destruction is killed.
class child {
public:
  /// Starts SLUICE_BIN with `args`. The test process ignores SIGPIPE from then on, so a child
  /// that exits before reading its stdin fails a write instead of killing the test.
  explicit child(const std::vector<std::string>& args) {
    ::signal(SIGPIPE, SIG_IGN);
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    std::vector<std::string> argv_strings{SLUICE_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) { // only async-signal-safe calls until exec
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    ::fcntl(in_, F_SETFL, O_NONBLOCK);
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_, F_SETFL, O_NONBLOCK);
  }

  child(const child&) = delete;
  child& operator=(const child&) = delete;

  ~child() {
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    close_stdin();
    for (int fd : {out_, err_})
      if (fd >= 0)
        ::close(fd);
  }

  pid_t pid() const { return pid_; }

  /// Sends `sig` to the child.
  void send(int sig) const { ::kill(pid_, sig); }

  void close_stdin() {
    if (in_ >= 0)
      ::close(in_);
    in_ = -1;
  }

  /// Writes `data` to the child's stdin while draining its output, so neither side blocks.
  bool write_stdin(std::string_view data, steady::time_point deadline) {
    while (!data.empty()) {
      if (!pump(deadline, true))
        return false;
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n > 0)
        data.remove_prefix(static_cast<std::size_t>(n));
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return false;
    }
    return true;
  }

  /// Reads until stdout holds a complete line beyond what was taken before; returns it.
  std::optional<std::string> read_line(steady::time_point deadline) {
    for (;;) {
      auto nl = out_text_.find('\n', taken_);
      if (nl != std::string::npos) {
        std::string line = out_text_.substr(taken_, nl - taken_);
        taken_ = nl + 1;
        return line;
      }
      if (out_ < 0 || !pump(deadline, false))
        return std::nullopt;
    }
  }

  /// Closes stdin, collects the output and the exit status; kills the child at the deadline.
  int finish(steady::time_point deadline) {
    close_stdin();
    while ((out_ >= 0 || err_ >= 0) && pump(deadline, false)) {
    }
    // Output closed: the child is exiting. Poll for its status in a bounded loop.
    while (status_ < 0) {
      int raw = 0;
      pid_t r = ::waitpid(pid_, &raw, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        break;
      }
      if (remaining_ms(deadline) == 0) {
        ADD_FAILURE() << "sluice did not exit in time; killed";
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        status_ = 128 + SIGKILL;
        break;
      }
      ::poll(nullptr, 0, 5);
    }
    return status_;
  }

  /// What the child wrote to stdout and stderr so far.
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

private:
  // Waits for output (or, with `want_stdin`, room in stdin) and reads what came. False at the
  // deadline or when there is nothing left to wait for.
  bool pump(steady::time_point deadline, bool want_stdin) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_ >= 0)
      fds[n++] = {out_, POLLIN, 0};
    if (err_ >= 0)
      fds[n++] = {err_, POLLIN, 0};
    if (want_stdin && in_ >= 0)
      fds[n++] = {in_, POLLOUT, 0};
    if (n == 0)
      return false;
    int ready = ::poll(fds, n, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR)
      return true;
    if (ready <= 0) {
      ADD_FAILURE() << "timed out waiting for sluice";
      return false;
    }
    drain(out_, out_text_);
    drain(err_, err_text_);
    return true;
  }

  static void drain(int& fd, std::string& into) {
    if (fd < 0)
      return;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fd);
        fd = -1;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return;
    }
  }

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  int status_ = -1;
  std::string out_text_;
  std::string err_text_;
  std::size_t taken_ = 0; // bytes of out_text_ returned by read_line
};

/// Runs sluice with `args` and `input` on its stdin, to its end.
inline run_result run_sluice(const std::vector<std::string>& args, std::string_view input = {}) {
  auto deadline = steady::now() + k_run_timeout;
  child c(args);
  c.write_stdin(input, deadline);
  run_result r;
  r.status = c.finish(deadline);
  r.out = c.out();
  r.err = c.err();
  return r;
}

} // namespace sluice::integration
