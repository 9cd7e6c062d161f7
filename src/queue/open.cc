#include "queue/open.h"

#include <fmt/format.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/watermark_file.h"

namespace sluice::queue {

result<std::unique_ptr<queue>> open(const config::pipeline_config& cfg, std::string& error) {
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
      error = fmt::format("cannot open its cursor in {}: {}{}", dir.string(),
                          sub.error().message(), detail.empty() ? "" : " (" + detail + ")");
    return fail(sub.error());
  }
  // Read with the subscription held: its cursor cannot move any more.
  return attached_subscription{std::move(*sub), wm->load().pos};
}

result<std::unique_ptr<queue>> open_at(const std::string& location,
                                       const config::queue_config& settings,
                                       std::size_t max_record_bytes, std::string* error_detail) {
  config::pipeline_config cfg;
  cfg.queue = settings;
  auto opts = disk::options_of(cfg);
  opts.dir = location;
  opts.max_record_bytes = max_record_bytes;
  return disk::open(opts, error_detail);
}

result<std::unique_ptr<reader>> open_reader_at(const std::string& location, start_at start) {
  return disk::open_reader(location, start);
}

result<std::unique_ptr<subscription>> subscribe_at(const std::string& location,
                                                   std::string_view name, start_at start,
                                                   std::string* error_detail) {
  return disk::subscribe(location, name, start, error_detail);
}

} // namespace sluice::queue
