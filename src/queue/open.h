#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "queue/queue.h"

/// The choice of backend: the one place that knows which queue::queue a configuration's [queue]
/// table describes. Everything above it (the pipeline, the API, the daemon, the tools that do
/// not inspect files) works through queue.h alone.
namespace sluice::queue {

/// Opens the queue `cfg` describes for the process that runs its pipeline (appends, subscribes):
/// today the disk backend in DATA_DIR/queue (disk/disk_queue.h). On failure `error` says what
/// failed and where, in words (the queue locked by another process, with its pid; a failed
/// recovery).
result<std::unique_ptr<queue>> open(const config::pipeline_config& cfg, std::string& error);

/// A subscription taken from a process that need not be the one appending (`sluice drain`),
/// with the durable watermark as it stood once the subscription was held.
struct attached_subscription {
  std::unique_ptr<subscription> sub;
  position durable = 0;
};

/// Takes subscription `name` of the queue `cfg` describes from outside the appending process.
/// Errors, with `error` in words: errc::not_found (or the file error) when the queue has never
/// been opened by an appending process; errc::subscription_busy when another process holds the
/// subscription (`error` names its pid).
result<attached_subscription> attach(const config::pipeline_config& cfg, std::string_view name,
                                     start_at start, std::string& error);

/// The tools' way in (`sluice queue append|tail LOCATION`), by where a queue lives: a queue
/// directory today. open_at opens it for appending with `settings` (records up to
/// `max_record_bytes`; `error_detail` says why it failed: locked by pid N, ...); the other two
/// read it from outside the appending process, as queue::attach does.
result<std::unique_ptr<queue>> open_at(const std::string& location,
                                       const config::queue_config& settings,
                                       std::size_t max_record_bytes, std::string* error_detail);
result<std::unique_ptr<reader>> open_reader_at(const std::string& location, start_at start);
result<std::unique_ptr<subscription>> subscribe_at(const std::string& location,
                                                   std::string_view name, start_at start,
                                                   std::string* error_detail);

} // namespace sluice::queue
