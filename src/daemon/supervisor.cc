#include "daemon/supervisor.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <pwd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/json_string.h"
#include "base/log.h"
#include "daemon/hooks.h"
#include "daemon/process.h"
#include "base/file.h"

namespace sluice::daemon {
namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr)
    return pw->pw_dir;
  return {};
}

void write_line(int fd, const std::string& line) {
  if (fd < 0)
    return;
  std::string l = line + "\n";
  (void)write_all(fd, l.data(), l.size());
}

struct child_proc {
  pid_t pid = -1;
  int ready_fd = -1; ///< read end of the child's readiness pipe; -1 once read to the end
  steady::time_point started;
  bool ready = false;
};

/// Forks and execs `sluice run` for the pipeline, its readiness on fd 3.
std::optional<child_proc> spawn_pipeline(const supervisor_options& o) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return std::nullopt;
  std::vector<std::string> args = {"sluice",
                                   "run",
                                   "-c",
                                   o.paths.config_file.string(),
                                   "--no-status",
                                   "--id",
                                   o.paths.id,
                                   "--context",
                                   o.paths.context,
                                   "--ready-fd",
                                   "3",
                                   "--log-file",
                                   o.paths.log_file().string(),
                                   "--sources-file",
                                   o.paths.sources_file().string()};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string exe = o.exe.string();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (p[1] == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(p[1], 3);
    }
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  return child_proc{pid, p[0], steady::now(), false};
}

/// Reads what the child wrote on its readiness pipe; the line when complete.
std::optional<std::string> read_ready(child_proc& c, std::string& buf) {
  char tmp[512];
  ssize_t n = ::read(c.ready_fd, tmp, sizeof tmp);
  if (n <= 0) {
    ::close(c.ready_fd);
    c.ready_fd = -1;
    return std::nullopt;
  }
  buf.append(tmp, static_cast<std::size_t>(n));
  auto nl = buf.find('\n');
  if (nl == std::string::npos)
    return std::nullopt;
  std::string line = buf.substr(0, nl);
  buf.erase(0, nl + 1);
  return line;
}

std::string seconds_text(std::chrono::nanoseconds d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0)
    return fmt::format("{}s", ms / 1000);
  return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
}

/// The info file beside the pid file (for `sluice status` and tests): who runs, since when,
/// with which configuration, and the pipeline's pid now.
void write_info(const supervisor_options& o, pid_t child) {
  auto started = o.started_at.time_since_epoch();
  std::string text = fmt::format("{{\"pid\":{},\"child\":{},\"id\":", ::getpid(), child);
  append_json_string(text, o.paths.id);
  text += ",\"context\":";
  append_json_string(text, o.paths.context);
  text += ",\"config\":";
  append_json_string(text, o.paths.config_file.string());
  text += ",\"log\":";
  append_json_string(text, o.paths.log_file().string());
  text += fmt::format(",\"started_at\":{}}}\n",
                      std::chrono::duration_cast<std::chrono::seconds>(started).count());
  auto tmp = o.paths.info_file().string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (ok)
    ::rename(tmp.c_str(), o.paths.info_file().c_str());
}

} // namespace

bool reopen_log(const fs::path& log) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    spdlog::warn("cannot reopen the log {}: {}", log.string(), std::strerror(errno));
    return false;
  }
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  return true;
}

fs::path default_conf_dir() {
  if (::geteuid() == 0)
    return "/etc/sluice";
  auto home = home_dir();
  return home.empty() ? fs::path("/etc/sluice") : fs::path(home) / ".config" / "sluice";
}

fs::path default_run_dir() {
  if (::geteuid() == 0)
    return "/run/sluice";
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0')
    return fs::path(x) / "sluice";
  return fs::path(fmt::format("/tmp/sluice-{}", ::getuid()));
}

fs::path default_log_dir() {
  if (::geteuid() == 0)
    return "/var/log/sluice";
  auto home = home_dir();
  if (home.empty())
    return fs::path(fmt::format("/tmp/sluice-{}", ::getuid())) / "log";
  return fs::path(home) / ".local" / "state" / "sluice";
}

