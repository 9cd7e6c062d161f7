// `sluice queue ...`: the command lines of append, tail, stats, verify and repair, and what the
// verbs share.

#include "cli/queue_verbs.h"

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <signal.h>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/units.h"
#include "cli/cli11.h"
#include "cli/verbs.h"
#include "queue/disk/disk_queue.h"

namespace sluice::cli {
namespace {

namespace disk = queue::disk;

std::atomic<bool> stop_flag{false};

extern "C" void on_stop_signal(int /*signal*/) {
  stop_flag.store(true);
}

} // namespace

// No SA_RESTART: a blocking call in the thread that takes the signal returns EINTR; the verbs also
// wait in slices, since the signal may go to one of the queue's threads instead.
void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() noexcept {
  return stop_flag.load();
}

int fail_with(std::string_view what, std::string_view message) {
  fmt::print(stderr, "sluice: {}: {}\n", what, message);
  return 1;
}

int fail_with(std::string_view what, std::error_code ec, std::string_view detail) {
  return fail_with(what, detail.empty() ? ec.message() : std::string(detail));
}

std::string lock_detail(const std::string& dir, std::string detail) {
  if (!detail.empty())
    return detail;
  if (auto info = disk::inspect(dir); info && info->writer_pid != 0)
    return fmt::format("held by pid {}", info->writer_pid);
  return detail;
}

bool is_shared_location(const std::string& location) {
  return location.starts_with("redis://") || location.starts_with("redis-sentinel://");
}

bool queue_exists(const std::string& dir) {
  if (is_shared_location(dir))
    return true; // a server: opening it says whether it is there
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec);
}

int no_queue(std::string_view verb, const std::string& dir) {
  return fail_with(fmt::format("queue {}", verb), fmt::format("no queue at {}", dir));
}

namespace {

// Validators that reject bad values at parse time, so they are usage errors (exit 2).
CLI::Validator fsync_validator() {
  return {[](std::string& text) -> std::string {
            return config::fsync_setting::parse(text) ? "" : "expected always, never or a duration";
          },
          "", "fsync"};
}

CLI::Validator size_validator() {
  return {[](std::string& text) -> std::string {
            auto size = parse_size(text);
            return size && *size > 0 ? "" : "expected a size such as 64MiB";
          },
          "", "size"};
}

CLI::Validator start_validator() {
  return {[](std::string& text) -> std::string {
            return queue::start_at::parse(text) ? "" : "expected beginning, end or a position";
          },
          "", "start"};
}

void add_append(CLI::App& queue_cmd, int& exit_code) {
  auto args = std::make_shared<append_args>();
  auto* cmd = queue_cmd.add_subcommand(
      "append", "Append each line of stdin as one record (trailing \\n and \\r removed)");
  cmd->add_option("DIR", args->dir, "Queue directory (created if missing)")
      ->required()
      ->type_name("");
  cmd->add_option("--fsync", args->fsync,
                  "When records become durable: 'always' (before each append returns), 'never' "
                  "(left to the OS), or an interval such as 10ms (the default)")
      ->check(fsync_validator())
      ->capture_default_str()
      ->type_name("always|never|DURATION");
  cmd->add_option("--segment-bytes", args->segment_bytes,
                  "Size at which a segment file is closed and the next begun (default 64MiB)")
      ->check(size_validator())
      ->type_name("SIZE");
  cmd->add_flag("--json", args->json,
                "Print {\"appended\",\"first\",\"last\",\"dropped\"} on stdout at the end");
  cmd->add_flag("--ack", args->ack,
                "After each append call, once its records are durable, print 'ack LAST_POSITION' "
                "on stdout");
  cmd->callback([args, &exit_code] { exit_code = run_append(*args); });
}

void add_tail(CLI::App& queue_cmd, int& exit_code) {
  auto args = std::make_shared<tail_args>();
  auto* cmd = queue_cmd.add_subcommand(
      "tail", "Print records' payloads, one per line, from a queue another process may be writing");
  cmd->add_option("DIR", args->dir, "Queue directory")->required()->type_name("");
  cmd->add_option("--from", args->from,
                  "Where to start: beginning, end or a position (with --subscription: only when "
                  "it has no cursor yet)")
      ->check(start_validator())
      ->capture_default_str()
      ->type_name("beginning|end|POSITION");
  cmd->add_flag("--follow,-f", args->follow,
                "Wait for new records (and for the queue, if DIR has none yet) until --count "
                "were printed or SIGINT/SIGTERM");
  cmd->add_option("--subscription", args->subscription,
                  "Read as this subscription: resume at its cursor and commit each batch once "
                  "printed")
      ->type_name("NAME");
  cmd->add_option("--count,-n", args->count, "Stop after N records")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  cmd->add_flag("--json", args->json,
                "Print each record as {\"pos\":P,\"time_ns\":T,\"payload\":\"...\"}");
  cmd->add_option("--wait-ms", args->wait_ms,
                  "Without --follow: how long to wait for a record before stopping (default 0)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("MS");
  cmd->callback([args, &exit_code] { exit_code = run_tail(*args); });
}

void add_inspection(CLI::App& queue_cmd, int& exit_code, const char* name, const char* help,
                    int (*verb)(const std::string&, bool)) {
  struct inspection_args {
    std::string dir;
    bool json = false;
  };
  auto args = std::make_shared<inspection_args>();
  auto* cmd = queue_cmd.add_subcommand(name, help);
  cmd->add_option("DIR", args->dir, "Queue directory")->required()->type_name("");
  cmd->add_flag("--json", args->json, "Print one JSON object on stdout");
  cmd->callback([args, &exit_code, verb] { exit_code = verb(args->dir, args->json); });
}

} // namespace

void add_queue_commands(CLI::App& root, int& exit_code) {
  auto* queue_cmd = root.add_subcommand(
      "queue", "Work on a disk queue directly: append, tail, stats, verify, repair");
  add_append(*queue_cmd, exit_code);
  add_tail(*queue_cmd, exit_code);
  add_inspection(*queue_cmd, exit_code, "stats",
                 "Show segments, positions, the writer and each subscription's cursor and lag",
                 run_stats);
  add_inspection(*queue_cmd, exit_code, "verify",
                 "Check every record; exit 0 when clean, 1 when damage was found", run_verify);
  add_inspection(*queue_cmd, exit_code, "repair",
                 "Truncate torn tails and move damaged ranges to DIR/quarantine/ (needs the "
                 "append lock)",
                 run_repair);
}

} // namespace sluice::cli
