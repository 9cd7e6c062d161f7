#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/runner.h"

/// RUN_DIR/ID-CONTEXT.sources.json, beside the info file: each source's state as the daemon's
/// pipeline last saw it, for `sluice status`. One JSON object on one line:
///
///   {"pid":P,"updated_at":UNIX_S,"sources":[{"name":"firehose","type":"http",
///    "state":"failed","last_error":"HTTP 401 from ...: check auth","records":0,"connects":0}],
///    "api":["127.0.0.1:4711"]}
///
/// `pid` is the pipeline that wrote it, `updated_at` when (unix seconds), `state` a
/// sources::state_name.
namespace sluice::daemon {

/// One source in the state file.
struct source_entry {
  std::string name;
  std::string type;  ///< "http", "listen", ...
  std::string state; ///< sources::state_name: connecting, connected, backing_off, stopped, failed
  std::string last_error;
  std::uint64_t records = 0;  ///< appended to the queue
  std::uint64_t connects = 0; ///< connections made (http, tcp, unix)
};

/// What the state file holds.
struct source_states {
  int pid = 0;                 ///< the pipeline that wrote it
  std::int64_t updated_at = 0; ///< unix seconds of the write
  std::vector<source_entry> sources;
  /// Where the pipeline's control API listens ("127.0.0.1:4711", "unix:/path"); empty: no API.
  std::vector<std::string> api;
};

/// The entries of a pipeline's figures, in its order.
std::vector<source_entry> source_entries(const pipeline::pipeline_status& st);

/// The file's text: one JSON object and a newline; always valid JSON (bytes of a last_error that
/// are not UTF-8 become U+FFFD).
std::string source_states_json(const source_states& s);

/// Reads a state file. Nothing when it is missing, unreadable or not such a file: not an error,
/// since a daemon of an older sluice writes none and a starting one none yet.
std::optional<source_states> read_source_states(const std::filesystem::path& path);

/// Replaces `path` with `s` atomically: PATH.tmp in the same directory, mode 0640, renamed over
/// it, so a reader sees the old content or the new, never a part. Not fsynced: the file describes
/// a running process and means nothing after a crash. A failure is logged (rate-limited) and
/// returns false.
bool write_source_states(const std::filesystem::path& path, const source_states& s);

/// Keeps a pipeline's state file in step with its sources. It writes when a source's name, type,
/// state or last error differs from the last write, or a source came or went (a reload): a
/// change of counters alone does not write, so `records` and `connects` are as of the last write
/// and `updated_at` is when the last change was seen. One thread (the pipeline's main loop) calls
/// it; the writes are small and do not wait for the disk.
class source_state_file {
public:
  /// An empty path: a pipeline outside `sluice start` (no run directory), nothing is written.
  explicit source_state_file(std::filesystem::path path) : path_(std::move(path)) {}

  bool enabled() const noexcept { return !path_.empty(); }

  /// Writes the sources of `st` unless only their counters changed since the last write (the
  /// first call always writes). A failed write is tried again at the next call.
  void update(const pipeline::pipeline_status& st);
  /// The API's addresses, written with the sources from the next update() on.
  void set_api(std::vector<std::string> addresses) { api_ = std::move(addresses); }

  /// Removes the file, at a clean exit; a file already gone is fine.
  void remove();

private:
  std::filesystem::path path_;
  std::optional<std::vector<source_entry>> written_;
  std::vector<std::string> api_;
};

} // namespace sluice::daemon
