// `sluice run [-c FILE]`: a pipeline in the foreground; with no file, the demo.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/units.h"
#include "cli/demo_config.h"
#include "cli/verbs.h"
#include "config/pipeline.h"
#include "firehose/server.h"
#include "pipeline/runner.h"
#include "queue/errc.h"

namespace sluice::cli {
namespace {

struct run_args {
  std::string file;
  std::uint64_t demo_rate = 1000;
  bool no_status = false;
};

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
    double rate = have_prev ? static_cast<double>(s.records - prev.source_records[i]) / secs : 0;
    line += fmt::format("{}{} {} {}", line.empty() ? "" : " | ", s.name, state_name(s.state),
                        rate_text(rate));
  }
  line += fmt::format(" | queue {} events, {}{}", st.durable, format_size(st.disk_bytes),
                      st.blocked_appenders > 0 ? " FULL" : "");
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
    prev.source_records.push_back(s.records);
  prev.sub_done.clear();
  for (const auto& s : st.subscriptions)
    prev.sub_done.push_back(s.delivered + s.filtered);
  return line;
}

void print_summary(const pipeline::pipeline_status& st) {
  for (const auto& s : st.sources)
    spdlog::info("source {}: {} events collected, {} set aside", s.name, s.records, s.rejected);
  for (const auto& s : st.subscriptions)
    spdlog::info("subscription {}: {} delivered, {} filtered out, cursor at {}, lag {}", s.name,
                 s.delivered, s.filtered, s.committed, s.lag);
}

std::string signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : fmt::format("signal {}", sig);
}

// Waits up to `timeout` for INT or TERM (blocked in every thread); 0 when none came.
int wait_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

int run_pipeline(const run_args& args) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Before any thread starts: every thread inherits the mask, and this one takes the signals.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<firehose::server> demo;
  config::pipeline_config cfg;
  try {
    if (args.file.empty()) {
      firehose::server_options so;
      so.rate = args.demo_rate;
      demo = std::make_unique<firehose::server>(so);
      auto port = demo->listen_http("127.0.0.1", 0);
      if (!port) {
        fmt::print(stderr, "sluice run: the demo firehose cannot listen: {}\n",
                   port.error().message());
        return k_exit_failure;
      }
      demo->start();
      std::string text(k_demo_config);
      auto address = fmt::format("127.0.0.1:{}", *port);
      for (auto at = text.find(k_demo_firehose_address); at != std::string::npos;
           at = text.find(k_demo_firehose_address, at + address.size()))
        text.replace(at, k_demo_firehose_address.size(), address);
      cfg = config::load_pipeline_string(text, "demo (examples/nfl.toml)");
      spdlog::info("demo: a fictional firehose on http://127.0.0.1:{} at {} events/s; the "
                   "pipeline of examples/nfl.toml; data in {}",
                   *port, args.demo_rate, cfg.data_dir.string());
    } else {
      cfg = config::load_pipeline_file(args.file);
    }
  } catch (const config::config_exception& e) {
    auto text = config::format_errors(e.errors(), e.name());
    if (!text.empty() && text.back() != '\n')
      text += '\n';
    fmt::print(stderr, "{}{}: {} error{}; nothing started\n", text, e.name(), e.errors().size(),
               e.errors().size() == 1 ? "" : "s");
    return k_exit_config;
  }

  std::string error;
  auto r = pipeline::runner::open(cfg, error);
  if (!r) {
    fmt::print(stderr, "sluice run: {}\n", error);
    return r.error() == queue::errc::locked ? k_exit_locked : k_exit_failure;
  }
  auto& run = **r;
  if (auto s = run.start(error); !s) {
    fmt::print(stderr, "sluice run: {}\n", error);
    return k_exit_failure;
  }
  spdlog::info("running: {} source{}, {} subscription{}; queue in {}; TERM or INT stops",
               cfg.sources.size(), cfg.sources.size() == 1 ? "" : "s", cfg.subscriptions.size(),
               cfg.subscriptions.size() == 1 ? "" : "s", (cfg.data_dir / "queue").string());

  bool show_status = !args.no_status && ::isatty(STDERR_FILENO) == 1;
  rate_state prev;
  prev.at = std::chrono::steady_clock::now();
  int sig = 0;
  while ((sig = wait_signal(stop_signals, std::chrono::milliseconds(1000))) == 0) {
    if (show_status)
      fmt::print(stderr, "\x1b[K{}\r", status_line(run.status(), prev));
  }
  if (show_status)
    fmt::print(stderr, "\x1b[K");
  spdlog::info("{}: stopping within {} ms (a second signal exits at once)", signal_name(sig),
               std::chrono::duration_cast<std::chrono::milliseconds>(cfg.shutdown_timeout).count());

  auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_timeout;
  std::atomic<bool> done{false};
  bool closed_ok = true;
  std::thread stopper([&] {
    closed_ok = run.stop(deadline).has_value();
    if (demo)
      demo->stop();
    done.store(true);
  });
  while (!done.load()) {
    int again = wait_signal(stop_signals, std::chrono::milliseconds(50));
    if (again != 0) {
      // Cursors are committed only after their sink confirmed, and the queue recovers its tail:
      // leaving now redelivers, it never loses what was acknowledged.
      fmt::print(stderr, "sluice run: {} again: exiting now\n", signal_name(again));
      std::fflush(stderr);
      ::_exit(k_exit_failure);
    }
  }
  stopper.join();
  print_summary(run.status());
  spdlog::info("stopped");
  return closed_ok ? 0 : k_exit_failure;
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
  cmd->footer("Exit status: 0 after a clean stop; 1 on a failure; 78 for an invalid configuration; "
              "75 when another process holds the queue.");
  cmd->callback([args, &exit_code] { exit_code = run_pipeline(*args); });
}

} // namespace sluice::cli
