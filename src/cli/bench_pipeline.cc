// `sluice bench pipeline`: the firehose over TCP into a tcp source, the disk queue (fsync 10ms)
// and one subscription's sink, end to end, beside what the disk under it can do with plain
// write() + fdatasync() in the same directory. docs/benchmarks.md says what each figure means.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/bench_disk.h"
#include "cli/bench_pipeline_setup.h"
#include "cli/bench_run.h"
#include "cli/verbs.h"
#include "config/pipeline.h"
#include "config/tables.h"
#include "firehose/server.h"
#include "pipeline/runner.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using bench::checked;
using bench::cpu_seconds;
using bench::failure;
using bench::ns_to_ms;
using bench::quiet_info;

constexpr std::uint64_t k_default_events = 2'000'000;
constexpr std::uint64_t k_default_rate = 100'000;
constexpr std::uint64_t k_default_latency_seconds = 5;
// The firehose's events average about 296 bytes: the estimate that sizes the physical reference
// and the free-space check before the run knows the real figure.
constexpr std::uint64_t k_event_bytes_estimate = 300;
// Bytes on disk per event beyond its payload: the queue's record header and event envelope, the
// sink's newline or row overhead. For the free-space check only.
constexpr std::uint64_t k_overhead_estimate = 64;
constexpr auto k_stop_timeout = std::chrono::seconds(10);

/// What `sluice bench pipeline` was asked to do.
struct bench_request {
  std::string sink = "eventlog";
  std::string queue = "disk"; ///< or "redis": a private redis-server, a collector, two deliverers
  std::uint64_t events = k_default_events;
  std::size_t batch = bench::k_subscription_batch;
  std::uint64_t rate = k_default_rate;
  std::uint64_t latency_seconds = k_default_latency_seconds;
  std::uint64_t settle_seconds = bench::k_default_settle_limit.count();
  std::string dir;
  bool json = false;
};

/// What one pipeline run measured, from start() until the sink confirmed the last event.
struct run_figures {
  double seconds = 0;
  double cpu_seconds = 0; ///< user + system time of the process (the firehose's included)
  std::uint64_t events = 0;
  std::uint64_t bytes = 0; ///< payload bytes the source appended
  double p50_ms = 0;       ///< receipt to the sink's confirmation
  double p99_ms = 0;
  double durable_p50_ms = 0; ///< the queue's, from each append() until it was durable
  double durable_p99_ms = 0;
  double fsync_p50_ms = 0; ///< the queue's fsyncs
  double fsync_p99_ms = 0;
};

/// What the whole bench measured.
struct bench_figures {
  run_figures throughput; ///< firehose as fast as possible
  run_figures latency;    ///< firehose at a fixed rate
  double events_per_s = 0;
  double mb_per_s = 0;
  double rss_mib = 0;
  double raw_mb_per_s = 0;
};

using runners = std::vector<std::unique_ptr<pipeline::runner>>;

/// Every instance's subscription status, deliverers in order.
std::vector<pipeline::subscription_status> deliveries(const runners& rs) {
  std::vector<pipeline::subscription_status> out;
  for (const auto& r : rs)
    for (auto& s : r->status().subscriptions)
      out.push_back(std::move(s));
  return out;
}

std::uint64_t delivered(const runners& rs) {
  std::uint64_t n = 0;
  for (const auto& s : deliveries(rs))
    n += s.delivered;
  return n;
}

/// Waits until the sinks confirmed `events` events together (the subscriptions' `delivered`;
/// the cursors follow within the delivery's commit interval). Fails when nothing moved for 30 s
/// or on SIGINT/SIGTERM.
checked<void> wait_delivered(const runners& rs, std::uint64_t events) {
  return bench::wait_progress(
      [&] { return delivered(rs); }, events,
      [&] {
        auto st = rs.front()->status();
        const auto& src = st.sources.front();
        std::string errors;
        for (const auto& sub : deliveries(rs))
          if (!sub.last_error.empty())
            errors += ", sink error: " + sub.last_error;
        return fmt::format("source {} ({}) appended {} of {} events, {} rejected; queue durable "
                           "at {}; the sinks confirmed {}{}",
                           src.name, state_name(src.state), src.counts.records, events,
                           src.counts.rejected(), st.durable, delivered(rs), errors);
      });
}

