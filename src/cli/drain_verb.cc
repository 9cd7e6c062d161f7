// `sluice drain SUBSCRIPTION -c FILE [--max N]`: delivers a subscription's backlog once and exits
// (the cron-driven subscriber; see docs/subscriptions.md).

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

#include "cli/verbs.h"
#include "config/config_error.h"
#include "config/pipeline.h"
#include "pipeline/drain.h"
#include "queue/errc.h"

namespace sluice::cli {
namespace {

struct drain_args {
  std::string subscription;
  std::string file;
  std::uint64_t max = 0;
  bool max_given = false;
};

/// "drain NAME: N delivered, F filtered out, D dead-lettered, positions A-B, T s": the cursor
/// went from A to B (the records after A up to B were handled), in T seconds.
std::string summary_line(std::string_view name, const pipeline::drain_report& r) {
  return fmt::format("drain {}: {} delivered, {} filtered out, {} dead-lettered, positions {}-{}, "
                     "{:.3f} s",
                     name, r.delivered, r.filtered, r.dead_lettered, r.from, r.to,
                     std::chrono::duration<double>(r.took).count());
}

/// A progress bar on stderr, redrawn at most ten times a second.
class progress_bar {
public:
  explicit progress_bar(std::string name) : name_(std::move(name)) {}
  void draw(std::uint64_t done, std::uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    constexpr int k_width = 30;
    int filled = total == 0 ? k_width : static_cast<int>(k_width * done / total);
    fmt::print(stderr, "\x1b[Kdrain {} [{:=<{}}{:<{}}] {}/{}\r", name_, "", filled, "",
               k_width - filled, done, total);
    std::fflush(stderr);
    drawn_ = true;
  }
  ~progress_bar() {
    if (drawn_)
      fmt::print(stderr, "\x1b[K");
  }

private:
  std::string name_;
  std::chrono::steady_clock::time_point last_{};
  bool drawn_ = false;
};

std::string signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : fmt::format("signal {}", sig);
}

/// Waits for INT and TERM (blocked in every thread) until the drain ends: the first sets
/// `cancel` (the drain stops after its batch in flight and commits), a second exits at once.
class signal_watch {
public:
  signal_watch(const sigset_t& set, std::atomic<bool>& cancel)
      : thread_([this, set, &cancel] { run(set, cancel); }) {}
  ~signal_watch() {
    finished_.store(true);
    thread_.join();
  }
  int first_signal() const { return first_.load(); }

private:
  void run(sigset_t set, std::atomic<bool>& cancel) {
    constexpr long k_poll_ns = 100'000'000; // how soon the watch notices the drain ended
    while (!finished_.load()) {
      timespec ts{0, k_poll_ns};
      int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig <= 0)
        continue;
      if (first_.load() != 0) {
        // The cursor is committed only after the sink confirmed: leaving now redelivers.
        fmt::print(stderr, "sluice drain: {} again: exiting now\n", signal_name(sig));
        std::fflush(stderr);
        ::_exit(k_exit_failure);
      }
      first_.store(sig);
      fmt::print(stderr, "sluice drain: {}: stopping after the batch in flight\n",
                 signal_name(sig));
      cancel.store(true);
    }
  }

  std::atomic<bool> finished_{false};
  std::atomic<int> first_{0};
  std::thread thread_;
};

int drain(const drain_args& args) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Before any thread starts: every thread inherits the mask, the watch takes the signals.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  config::pipeline_config cfg;
  try {
    cfg = config::load_pipeline_file(args.file);
  } catch (const config::config_exception& e) {
    fmt::print(stderr, "{}; nothing drained\n", config::format_report(e.errors(), e.name()));
    return k_exit_config;
  }

  std::atomic<bool> cancel{false};
  pipeline::drain_options o;
  if (args.max_given)
    o.max = args.max;
  o.cancel = &cancel;
  std::optional<progress_bar> bar;
  if (::isatty(STDERR_FILENO) == 1) {
    bar.emplace(args.subscription);
    o.progress = [&](std::uint64_t done, std::uint64_t total) { bar->draw(done, total); };
  }
  std::string error;
  int sig = 0;
  auto r = [&] {
    signal_watch watch(stop_signals, cancel);
    auto rep = pipeline::drain_subscription(cfg, args.subscription, o, error);
    sig = watch.first_signal();
    return rep;
  }();
  bar.reset();
  if (!r) {
    fmt::print(stderr, "sluice drain: {}\n", error);
    return r.error() == queue::errc::subscription_busy ? k_exit_locked : k_exit_failure;
  }
  fmt::print("{}\n", summary_line(args.subscription, *r));
  std::fflush(stdout);
  if (sig != 0) {
    fmt::print(stderr,
               "sluice drain: stopped by {} at position {}; the rest waits for the next drain\n",
               signal_name(sig), r->to);
    return k_exit_failure;
  }
  return 0;
}

} // namespace

void add_drain_commands(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<drain_args>();
  auto* cmd = root.add_subcommand(
      "drain", "Deliver a subscription's backlog once (what was durable when it began) and exit");
  cmd->add_option("subscription", args->subscription, "The subscription to deliver")->required();
  cmd->add_option("-c,--config", args->file, "Configuration file (TOML)")->required();
  auto* max =
      cmd->add_option("--max", args->max, "Deliver at most N queue records (filtered ones count)");
  cmd->footer("Prints one line on stdout: drain NAME: N delivered, F filtered out, D "
              "dead-lettered, positions A-B, T s (the cursor went from A to B).\n"
              "Exit status: 0 after delivering the backlog; 1 on a failure or when TERM/INT "
              "stopped it (after committing the batch in flight); 78 for an invalid "
              "configuration; 75 when another process holds the subscription (the message "
              "names its pid).");
  cmd->callback([args, max, &exit_code] {
    args->max_given = max->count() > 0;
    exit_code = drain(*args);
  });
}

} // namespace sluice::cli
