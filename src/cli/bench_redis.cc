// `sluice bench redis`: appends through the Redis queue backend into a private redis-server
// started for the run, and reads them back through a subscription (a consumer group), beside
// redis-benchmark's own XADD rate at the same pipelining on the same server.

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/bench_lines.h"
#include "cli/bench_rsyslog.h"
#include "cli/bench_run.h"
#include "cli/verbs.h"
#include "io/redis.h"
#include "queue/redis/redis_queue.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using bench::checked;
constexpr const char* k_redis_benchmark = "/usr/bin/redis-benchmark";

struct redis_request {
  std::uint64_t records = 1000000;
  std::size_t record_bytes = 300;
  unsigned appenders = 4;
  std::size_t batch = 512;
  bool json = false;
  bool rsyslog = true; ///< measure rsyslog's omhiredis too
  std::string dir;
};

struct redis_figures {
  double appends_per_s = 0;
  double reads_per_s = 0;
  double reference_per_s = 0; ///< redis-benchmark XADD, -c 1 -P batch
  double omhiredis_per_s = 0; ///< rsyslog imtcp -> omhiredis (mode queue), 0: not measured
  double rss_mib = 0;
  double redis_rss_mib = 0;
};

/// redis-benchmark's XADD rate: one client, `pipeline` commands in flight, payloads of `bytes`.
checked<double> reference_rate(std::uint16_t port, const redis_request& req) {
  if (::access(k_redis_benchmark, X_OK) != 0)
    return bench::failure(fmt::format("{} is missing: scripts/setup installs Debian's redis-tools",
                                      k_redis_benchmark));
  std::string cmd = fmt::format("{} -h 127.0.0.1 -p {} -c 1 -P {} -n {} --csv XADD bench:reference "
                                "'*' t 1700000000000000000 r {} 2>&1",
                                k_redis_benchmark, port, req.batch, req.records,
                                std::string(req.record_bytes, 'x'));
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p)
    return bench::failure("cannot run redis-benchmark");
  std::string out, last;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p.get()) != nullptr) {
    out += buf;
    std::string line = buf;
    if (line.starts_with("\"XADD"))
      last = line;
  }
  // "XADD bench:reference ...","263157.89",...
  auto a = last.find("\",\"");
  if (a == std::string::npos)
    return bench::failure("redis-benchmark printed no rate: " + out.substr(0, 400));
  return std::stod(last.substr(a + 3));
}

checked<void> measure_sluice(std::uint16_t port, const redis_request& req, redis_figures& f) {
  queue::redis::options o;
  o.at = io::redis::endpoint{.host = "127.0.0.1", .port = port};
  o.stream = "bench:sluice";
  o.consumer = "bench";
  o.max_record_bytes = req.record_bytes;
  std::string detail;
  auto q = queue::redis::open(o, &detail);
  if (!q)
    return bench::failure(fmt::format("{}: {}", detail, q.error().message()));
  auto sub = (*q)->subscribe("bench", queue::start_at::end());
  if (!sub)
    return bench::failure("subscribe: " + sub.error().message());
  const std::string payload(req.record_bytes, 'x');
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  auto start = now_mono_ns();
  for (unsigned t = 0; t < req.appenders; ++t)
    ts.emplace_back([&] {
      std::vector<queue::record_in> recs(req.batch, queue::record_in{0, payload});
      for (;;) {
        auto first = next.fetch_add(req.batch);
        if (first >= req.records)
          return;
        std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(req.batch, req.records - first));
        if (!(*q)->append(std::span(recs.data(), n))) {
          failed = true;
          return;
        }
      }
    });
  for (auto& t : ts)
    t.join();
  auto appended = now_mono_ns();
  if (failed)
    return bench::failure("an append failed");
  f.appends_per_s = static_cast<double>(req.records) * 1e9 / static_cast<double>(appended - start);
  queue::batch b;
  std::uint64_t read = 0;
  while (read < req.records) {
    auto r = (*sub)->read(b, {5000, 64u << 20}, std::chrono::milliseconds(1000));
    if (!r)
      return bench::failure(fmt::format("read after {} records: {}", read, r.error().message()));
    read += b.size();
    if (auto c = (*sub)->commit(b.last()); !c)
      return bench::failure("commit: " + c.error().message());
  }
  f.reads_per_s =
      static_cast<double>(req.records) * 1e9 / static_cast<double>(now_mono_ns() - appended);
  auto c = io::redis::connection::open(o.at, std::chrono::seconds(2));
  if (c)
    if (auto info = c->command({"INFO", "memory"})) {
      auto at = info->text.find("used_memory_rss:");
      if (at != std::string::npos)
        f.redis_rss_mib = std::stod(info->text.substr(at + 16)) / (1024.0 * 1024.0);
    }
  sub->reset();
  (void)(*q)->close();
  return {};
}

