// `sluice run [-c FILE]`: a pipeline in the foreground; with no file, the demo.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/overlay.h"
#include "api/service.h"
#include "base/units.h"
#include "cli/demo_config.h"
#include "cli/verbs.h"
#include "config/pipeline.h"
#include "daemon/hooks.h"
#include "daemon/memory.h"
#include "daemon/notify.h"
#include "daemon/state_file.h"
#include "daemon/supervisor.h"
#include "daemon/tasks.h"
#include "firehose/server.h"
#include "pipeline/drain.h"
#include "pipeline/runner.h"
#include "queue/errc.h"

namespace sluice::cli {
namespace {

/// Sent to the main thread when the API has a change for it to run.
const int k_command_signal = SIGRTMIN;

struct run_args {
  std::string file;
  std::uint64_t demo_rate = 1000;
  bool no_status = false;
  // Set by the supervisor of `sluice start` (hidden options).
  std::string id = "run";
  std::string context = "default";
  int ready_fd = -1;        ///< "ready" or "fail STATUS MESSAGE" goes there, once
  std::string log_file;     ///< reopened onto stdout and stderr on USR2
  std::string sources_file; ///< RUN_DIR/ID-CTX.sources.json, for `sluice status`
};

/// Tells the supervisor (if any) how the start went, once.
class ready_reporter {
public:
  explicit ready_reporter(int fd) : fd_(fd) {}
  ~ready_reporter() { close(); }
  void ready() { send("ready"); }
  void fail(int status, const std::string& message) {
    auto one_line = message;
    for (auto& c : one_line)
      if (c == '\n')
        c = ' ';
    send(fmt::format("fail {} {}", status, one_line));
  }

private:
  void send(const std::string& line) {
    if (fd_ < 0)
      return;
    auto l = line + "\n";
    (void)::write(fd_, l.data(), l.size());
    close();
  }
  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }
  int fd_;
};

/// The daemon's periodic tasks run drains through the same code as `sluice drain`.
daemon::task_actions task_actions_for(const config::pipeline_config& cfg,
                                      daemon::hook_runner& hooks) {
  daemon::task_actions a;
  a.drain = [cfg](const config::task_config& t, const std::atomic<bool>& cancel) -> result<int> {
    pipeline::drain_options o;
    o.cancel = &cancel;
    std::string error;
    auto r = pipeline::drain_subscription(cfg, t.subscription, o, error);
    if (!r) {
      spdlog::warn("task {}: drain of {} failed: {}", t.name, t.subscription, error);
      return r.error() == queue::errc::locked ? k_exit_locked : k_exit_failure;
    }
    spdlog::info("task {}: drained {}: {} delivered, {} filtered out", t.name, t.subscription,
                 r->delivered, r->filtered);
    return 0;
  };
  a.done = [&hooks](const config::task_config& t, std::string_view status,
                    std::chrono::milliseconds took) {
    hooks.fire("task_done", {{"SLUICE_TASK", t.name},
                             {"SLUICE_DURATION_MS", std::to_string(took.count())},
                             {"SLUICE_STATUS", std::string(status)}});
  };
  return a;
}

/// The figures of the previous tick, for rates.
struct rate_state {
  std::chrono::steady_clock::time_point at;
  std::vector<std::uint64_t> source_records;
  std::vector<std::uint64_t> sub_done;
};

std::string rate_text(double per_s) {
  if (per_s >= 10000)
    return fmt::format("{:.0f}k/s", per_s / 1000);
  return fmt::format("{:.0f}/s", per_s);
}

// "firehose connected 980/s | queue 12,345 (3.2 MiB) | eventlog 975/s lag 0 | sqlite ..."
std::string status_line(const pipeline::pipeline_status& st, rate_state& prev) {
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - prev.at).count();
  bool have_prev = prev.source_records.size() == st.sources.size() && secs > 0;
  std::string line;
  for (std::size_t i = 0; i < st.sources.size(); ++i) {
    const auto& s = st.sources[i];
    double rate =
        have_prev ? static_cast<double>(s.counts.records - prev.source_records[i]) / secs : 0;
    line += fmt::format("{}{} {} {}", line.empty() ? "" : " | ", s.name, state_name(s.state),
                        rate_text(rate));
  }
  line += fmt::format(" | queue {} events, {}{}", st.durable, format_size(st.disk_bytes),
                      st.queue_failed            ? " FAILED"
                      : st.blocked_appenders > 0 ? " FULL"
                                                 : "");
  for (std::size_t i = 0; i < st.subscriptions.size(); ++i) {
    const auto& s = st.subscriptions[i];
    std::uint64_t done = s.delivered + s.filtered;
    double rate = have_prev && prev.sub_done.size() == st.subscriptions.size()
                      ? static_cast<double>(done - prev.sub_done[i]) / secs
                      : 0;
    line += fmt::format(" | {} {} lag {}{}", s.name, rate_text(rate), s.lag,
                        s.last_error.empty() ? "" : " (failing)");
  }
  prev.at = now;
  prev.source_records.clear();
  for (const auto& s : st.sources)
    prev.source_records.push_back(s.counts.records);
  prev.sub_done.clear();
  for (const auto& s : st.subscriptions)
    prev.sub_done.push_back(s.delivered + s.filtered);
  return line;
}

