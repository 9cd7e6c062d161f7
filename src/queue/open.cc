#include "queue/open.h"

#include <fmt/format.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/watermark_file.h"
#include "queue/redis/list_queue.h"
#include "queue/redis/redis_queue.h"
#include "queue/spill_queue.h"

namespace sluice::queue {
namespace {

/// The largest record any source of `cfg` appends.
std::size_t largest_record(const config::pipeline_config& cfg) {
  return disk::options_of(cfg).max_record_bytes;
}

bool is_redis(const config::pipeline_config& cfg) {
  return cfg.queue.backend != config::queue_backend::disk;
}

/// A tool's location `redis://HOST:PORT/DB?stream=KEY` (or `?list=KEY`: the list backend) as
/// options (the stream defaults to [queue]'s default); nullopt for a directory.
std::optional<redis::options> redis_location(const std::string& location) {
  if (!location.starts_with("redis://") && !location.starts_with("redis-sentinel://"))
    return std::nullopt;
  config::queue_config q;
  q.url = location;
  if (auto at = location.find("?stream="); at != std::string::npos) {
    q.url = location.substr(0, at);
    q.stream = location.substr(at + 8);
  } else if (at = location.find("?list="); at != std::string::npos) {
    q.url = location.substr(0, at);
    q.stream = location.substr(at + 6);
    q.backend = config::queue_backend::redis_list;
  }
  return redis::options_of(q, config::k_max_record_bytes);
}

result<std::unique_ptr<queue>> open_redis(const redis::options& opts, std::string* error) {
  if (opts.at.host.empty() && opts.at.sentinels.empty()) {
    if (error)
      *error = "not a redis:// URL";
    return fail(errc::invalid_argument);
  }
  return opts.list ? redis::open_list(opts, error) : redis::open(opts, error);
}

} // namespace

result<std::unique_ptr<queue>> open(const config::pipeline_config& cfg, std::string& error) {
  if (is_redis(cfg)) {
    std::string detail;
    auto q = open_redis(redis::options_of(cfg.queue, largest_record(cfg)), &detail);
    if (!q) {
      error = fmt::format("cannot open the queue on Redis ({}): {}", detail, q.error().message());
      return q;
    }
    if (!cfg.queue.spill)
      return q;
    auto opts = disk::options_of(cfg);
    opts.dir = cfg.data_dir / "spill";
    auto spill = disk::open(opts, &detail);
    if (!spill) {
      error = fmt::format("cannot open the spill queue in {}: {}{}", opts.dir.string(),
                          spill.error().message(), detail.empty() ? "" : " (" + detail + ")");
      return spill;
    }
    auto both = make_spilling(std::move(*q), std::move(*spill));
    if (!both)
      error = fmt::format("cannot subscribe the spill queue's forwarder in {}: {}",
                          opts.dir.string(), both.error().message());
    return both;
  }
  auto opts = disk::options_of(cfg);
  std::string detail;
  auto q = disk::open(opts, &detail);
  if (!q)
    error = fmt::format("cannot open the queue in {}: {}{}", opts.dir.string(), q.error().message(),
                        detail.empty() ? "" : " (" + detail + ")");
  return q;
}

result<attached_subscription> attach(const config::pipeline_config& cfg, std::string_view name,
                                     start_at start, std::string& error) {
  if (is_redis(cfg)) {
    // Any number of instances deliver a group: attaching is subscribing.
    std::string detail;
    auto q = open_redis(redis::options_of(cfg.queue, largest_record(cfg)), &detail);
    if (!q) {
      error = fmt::format("cannot reach the queue on Redis ({}): {}", detail, q.error().message());
      return fail(q.error());
    }
    auto sub = (*q)->subscribe(name, start);
    if (!sub) {
      error = fmt::format("cannot open the group {} on Redis: {}", name, sub.error().message());
      return fail(sub.error());
    }
    return attached_subscription{std::move(*sub), (*q)->durable_watermark()};
  }
  const auto dir = disk::options_of(cfg).dir;
  // The watermark file exists once an appending process opened the queue.
  auto wm = disk::watermark_file::open_for_reader(dir);
  if (!wm) {
    error = fmt::format("no queue in {} yet ({}); nothing to drain before `sluice run` has run "
                        "with this configuration",
                        dir.string(), wm.error().message());
    return fail(wm.error());
  }
  std::string detail;
  auto sub = disk::subscribe(dir, name, start, &detail);
  if (!sub) {
    if (sub.error() == errc::subscription_busy)
      error = fmt::format("{} (a running `sluice run` delivers it, or another drain runs)", detail);
    else
      error = fmt::format("cannot open its cursor in {}: {}{}", dir.string(), sub.error().message(),
                          detail.empty() ? "" : " (" + detail + ")");
    return fail(sub.error());
  }
  // Read with the subscription held: its cursor cannot move any more.
  return attached_subscription{std::move(*sub), wm->load().pos};
}

result<std::unique_ptr<queue>> open_at(const std::string& location,
                                       const config::queue_config& settings,
                                       std::size_t max_record_bytes, std::string* error_detail) {
  if (auto r = redis_location(location)) {
    r->max_record_bytes = max_record_bytes;
    return open_redis(*r, error_detail);
  }
  config::pipeline_config cfg;
  cfg.queue = settings;
  auto opts = disk::options_of(cfg);
  opts.dir = location;
  opts.max_record_bytes = max_record_bytes;
  return disk::open(opts, error_detail);
}

result<std::unique_ptr<reader>> open_reader_at(const std::string& location, start_at start) {
  if (auto r = redis_location(location)) {
    auto q = open_redis(*r, nullptr);
    if (!q)
      return fail(q.error());
    return (*q)->open_reader(start); // the reader has its own connection; the queue may go
  }
  return disk::open_reader(location, start);
}

result<std::unique_ptr<subscription>> subscribe_at(const std::string& location,
                                                   std::string_view name, start_at start,
                                                   std::string* error_detail) {
  if (auto r = redis_location(location)) {
    auto q = open_redis(*r, error_detail);
    if (!q)
      return fail(q.error());
    return (*q)->subscribe(name, start);
  }
  return disk::subscribe(location, name, start, error_detail);
}

} // namespace sluice::queue