void common_log_line(const fs::path& path, std::string_view instance, std::string_view event,
                     int pid, std::string_view detail) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  auto line =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {} pid={}{}{}\n", t.tm_year + 1900,
                  t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000,
                  instance, event, pid, detail.empty() ? "" : " ", detail);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    SLUICE_WARN_LIMITED("cannot write to the common log {}: {}", path.string(),
                        std::strerror(errno));
  if (fd >= 0)
    ::close(fd);
  spdlog::info("{} {} pid={}{}{}", instance, event, pid, detail.empty() ? "" : " ", detail);
}

std::chrono::nanoseconds restart_delay(const config::daemon_config& d, unsigned crashes_in_row) {
  auto delay = d.restart_min;
  for (unsigned i = 1; i < crashes_in_row && delay < d.restart_max; ++i)
    delay *= 2;
  return std::min(delay, d.restart_max);
}

namespace {

/// One `sluice start`'s supervisor: starts the pipeline, passes signals on, restarts it after a
/// crash with back-off, and reports the first start's outcome on start_fd.
class supervisor {
public:
  supervisor(const supervisor_options& o, int signal_fd)
      : o_(o), instance_(o.paths.instance()), self_(static_cast<int>(::getpid())),
        start_fd_(o.start_fd), sfd_(signal_fd),
        hooks_(o.hooks, o.paths.id, o.paths.context, o.paths.log_file()) {}

  int run() {
    common_log_line(o_.paths.common_log, instance_, "start", self_,
                    fmt::format("config={}", o_.paths.config_file.string()));
    for (;;) {
      if (!child_ && respawn_ && steady::now() >= respawn_at_ && !stopping_ && !spawn())
        break;
      if (!child_ && (stopping_ || !respawn_))
        break;
      if (!wait_and_take_input())
        break;
      if (child_ && !reap())
        break;
    }
    return finish();
  }

private:
  /// Starts the pipeline; false (with exit_status_ set) when it cannot be.
  bool spawn() {
    respawn_ = false;
    child_ = spawn_pipeline(o_);
    ready_buf_.clear();
    if (!child_) {
      spdlog::error("cannot start the pipeline: {}", std::strerror(errno));
      report_start(fmt::format("fail {} cannot start the pipeline: {}", k_exit_failure,
                               std::strerror(errno)));
      exit_status_ = k_exit_failure;
      return false;
    }
    write_info(o_, child_->pid);
    if (!first_)
      common_log_line(o_.paths.common_log, instance_, "restart", self_,
                      fmt::format("child={}", child_->pid));
    return true;
  }