void print_summary(const pipeline::pipeline_status& st) {
  for (const auto& s : st.sources)
    spdlog::info("source {}: {} events collected, {} set aside", s.name, s.counts.records,
                 s.counts.rejected());
  for (const auto& s : st.subscriptions)
    spdlog::info("subscription {}: {} delivered, {} filtered out, cursor at {}, lag {}", s.name,
                 s.delivered, s.filtered, s.committed, s.lag);
}

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig))
    return fmt::format("SIG{}", abbrev);
  return fmt::format("signal {}", sig);
}

// Waits up to `timeout` for INT or TERM (blocked in every thread); 0 when none came.
int wait_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

// The API holds a descriptor per client and the queue and sinks their files: take the hard
// limit of open files, not the soft default of 1024.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &r);
  }
}

/// The configuration `sluice run` starts with: the file's (or the demo's, with its firehose
/// started) with what the API changed earlier on top.
struct loaded_config {
  config::pipeline_config cfg;
  config::document doc;
  api::overlay changes;
  std::unique_ptr<firehose::server> demo; ///< the demo's firehose; none with a file
};

/// Starts the demo's firehose on a free loopback port and reads the demo pipeline pointed at it.
std::optional<loaded_config> load_demo(const run_args& args) {
  loaded_config l;
  firehose::server_options so;
  so.rate = args.demo_rate;
  l.demo = std::make_unique<firehose::server>(so);
  auto port = l.demo->listen_http("127.0.0.1", 0);
  if (!port) {
    fmt::print(stderr, "sluice run: the demo firehose cannot listen: {}\n", port.error().message());
    return std::nullopt;
  }
  l.demo->start();
  std::string text(k_demo_config);
  auto address = fmt::format("127.0.0.1:{}", *port);
  for (auto at = text.find(k_demo_firehose_address); at != std::string::npos;
       at = text.find(k_demo_firehose_address, at + address.size()))
    text.replace(at, k_demo_firehose_address.size(), address);
  l.doc = config::load_string(text, "demo (examples/nfl.toml)");
  l.cfg = config::read_pipeline(l.doc.root, l.doc.name);
  spdlog::info("demo: a fictional firehose on http://127.0.0.1:{} at {} events/s; the pipeline "
               "of examples/nfl.toml; data in {}",
               *port, args.demo_rate, l.cfg.data_dir.string());
  return l;
}

