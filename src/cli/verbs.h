#pragma once

#include "cli/cli11.h"

namespace sluice::cli {

/// Each verb group adds its subcommands to the root app. A subcommand's callback stores the
/// process exit status in `exit_code` (0 success, 1 failure); CLI11 parse errors become 2.
void add_queue_commands(CLI::App& root, int& exit_code);    // queue_verbs.cc
void add_bench_commands(CLI::App& root, int& exit_code);    // bench_queue.cc
void add_firehose_commands(CLI::App& root, int& exit_code); // firehose_verb.cc
void add_validate_commands(CLI::App& root, int& exit_code); // validate_verb.cc
void add_run_commands(CLI::App& root, int& exit_code);      // run_verb.cc
void add_drain_commands(CLI::App& root, int& exit_code);    // drain_verb.cc
void add_daemon_commands(CLI::App& root, int& exit_code);   // daemon_verbs.cc
void add_console_commands(CLI::App& root, int& exit_code);  // console_verb.cc: ctl, console

/// Adds `pipeline` to the `bench` subcommand add_bench_commands made (bench_pipeline.cc).
void add_bench_pipeline_command(CLI::App& bench_cmd, int& exit_code);
/// Adds `intake` to it (bench_intake.cc).
void add_bench_intake_command(CLI::App& bench_cmd, int& exit_code);
/// `sluice bench redis`: the Redis queue backend beside redis-benchmark (bench_redis.cc).
void add_bench_redis_command(CLI::App& bench_cmd, int& exit_code);

/// Exit statuses of the pipeline verbs beyond 0 and the usage error 2 (sysexits.h values, so a
/// supervisor can tell a fatal error from a crash).
inline constexpr int k_exit_failure = 1;
inline constexpr int k_exit_locked = 75; ///< EX_TEMPFAIL: another process holds the queue
inline constexpr int k_exit_config = 78; ///< EX_CONFIG: the configuration is invalid

} // namespace sluice::cli