  /// Waits (at most a second, or until the restart is due) for a signal or the child's
  /// readiness line, and takes them. False when poll fails.
  bool wait_and_take_input() {
    pollfd fds[2] = {{sfd_, POLLIN, 0}, {child_ ? child_->ready_fd : -1, POLLIN, 0}};
    int timeout_ms = 1000;
    if (!child_ && respawn_) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(respawn_at_ - steady::now());
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1000));
    }
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR)
      return false;
    if (child_ && child_->ready_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      if (auto line = read_ready(*child_, ready_buf_))
        take_ready_line(*line);
    }
    if ((fds[0].revents & POLLIN) != 0)
      take_signals();
    return true;
  }

  /// TERM, INT, QUIT stop (and go to the child); USR2 reopens the log; every signal but CHLD
  /// is passed on to the child.
  void take_signals() {
    signalfd_siginfo si{};
    while (::read(sfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGCHLD)
        continue; // reaped in reap()
      if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
        if (!stopping_)
          spdlog::info("{}: stopping the pipeline", strsignal(sig));
        stopping_ = true;
        stop_signal_ = sig;
        respawn_ = false;
      }
      if (sig == SIGUSR2)
        reopen_log(o_.paths.log_file());
      if (child_)
        ::kill(child_->pid, sig);
    }
  }

  /// "ready" from the pipeline, or "fail STATUS MESSAGE" before it exits with that status; the
  /// first start's outcome goes to `sluice start`.
  void take_ready_line(const std::string& line) {
    if (line == "ready") {
      child_->ready = true;
      if (first_)
        report_start(fmt::format("ready {}", self_));
      first_ = false;
    } else if (line.starts_with("fail ") && first_) {
      report_start(line);
    }
  }

  /// When the child has exited, decides what follows; false when the supervisor stops.
  bool reap() {
    int raw = 0;
    if (::waitpid(child_->pid, &raw, WNOHANG) != child_->pid)
      return true;
    if (child_->ready_fd >= 0) {
      // What the child wrote before it died.
      while (auto line = read_ready(*child_, ready_buf_))
        take_ready_line(*line);
    }
    auto ran = steady::now() - child_->started;
    bool was_ready = child_->ready;
    child_.reset();
    if (stopping_) {
      exit_status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : k_exit_failure;
      return false;
    }
    return after_exit(raw, ran, was_ready);
  }

  /// An exit nobody asked for: a configuration or lock failure and a first start that never
  /// came up are final; a requested restart is at once; a crash restarts after a back-off.
  bool after_exit(int raw, steady::duration ran, bool was_ready) {
    std::string status = describe_status(raw);
    int code = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    if (code == k_exit_config || code == k_exit_locked) {
      common_log_line(o_.paths.common_log, instance_, "fatal", self_,
                      fmt::format("status=\"{}\" (not restarted)", status));
      report_start(fmt::format("fail {} the pipeline exited with {}", code, status));
      exit_status_ = code;
      return false;
    }
    if (!was_ready && first_) {
      // A pipeline that never came up: `sluice start` reports it, nothing restarts.
      report_start(fmt::format("fail {} the pipeline exited with {} before it was ready",
                               code > 0 ? code : k_exit_failure, status));
      exit_status_ = code > 0 ? code : k_exit_failure;
      return false;
    }
    respawn_ = true;
    if (code == k_exit_restart) {
      crashes_in_row_ = 0;
      respawn_at_ = steady::now();
      common_log_line(o_.paths.common_log, instance_, "exit", self_,
                      fmt::format("status=\"{}\" reason=restart-requested", status));
      return true;
    }
    if (ran >= o_.daemon.healthy_after)
      crashes_in_row_ = 0;
    ++crashes_in_row_;
    auto delay = restart_delay(o_.daemon, crashes_in_row_);
    common_log_line(o_.paths.common_log, instance_, "crash", self_,
                    fmt::format("status=\"{}\" restart_in={}", status, seconds_text(delay)));
    hooks_.fire("crash", {{"SLUICE_STATUS", status}});
    respawn_at_ = steady::now() + delay;
    return true;
  }

  int finish() {
    if (child_) {
      // Leaving with a child still running (poll failed): stop it.
      ::kill(child_->pid, SIGTERM);
      int raw = 0;
      ::waitpid(child_->pid, &raw, 0);
    }
    report_start(fmt::format("fail {} the supervisor stopped before the pipeline was ready",
                             exit_status_ != 0 ? exit_status_ : k_exit_failure));
    common_log_line(o_.paths.common_log, instance_, "stop", self_,
                    stop_signal_ != 0 ? fmt::format("signal={}", sigabbrev_np(stop_signal_))
                                      : fmt::format("status={}", exit_status_));
    hooks_.wait_idle(std::chrono::duration_cast<std::chrono::milliseconds>(o_.hooks.timeout));
    return stopping_ ? 0 : exit_status_;
  }

  void report_start(const std::string& line) {
    if (start_fd_ >= 0) {
      write_line(start_fd_, line);
      ::close(start_fd_);
      start_fd_ = -1;
    }
  }

  const supervisor_options& o_;
  const std::string instance_;
  const int self_;
  int start_fd_;
  int sfd_;
  hook_runner hooks_;
  std::optional<child_proc> child_;
  std::string ready_buf_;
  bool stopping_ = false;
  int stop_signal_ = 0;
  unsigned crashes_in_row_ = 0;
  bool respawn_ = true; // a pipeline is to be started at respawn_at_
  steady::time_point respawn_at_ = steady::now();
  int exit_status_ = 0;
  bool first_ = true;
};

} // namespace

int run_supervisor(const supervisor_options& o) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    write_line(o.start_fd,
               fmt::format("fail {} signalfd: {}", k_exit_failure, std::strerror(errno)));
    return k_exit_failure;
  }
  int status = supervisor(o, sfd).run();
  ::close(sfd);
  return status;
}

} // namespace sluice::daemon
