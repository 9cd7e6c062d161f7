#include "cli/bench_pipeline_setup.h"

#include <fmt/format.h>

#include "cli/bench_run.h"
#include "config/tables.h"

namespace sluice::cli::bench {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view k_subscription = "bench";

/// The queue of every instance of a run: the disk queue in dir/data with group commit
/// k_group_commit, or the Redis stream of `q` as `consumer`.
config::pipeline_config instance_config(const fs::path& dir, const queue_target& q,
                                        const std::string& consumer) {
  config::pipeline_config cfg;
  cfg.data_dir = dir / ("data-" + consumer);
  cfg.queue.fsync = k_group_commit;
  if (q.redis_port != 0) {
    cfg.queue.backend = config::queue_backend::redis;
    cfg.queue.url = fmt::format("redis://127.0.0.1:{}/0", q.redis_port);
    cfg.queue.stream = q.stream;
    cfg.queue.consumer = consumer;
  }
  return cfg;
}

/// The source under test: a tcp source reading the firehose at 127.0.0.1:port.
void add_source(config::pipeline_config& cfg, std::uint16_t port) {
  config::source_config src;
  src.name = "firehose";
  src.format = config::record_format::json;
  src.settings = config::option_values::make(
      config::source_types, "tcp", src.name,
      {{"address", fmt::format("127.0.0.1:{}", port)}, {"reconnect", slow_reconnect(src.name)}});
  cfg.sources.push_back(std::move(src));
}

/// The subscription under test, delivering to the chosen sink in `dir` (files named after
/// `instance`).
void add_subscription(config::pipeline_config& cfg, const fs::path& dir, const std::string& sink,
                      std::size_t batch, const std::string& instance) {
  config::subscription_config sub;
  sub.name = std::string(k_subscription);
  sub.batch = batch;
  if (sink == "sqlite")
    sub.sink = config::option_values::make(
        config::sink_types, "sqlite", sub.name,
        {{"path", (dir / ("events-" + instance + ".sqlite")).string()}});
  else
    sub.sink = config::option_values::make(config::sink_types, "eventlog", sub.name,
                                           {{"dir", (dir / ("eventlog-" + instance)).string()}});
  cfg.subscriptions.push_back(std::move(sub));
}

} // namespace

/// The instances of one run: on disk one with the source and the subscription; on Redis a
/// collector (the source) and two deliverers of the subscription.
std::vector<config::pipeline_config> make_configs(const fs::path& dir, std::uint16_t port,
                                                  const std::string& sink, std::size_t batch,
                                                  const queue_target& q) {
  std::vector<config::pipeline_config> out;
  if (q.redis_port == 0) {
    out.push_back(instance_config(dir, q, "one"));
    add_source(out.back(), port);
    add_subscription(out.back(), dir, sink, batch, "one");
    return out;
  }
  out.push_back(instance_config(dir, q, "collector"));
  add_source(out.back(), port);
  for (const std::string d : {"d1", "d2"}) {
    out.push_back(instance_config(dir, q, d));
    add_subscription(out.back(), dir, sink, batch, d);
  }
  return out;
}

} // namespace sluice::cli::bench