/// One end-to-end run in `dir`: a firehose sending `events` events at `rate` per second (0: as
/// fast as the source reads), the pipeline reading them, until the sink confirmed the last one.
checked<run_figures> run_pipeline(const fs::path& dir, const bench_request& req,
                                  std::uint64_t events, std::uint64_t rate,
                                  const bench::queue_target& q) {
  firehose::server_options fo;
  fo.rate = rate;
  fo.count = events;
  fo.resume = true; // the source's reconnect after the end gets nothing more
  firehose::server fh(fo);
  auto port = fh.listen_tcp("127.0.0.1", 0);
  if (!port)
    return failure("firehose: listen: " + port.error().message());

  std::string error;
  runners rs;
  for (const auto& cfg : bench::make_configs(dir, *port, req.sink, req.batch, q)) {
    auto r = pipeline::runner::open(cfg, error);
    if (!r)
      return failure(error);
    rs.push_back(std::move(*r));
  }
  fh.start(1);
  const std::int64_t start = now_mono_ns();
  const double cpu_start = cpu_seconds();
  for (auto it = rs.rbegin(); it != rs.rend(); ++it) // deliverers first, the collector last
    if (auto started = (*it)->start(error); !started)
      return failure(error);
  auto done = wait_delivered(rs, events);
  run_figures f;
  f.seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  f.cpu_seconds = cpu_seconds() - cpu_start;
  std::error_code stop_error;
  for (auto& r : rs)
    if (auto stopped = r->stop(std::chrono::steady_clock::now() + k_stop_timeout); !stopped)
      stop_error = stopped.error();
  fh.stop();
  if (!done)
    return failure(done.error());
  if (stop_error)
    return failure("stopping the pipeline: " + stop_error.message());

  const auto src = rs.front()->status().sources.front();
  auto subs = deliveries(rs);
  // On disk the cursor is the last position, which is the event count; Redis positions are ids.
  bool cursors_at_end = q.redis_port != 0 || subs.front().committed == events;
  if (src.counts.records != events || src.counts.rejected() != 0 || delivered(rs) != events ||
      !cursors_at_end)
    return failure(fmt::format("the firehose sent {} events; the source appended {} ({} "
                               "rejected), the sinks confirmed {}, the cursor is at {}",
                               events, src.counts.records, src.counts.rejected(), delivered(rs),
                               subs.front().committed));
  f.events = events;
  f.bytes = src.counts.bytes;
  for (const auto& sub : subs) { // with two deliverers, the slower one's
    f.p50_ms = std::max(f.p50_ms, ns_to_ms(sub.receipt_to_delivered_p50_ns));
    f.p99_ms = std::max(f.p99_ms, ns_to_ms(sub.receipt_to_delivered_p99_ns));
  }
  const auto& qs = rs.front()->queue().stats();
  f.durable_p50_ms = ns_to_ms(qs.durable_ns.quantile(0.50));
  f.durable_p99_ms = ns_to_ms(qs.durable_ns.quantile(0.99));
  f.fsync_p50_ms = ns_to_ms(qs.fsync_ns.quantile(0.50));
  f.fsync_p99_ms = ns_to_ms(qs.fsync_ns.quantile(0.99));
  return f;
}

