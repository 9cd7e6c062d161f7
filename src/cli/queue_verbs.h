#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

// What the `sluice queue ...` verbs share; queue_verbs.cc turns command lines into these calls.
// Each run_* function blocks until the verb is done, prints its own output and errors, and returns
// the exit status (0 success, 1 failure).
namespace sluice::cli {

/// `sluice queue append DIR`: stdin's lines become records.
struct append_args {
  std::string dir;
  std::string fsync = "10ms"; ///< "always", "never" or an interval (validated by the parser)
  std::string segment_bytes;  ///< a size; empty for the queue's default
  bool json = false;
  bool ack = false;
};
int run_append(const append_args& args); // queue_append.cc

/// `sluice queue tail DIR`: records' payloads become stdout's lines.
struct tail_args {
  std::string dir;
  std::string from = "beginning"; ///< "beginning", "end" or a position (validated by the parser)
  bool follow = false;
  std::string subscription; ///< empty: a reader without a cursor
  std::uint64_t count = 0;  ///< 0: no limit
  bool json = false;
  std::int64_t wait_ms = 0; ///< without `follow`: how long to wait for a record before stopping
};
int run_tail(const tail_args& args); // queue_tail.cc

int run_stats(const std::string& dir, bool as_json);  // queue_inspect.cc
int run_verify(const std::string& dir, bool as_json); // queue_inspect.cc
int run_repair(const std::string& dir, bool as_json); // queue_inspect.cc

/// Makes SIGINT and SIGTERM set stop_requested() instead of killing the process, so a verb stops
/// at its next check: what append read is appended and closed, and a subscription commits only
/// what it printed. Call from the main thread; idempotent.
void install_stop_handlers();
/// True once SIGINT or SIGTERM arrived. Any thread.
bool stop_requested() noexcept;

/// Prints `sluice: WHAT: MESSAGE` on stderr and returns 1.
int fail_with(std::string_view what, std::string_view message);
/// As above with the error's message, or with `detail` instead when the queue gave one (it says
/// more: the lock holder's pid, for example).
int fail_with(std::string_view what, std::error_code ec, std::string_view detail = {});

/// The detail to show for errc::locked: `detail` when the queue gave one, otherwise the holder's
/// pid as the queue's lock file names it.
std::string lock_detail(const std::string& dir, std::string detail);

/// True when `dir` is a directory (verbs other than append do not create a queue), or a shared
/// queue's location.
bool queue_exists(const std::string& dir);

/// A queue on a server (`redis://HOST:PORT/DB?stream=KEY`) rather than a directory: stats and
/// tail work on it through the queue interface; verify and repair are the disk's.
bool is_shared_location(const std::string& location);
/// Prints `sluice: queue VERB: no queue at DIR` and returns 1.
int no_queue(std::string_view verb, const std::string& dir);

} // namespace sluice::cli
