#pragma once

// The command grammar `sluice ctl` and `sluice console` share: each command becomes one request
// to the control API, and its reply a table (or the raw JSON).
//
//   meta | streams | stream NAME [restart|stop|start] | track add|remove|set NAME TERM...
//   subs | sub show NAME | sub add NAME KEY=VALUE... | sub delete|pause|resume NAME
//   sub rewind NAME beginning|end|POSITION|TIME | queue | help

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli/api_client.h"

namespace sluice::cli {

/// Exit statuses of a command beyond 0 (done) and k_exit_failure (1: the API refused it).
inline constexpr int k_exit_usage = 2;        ///< not a command of the grammar
inline constexpr int k_exit_unavailable = 69; ///< EX_UNAVAILABLE: the API cannot be reached

/// Where a command's output goes.
struct ctl_output {
  bool json = false;                  ///< the API's JSON reply as received instead of a table
  std::FILE* out = stdout;            ///< tables and JSON
  std::FILE* err = stderr;            ///< messages, in plain words
  std::string program = "sluice ctl"; ///< names the messages' source
};

/// Runs one command, e.g. {"track", "add", "nfl", "Bears"}: sends its request and waits for the
/// reply (blocks up to the client's timeout). Returns 0 when done, k_exit_failure when the API
/// answered with an error, k_exit_usage when `words` is not a command, k_exit_unavailable when
/// no reply came.
int run_ctl_command(const api_client& api, const std::vector<std::string>& words,
                    const ctl_output& output);

/// The commands, one line each, for `help`.
std::string ctl_help_text();

} // namespace sluice::cli