/// The whole bench in one fresh directory: an untimed warm-up write, the physical reference (the
/// bytes the pipeline writes: each event to the queue and again to the sink), the throughput run,
/// then the latency run on a settled disk. Nothing is deleted before the directory goes at the
/// end: on a `discard` mount, freeing the throughput run's gigabyte before the latency run made
/// its p99 the disk's (50-180 ms instead of 13-17 ms), not the pipeline's.
checked<bench_figures> run_bench(const bench_request& req) {
  auto parent = bench::pick_parent(req.dir);
  if (!parent)
    return failure(parent.error());
  const std::uint64_t latency_events = req.rate * req.latency_seconds;
  const std::uint64_t reference_bytes = 2 * req.events * k_event_bytes_estimate;
  const std::uint64_t run_bytes =
      2 * (req.events + latency_events) * (k_event_bytes_estimate + k_overhead_estimate);
  bench::scratch_dir scratch;
  const std::chrono::seconds settle_limit(req.settle_seconds);
  auto raw = bench::prepare_scratch(*parent, run_bytes + run_bytes / 10 + (256u << 20),
                                    reference_bytes, settle_limit, scratch);
  if (!raw)
    return failure(raw.error());
  bench_figures f;
  f.raw_mb_per_s = *raw;
  if (bench::interrupted().load())
    return failure("interrupted");

  bench::spawned redis;
  bench::queue_target q;
  if (req.queue == "redis") {
    auto port = bench::start_redis(redis, scratch.path());
    if (!port)
      return failure(port.error());
    q.redis_port = *port;
  }
  q.stream = "bench:throughput";
  auto throughput = run_pipeline(scratch.path() / "throughput", req, req.events, 0, q);
  if (!throughput)
    return failure("throughput run: " + throughput.error());
  f.throughput = *throughput;
  bench::settle(scratch.path(), settle_limit);

  q.stream = "bench:latency";
  auto latency = run_pipeline(scratch.path() / "latency", req, latency_events, req.rate, q);
  if (!latency)
    return failure(fmt::format("latency run at {} events/s: {}", req.rate, latency.error()));
  f.latency = *latency;

  f.events_per_s = static_cast<double>(f.throughput.events) / f.throughput.seconds;
  f.mb_per_s = static_cast<double>(f.throughput.bytes) / 1e6 / f.throughput.seconds;
  f.rss_mib = bench::peak_rss_mib();
  return f;
}

void print_json(const bench_request& req, const bench_figures& f) {
  nlohmann::json j = {
      {"sink", req.sink},
      {"queue", req.queue},
      {"events", req.events},
      {"batch", req.batch},
      {"fsync", bench::k_group_commit.text()},
      {"events_per_s", f.events_per_s},
      {"mb_per_s", f.mb_per_s},
      {"seconds", f.throughput.seconds},
      {"cpu_us_per_event",
       1e6 * f.throughput.cpu_seconds / static_cast<double>(f.throughput.events)},
      {"cpu_cores", f.throughput.cpu_seconds / f.throughput.seconds},
      {"event_bytes",
       static_cast<double>(f.throughput.bytes) / static_cast<double>(f.throughput.events)},
      {"throughput_p50_ms", f.throughput.p50_ms},
      {"throughput_p99_ms", f.throughput.p99_ms},
      {"rate", req.rate},
      {"latency_events", f.latency.events},
      {"latency_events_per_s", static_cast<double>(f.latency.events) / f.latency.seconds},
      {"p50_ms", f.latency.p50_ms},
      {"p99_ms", f.latency.p99_ms},
      {"durable_p50_ms", f.latency.durable_p50_ms},
      {"durable_p99_ms", f.latency.durable_p99_ms},
      {"fsync_p50_ms", f.latency.fsync_p50_ms},
      {"fsync_p99_ms", f.latency.fsync_p99_ms},
      {"rss_mib", f.rss_mib},
      {"raw_mb_per_s", f.raw_mb_per_s},
  };
  std::printf("%s\n", j.dump().c_str());
}

// One line of the table: name, figure, and what to compare it with.
std::string table_line(std::string_view name, std::string figure, std::string_view beside = {}) {
  std::string line = fmt::format("  {:<16}{:>14}", name, figure);
  if (!beside.empty())
    line += fmt::format("  {}", beside);
  return line + "\n";
}