/// The configuration to start, or the exit status when there is none (reported to the
/// supervisor and on stderr).
std::variant<loaded_config, int> load_config(const run_args& args, ready_reporter& reporter) {
  try {
    loaded_config l;
    if (args.file.empty()) {
      auto demo = load_demo(args);
      if (!demo)
        return k_exit_failure;
      l = std::move(*demo);
    } else {
      l.doc = config::load_file(args.file);
      l.cfg = config::read_pipeline(l.doc.root, l.doc.name);
    }
    std::string overlay_error;
    auto o = api::load_overlay(api::overlay_path(l.cfg.data_dir), overlay_error);
    if (!o) {
      fmt::print(stderr, "sluice run: {}\n", overlay_error);
      reporter.fail(k_exit_failure, overlay_error);
      return k_exit_failure;
    }
    l.changes = std::move(*o);
    std::vector<std::string> dropped;
    l.cfg = api::effective_config(l.doc, l.changes, dropped);
    for (const auto& d : dropped)
      spdlog::warn("api: leaving out {}", d);
    return l;
  } catch (const config::config_exception& e) {
    fmt::print(stderr, "{}; nothing started\n", config::format_report(e.errors(), e.name()));
    reporter.fail(k_exit_config, fmt::format("{}: {} error{} in the configuration", e.name(),
                                             e.errors().size(), e.errors().size() == 1 ? "" : "s"));
    return k_exit_config;
  }
}

/// Opens the queue and starts the pipeline; on failure `status` is the exit status.
std::unique_ptr<pipeline::runner> open_and_start(const config::pipeline_config& c,
                                                 std::string& error, int& status) {
  auto r = pipeline::runner::open(c, error);
  if (!r) {
    status = r.error() == queue::errc::locked ? k_exit_locked : k_exit_failure;
    return nullptr;
  }
  if (auto s = (*r)->start(error); !s) {
    status = k_exit_failure;
    return nullptr;
  }
  return std::move(*r);
}

/// A running `sluice run`: the pipeline, its API, tasks and hooks, and the main thread's loop
/// that takes the signals.
class foreground {
public:
  foreground(const run_args& args, loaded_config l, api::service& service,
             std::unique_ptr<pipeline::runner> run)
      : args_(args), cfg_(std::move(l.cfg)), demo_(std::move(l.demo)), service_(service),
        run_(std::move(run)), hooks_(cfg_.hooks, args.id, args.context, args.log_file),
        states_(args.sources_file), memory_{cfg_.daemon.memory_limit,
                                            cfg_.daemon.memory_threshold} {
    service_.attach(*run_, std::move(l.doc), std::move(l.changes));
    start_tasks();
  }

  /// Announces the start: the state file (before "ready", so that `sluice status` finds the
  /// sources once `sluice start` returned), the supervisor, systemd, the start hook.
  void announce(ready_reporter& reporter, daemon::notifier& notifier) {
    spdlog::info("running: {} source{}, {} subscription{}; queue in {}; TERM or INT stops",
                 cfg_.sources.size(), cfg_.sources.size() == 1 ? "" : "s",
                 cfg_.subscriptions.size(), cfg_.subscriptions.size() == 1 ? "" : "s",
                 run_->queue().location());
    states_.set_api(service_.addresses());
    if (states_.enabled())
      states_.update(run_->status());
    reporter.ready();
    notifier.ready();
    hooks_.fire("start");
  }