int bench_redis(const redis_request& req) {
  auto parent = bench::pick_parent(req.dir);
  if (!parent) {
    std::fprintf(stderr, "sluice bench redis: %s\n", parent.error().c_str());
    return 1;
  }
  bench::scratch_dir scratch;
  if (auto s = scratch.create(*parent); !s) {
    std::fprintf(stderr, "sluice bench redis: %s\n", s.error().c_str());
    return 1;
  }
  bench::quiet_info quiet;
  bench::spawned server;
  auto port = bench::start_redis(server, scratch.path());
  redis_figures f;
  checked<void> run;
  if (!port) {
    run = bench::failure(port.error());
  } else if (auto ref = reference_rate(*port, req); !ref) {
    run = bench::failure(ref.error());
  } else {
    f.reference_per_s = *ref;
    run = measure_sluice(*port, req, f);
  }
  if (run && req.rsyslog) {
    // The same 300-byte lines into rsyslog, which RPUSHes each to a list on the same server.
    auto block = bench::make_line_block(req.record_bytes, 1000);
    auto o = bench::measure_omhiredis(scratch.path() / "rsyslog", *port, block, req.record_bytes,
                                      req.records);
    if (o)
      f.omhiredis_per_s = *o;
    else
      run = bench::failure(o.error());
  }
  if (!run) {
    std::fprintf(stderr, "sluice bench redis: %s\n", run.error().c_str());
    return 1;
  }
  f.rss_mib = bench::peak_rss_mib();
  double ratio = f.reference_per_s > 0 ? f.appends_per_s / f.reference_per_s : 0;
  if (req.json) {
    nlohmann::json j{{"records", req.records},
                     {"record_bytes", req.record_bytes},
                     {"appenders", req.appenders},
                     {"batch", req.batch},
                     {"appends_per_s", f.appends_per_s},
                     {"reads_per_s", f.reads_per_s},
                     {"redis_benchmark_xadd_per_s", f.reference_per_s},
                     {"ratio", ratio},
                     {"rss_mib", f.rss_mib},
                     {"omhiredis_per_s", f.omhiredis_per_s},
                     {"redis_rss_mib", f.redis_rss_mib}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("redis queue: %llu records of %zu bytes, %u appenders x %zu per append\n",
                static_cast<unsigned long long>(req.records), req.record_bytes, req.appenders,
                req.batch);
    std::printf("  appends (XADD pipelines)    %12.0f records/s\n", f.appends_per_s);
    std::printf("  redis-benchmark XADD -P %-4zu %12.0f records/s  (sluice: %.0f%%)\n", req.batch,
                f.reference_per_s, ratio * 100);
    std::printf("  reads (XREADGROUP + XACK)   %12.0f records/s\n", f.reads_per_s);
    if (f.omhiredis_per_s > 0)
      std::printf("  rsyslog imtcp -> omhiredis  %12.0f lines/s    (sluice: %.2fx)\n",
                  f.omhiredis_per_s, f.appends_per_s / f.omhiredis_per_s);
    std::printf("  peak RSS %.1f MiB (redis-server %.1f MiB)\n", f.rss_mib, f.redis_rss_mib);
  }
  std::fflush(stdout);
  return 0;
}

} // namespace

void add_bench_redis_command(CLI::App& bench_cmd, int& exit_code) {
  auto req = std::make_shared<redis_request>();
  auto* r = bench_cmd.add_subcommand(
      "redis", "Append and read back records through the Redis queue backend on a private "
               "redis-server, beside redis-benchmark's XADD at the same pipelining");
  r->add_option("--records", req->records, "Records to append")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  r->add_option("--record-bytes", req->record_bytes, "Payload bytes per record")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  r->add_option("--appenders", req->appenders, "Appending threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  r->add_option("--batch", req->batch,
                "Records per append() call, and redis-benchmark's pipeline depth")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  r->add_option("--dir", req->dir, "Where the run's redis-server keeps its directory");
  r->add_flag("--json", req->json, "Print one JSON object instead of the table");
  r->add_flag("!--no-rsyslog", req->rsyslog,
              "Skip the rsyslog reference (imtcp -> omhiredis on the same redis-server)");
  r->callback([req, &exit_code] { exit_code = bench_redis(*req); });
}

} // namespace sluice::cli
