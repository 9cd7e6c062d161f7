#pragma once

#include "cli/cli11.h"

namespace sluice::cli {

/// Each verb group adds its subcommands to the root app. A subcommand's callback stores the
/// process exit status in `exit_code` (0 success, 1 failure); CLI11 parse errors become 2.
void add_queue_commands(CLI::App& root, int& exit_code);    // queue_verbs.cc
void add_bench_commands(CLI::App& root, int& exit_code);    // bench_queue.cc
void add_firehose_commands(CLI::App& root, int& exit_code); // firehose_verb.cc
void add_validate_commands(CLI::App& root, int& exit_code); // validate_verb.cc

} // namespace sluice::cli