  /// Runs until a stop signal (or the memory threshold); returns that signal.
  int loop(const sigset_t& signals, daemon::notifier& notifier) {
    bool show_status = !args_.no_status && ::isatty(STDERR_FILENO) == 1;
    rate_state prev;
    prev.at = std::chrono::steady_clock::now();
    auto tick = std::chrono::milliseconds(1000);
    if (auto w = notifier.watchdog_interval())
      tick = std::min(tick, std::chrono::duration_cast<std::chrono::milliseconds>(*w));
    next_memory_check_ = std::chrono::steady_clock::now() + cfg_.daemon.memory_check_interval;
    int sig = 0;
    for (;;) {
      sig = wait_signal(signals, tick);
      if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT)
        break;
      if (sig == SIGUSR2) {
        if (!args_.log_file.empty() && daemon::reopen_log(args_.log_file))
          spdlog::info("USR2: log reopened");
      } else if (sig == SIGUSR1) {
        spdlog::info("USR1: reconnecting every source");
        run_->reconnect_sources();
      } else if (sig == SIGHUP) {
        notifier.reloading();
        reload();
        notifier.ready();
      }
      if (memory_exceeded()) {
        sig = SIGTERM;
        break;
      }
      service_.tick(); // the API's changes, and a fresh view each second
      if (notifier.watchdog_interval())
        notifier.watchdog();
      if (states_.enabled())
        states_.update(run_->status()); // writes only when a state or an error changed
      if (show_status)
        fmt::print(stderr, "\x1b[K{}\r", status_line(run_->status(), prev));
    }
    if (show_status)
      fmt::print(stderr, "\x1b[K");
    return sig;
  }

  /// Stops everything within the shutdown timeout (at once after QUIT); a second stop signal
  /// exits at once. Returns the exit status.
  int stop(int sig, daemon::notifier& notifier) {
    service_.draining();
    notifier.stopping();
    auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
    if (sig == SIGQUIT) {
      // QUIT: the batches in flight finish, nothing waits for retries or the cap.
      deadline = std::chrono::steady_clock::now();
      spdlog::info("SIGQUIT: stopping after the batches in flight (a second signal exits at once)");
    } else {
      spdlog::info(
          "{}: stopping within {} ms (a second signal exits at once)", signal_name(sig),
          std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.shutdown_timeout).count());
    }
    if (exit_status_ == 0)
      hooks_.fire("stop", {{"SLUICE_STATUS", signal_name(sig)}});
    bool closed_ok = stop_within(deadline);
    service_.stop();
    print_summary(run_->status());
    states_.remove();
    hooks_.wait_idle(std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.hooks.timeout));
    spdlog::info("stopped");
    if (exit_status_ != 0)
      return exit_status_;
    return closed_ok ? 0 : k_exit_failure;
  }

private:
  void start_tasks() {
    tasks_ = std::make_unique<daemon::task_runner>(cfg_.tasks, task_actions_for(cfg_, hooks_),
                                                   daemon::monotonic_clock::real(), args_.log_file);
    tasks_->start();
  }

  /// HUP: rereads the file; an invalid one leaves the running configuration as it is.
  void reload() {
    if (args_.file.empty()) {
      spdlog::warn("HUP: the demo has no configuration file to reread");
      return;
    }
    try {
      std::string why;
      auto changed = service_.control()->reload(config::load_file(args_.file), why);
      if (!changed) {
        spdlog::warn("HUP: {}; the previous configuration keeps running", why);
        return;
      }
      spdlog::info("HUP: {}", why);
      const auto& next = run_->config();
      bool tasks_changed = !(next.tasks == cfg_.tasks);
      if (tasks_changed)
        tasks_->stop(std::chrono::steady_clock::now() + next.shutdown_timeout);
      cfg_ = next;
      if (tasks_changed)
        start_tasks();
      memory_ = daemon::memory_check{cfg_.daemon.memory_limit, cfg_.daemon.memory_threshold};
    } catch (const config::config_exception& e) {
      auto text = config::format_errors(e.errors(), e.name());
      spdlog::warn("HUP: {} is invalid, the previous configuration keeps running:\n{}", args_.file,
                   text);
    }
  }

  /// Past memory_threshold of memory_limit: stop, with the status that has it started again.
  bool memory_exceeded() {
    auto now = std::chrono::steady_clock::now();
    if (memory_.limit == 0 || now < next_memory_check_)
      return false;
    next_memory_check_ = now + cfg_.daemon.memory_check_interval;
    auto rss = daemon::resident_bytes();
    if (!memory_.exceeded(rss))
      return false;
    spdlog::warn("resident memory {} is above {}% of memory_limit {}: stopping to be started "
                 "again",
                 format_size(rss), memory_.threshold_percent, format_size(memory_.limit));
    exit_status_ = daemon::k_exit_restart;
    return true;
  }

  /// Stops the tasks, the pipeline and the demo on a thread while this one waits for a second
  /// stop signal. Returns whether the pipeline closed cleanly.
  bool stop_within(std::chrono::steady_clock::time_point deadline) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int s : {SIGINT, SIGTERM, SIGQUIT})
      sigaddset(&stop_signals, s);
    std::atomic<bool> done{false};
    bool closed_ok = true;
    std::thread stopper([&] {
      tasks_->stop(deadline);
      closed_ok = run_->stop(deadline).has_value();
      if (demo_)
        demo_->stop();
      done.store(true);
    });
    while (!done.load()) {
      int again = wait_signal(stop_signals, std::chrono::milliseconds(50));
      if (again != 0) {
        // Cursors are committed only after their sink confirmed, and the queue recovers its
        // tail: leaving now redelivers, it never loses what was acknowledged.
        fmt::print(stderr, "sluice run: {} again: exiting now\n", signal_name(again));
        std::fflush(stderr);
        ::_exit(k_exit_failure);
      }
    }
    stopper.join();
    return closed_ok;
  }

  const run_args& args_;
  config::pipeline_config cfg_;
  std::unique_ptr<firehose::server> demo_;
  api::service& service_;
  std::unique_ptr<pipeline::runner> run_;
  // Under `sluice start`, what hooks and exec tasks print goes to the daemon's log.
  daemon::hook_runner hooks_;
  std::unique_ptr<daemon::task_runner> tasks_;
  daemon::source_state_file states_;
  daemon::memory_check memory_;
  std::chrono::steady_clock::time_point next_memory_check_;
  int exit_status_ = 0;
};