void print_table(const bench_request& req, const bench_figures& f) {
  const auto& t = f.throughput;
  const auto& l = f.latency;
  std::string queue = req.queue == "redis"
                          ? std::string("Redis queue (one collector, two deliverers)")
                          : fmt::format("disk queue (fsync {})", bench::k_group_commit.text());
  std::string out =
      fmt::format("sluice bench pipeline: firehose -> tcp source -> {} -> {} sink, batch {}\n",
                  queue, req.sink, req.batch);
  out += fmt::format("throughput: {} events of {:.0f} B on average, as fast as possible\n",
                     t.events, static_cast<double>(t.bytes) / static_cast<double>(t.events));
  out += table_line("events_per_s", fmt::format("{:.0f}", f.events_per_s),
                    fmt::format("({:.2f} s; CPU {:.2f} us per event, {:.2f} cores busy)", t.seconds,
                                1e6 * t.cpu_seconds / static_cast<double>(t.events),
                                t.cpu_seconds / t.seconds));
  out += table_line("mb_per_s", fmt::format("{:.1f}", f.mb_per_s),
                    fmt::format("(payload; written twice, to the queue and the sink: {:.1f} MB/s; "
                                "raw write+fdatasync {:.1f}, {:.0f}%)",
                                2 * f.mb_per_s, f.raw_mb_per_s,
                                100.0 * 2 * f.mb_per_s / f.raw_mb_per_s));
  out += fmt::format("latency: {} events at {} events/s (achieved {:.0f}/s), receipt to the "
                     "sink's confirmation\n",
                     l.events, req.rate, static_cast<double>(l.events) / l.seconds);
  out +=
      table_line("p50_ms", fmt::format("{:.1f}", l.p50_ms),
                 fmt::format("(the queue alone, append to durable: {:.1f} ms)", l.durable_p50_ms));
  out += table_line("p99_ms", fmt::format("{:.1f}", l.p99_ms),
                    fmt::format("(the queue alone: {:.1f} ms; its fsyncs every {}: p50 {:.1f} "
                                "ms, p99 {:.1f} ms)",
                                l.durable_p99_ms, bench::k_group_commit.text(), l.fsync_p50_ms,
                                l.fsync_p99_ms));
  out += table_line("rss_mib", fmt::format("{:.1f}", f.rss_mib),
                    "(peak of the process, firehose included)");
  std::fputs(out.c_str(), stdout);
}

int bench_pipeline(const bench_request& req) {
  bench::interrupt_guard guard;
  quiet_info quiet;
  auto figures = run_bench(req);
  if (!figures) {
    std::fprintf(stderr, "sluice bench pipeline: %s\n", figures.error().c_str());
    return 1;
  }
  if (req.json) {
    print_json(req, *figures);
  } else {
    print_table(req, *figures);
  }
  std::fflush(stdout);
  return 0;
}

} // namespace

void add_bench_pipeline_command(CLI::App& bench_cmd, int& exit_code) {
  auto req = std::make_shared<bench_request>();
  auto* p = bench_cmd.add_subcommand(
      "pipeline", "Firehose over TCP, a tcp source, the disk queue (fsync 10ms) and a sink, end "
                  "to end: throughput, latency at a fixed rate, peak RSS");
  p->add_option("--sink", req->sink, "The subscription's sink")
      ->capture_default_str()
      ->check(CLI::IsMember({"eventlog", "sqlite"}));
  p->add_option("--queue", req->queue,
                "disk, or redis: a private redis-server, one collector and two deliverers of the "
                "subscription (docs/redis.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"disk", "redis"}));
  p->add_option("--events", req->events, "Events of the throughput run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 36));
  p->add_option("--batch", req->batch,
                "The subscription's batch (a configuration's default is 500; see "
                "docs/benchmarks.md)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  p->add_option("--rate", req->rate, "Events per second of the latency run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  p->add_option("--latency-seconds", req->latency_seconds, "Length of the latency run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{3600}));
  bench::add_disk_options(*p, req->settle_seconds, req->dir);
  p->add_flag("--json", req->json, "Print one JSON object instead of the table");
  p->callback([req, &exit_code] { exit_code = bench_pipeline(*req); });
}

} // namespace sluice::cli