int run_pipeline(const run_args& args) {
  raise_open_files_limit();
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, k_command_signal})
    sigaddset(&signals, sig);
  // Before any thread starts: every thread inherits the mask, and this one takes the signals.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ready_reporter reporter(args.ready_fd);
  auto notifier = daemon::notifier::from_env();

  auto loaded = load_config(args, reporter);
  if (auto* status = std::get_if<int>(&loaded))
    return *status;
  auto& l = std::get<loaded_config>(loaded);
  std::string error;
  // The API answers (/readyz: starting) while the pipeline opens.
  auto main_thread = pthread_self();
  auto service = api::service::start(
      l.cfg, [main_thread] { pthread_kill(main_thread, k_command_signal); }, error);
  if (!service) {
    fmt::print(stderr, "sluice run: {}\n", error);
    reporter.fail(k_exit_failure, error);
    return k_exit_failure;
  }
  int status = 0;
  auto run = open_and_start(l.cfg, error, status);
  if (!run) {
    fmt::print(stderr, "sluice run: {}\n", error);
    reporter.fail(status, error);
    return status;
  }
  foreground fg(args, std::move(l), **service, std::move(run));
  fg.announce(reporter, notifier);
  int sig = fg.loop(signals, notifier);
  return fg.stop(sig, notifier);
}

} // namespace

void add_run_commands(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<run_args>();
  auto* cmd = root.add_subcommand(
      "run", "Run a pipeline in the foreground (with no -c: the demo of examples/nfl.toml)");
  cmd->add_option("-c,--config", args->file, "Configuration file (TOML); none: the demo");
  cmd->add_option("--demo-rate", args->demo_rate,
                  "Events per second of the demo's firehose (0: as fast as possible)")
      ->capture_default_str();
  cmd->add_flag("--no-status", args->no_status, "No status line on a terminal");
  // For the supervisor of `sluice start`; not for people.
  cmd->add_option("--id", args->id)->group("");
  cmd->add_option("--context", args->context)->group("");
  cmd->add_option("--ready-fd", args->ready_fd)->group("");
  cmd->add_option("--log-file", args->log_file)->group("");
  cmd->add_option("--sources-file", args->sources_file)->group("");
  cmd->footer("Exit status: 0 after a clean stop; 1 on a failure; 78 for an invalid configuration; "
              "75 when another process holds the queue; 76 when it stopped itself past its "
              "memory threshold (to be started again).");
  cmd->callback([args, &exit_code] { exit_code = run_pipeline(*args); });
}

} // namespace sluice::cli
