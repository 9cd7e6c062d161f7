// `sluice bench intake`: one source type driven by its own generator (pushers for listen and
// stdin, the firehose for tcp, unix and http) into the disk queue (fsync 10ms) and on to an
// event log (or into the queue alone), beside the same bytes over loopback into read() and
// nowhere, the disk's write+fdatasync rate, and rsyslog (imtcp -> omfile) taking the same lines.
// docs/benchmarks.md says what each figure means.

#include "cli/bench_intake.h"

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/bench_lines.h"
#include "cli/bench_rsyslog.h"
#include "cli/bench_run.h"
#include "cli/verbs.h"
#include "config/pipeline.h"
#include "firehose/server.h"
#include "pipeline/runner.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using bench::checked;
using bench::failure;
using intake_bench::generator;
using intake_bench::intake_request;
using intake_bench::k_http_path;
using intake_bench::make_config;
using intake_bench::start_firehoses;
using intake_bench::stdin_pipe;

constexpr std::size_t k_block_lines = 4096;
constexpr auto k_stop_timeout = std::chrono::seconds(10);

/// What one run measured, from the first byte sent until the last line was delivered (or, with
/// no sink, durable in the queue).
struct run_figures {
  double seconds = 0;
  double cpu_seconds = 0; ///< the process's, less the pushers' own threads
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  double p50_ms = 0; ///< receipt to the sink's confirmation (no sink: append to durable)
  double p99_ms = 0;
};

struct intake_figures {
  run_figures throughput;
  run_figures latency;
  double raw_lines_per_s = 0; ///< the same bytes over loopback into read()
  double disk_mb_per_s = 0;   ///< write + fdatasync in the run's directory
  double rsyslog_direct_per_s = 0;
  double rsyslog_da_per_s = 0;
  double rss_mib = 0;
};

/// Lines appended by every source together, and of them the bytes and the rejected.
struct source_totals {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t rejected = 0;
};
source_totals totals_of(const pipeline::pipeline_status& st) {
  source_totals t;
  for (const auto& s : st.sources) {
    t.records += s.counts.records;
    t.bytes += s.counts.bytes;
    t.rejected += s.counts.rejected();
  }
  return t;
}

/// Waits until `lines` lines were delivered by the sink, or with no sink are durable.
checked<void> wait_done(const pipeline::runner& r, const intake_request& req, std::uint64_t lines) {
  return bench::wait_progress(
      [&] {
        auto st = r.status();
        return req.has_sink() ? st.subscriptions.front().delivered : st.durable;
      },
      lines,
      [&] {
        auto st = r.status();
        auto t = totals_of(st);
        return fmt::format("the sources appended {} of {} lines, {} rejected; queue durable at "
                           "{}; the sink confirmed {}",
                           t.records, lines, t.rejected, st.durable,
                           st.subscriptions.empty() ? 0 : st.subscriptions.front().delivered);
      });
}

/// The figures of a run that ended: every line appended once, none rejected, all delivered.
checked<run_figures> finish_run(pipeline::runner& r, const intake_request& req, std::uint64_t lines,
                                run_figures f) {
  auto st = r.status();
  auto t = totals_of(st);
  std::uint64_t delivered = req.has_sink() ? st.subscriptions.front().delivered : st.durable;
  if (t.records != lines || t.rejected != 0 || delivered != lines)
    return failure(fmt::format("{} lines were sent; the sources appended {} ({} rejected), {} "
                               "were {}",
                               lines, t.records, t.rejected, delivered,
                               req.has_sink() ? "delivered" : "durable"));
  f.lines = lines;
  f.bytes = t.bytes;
  if (req.has_sink()) {
    f.p50_ms = bench::ns_to_ms(st.subscriptions.front().receipt_to_delivered_p50_ns);
    f.p99_ms = bench::ns_to_ms(st.subscriptions.front().receipt_to_delivered_p99_ns);
  } else {
    const auto& qs = r.queue().stats();
    f.p50_ms = bench::ns_to_ms(qs.durable_ns.quantile(0.50));
    f.p99_ms = bench::ns_to_ms(qs.durable_ns.quantile(0.99));
  }
  return f;
}

/// One run in `dir`: the generator sends `lines` lines at `rate` per second (0: as fast as the
/// source takes them), the pipeline takes them in, until the last was delivered (or durable).
checked<run_figures> run_intake(const fs::path& dir, const intake_request& req,
                                const std::string& block, std::uint64_t lines, std::uint64_t rate) {
  std::error_code ec;
  if (fs::create_directories(dir, ec); ec)
    return failure(fmt::format("creating {}: {}", dir.string(), ec.message()));
  generator g;
  stdin_pipe in;
  if (req.source == "stdin") {
    if (auto r = in.open(); !r)
      return failure(r.error());
    g.push.fd = in.write_end();
  } else if (req.source == "listen-unix") {
    g.push.unix_path = (dir / "listen.sock").string();
  } else if (req.pushed()) {
    auto port = bench::free_port();
    if (!port)
      return failure(port.error());
    g.push = {.host = "127.0.0.1", .port = *port};
  } else if (auto r = start_firehoses(dir, req, lines, rate, g); !r) {
    return failure(r.error());
  }
  std::string error;
  auto r = pipeline::runner::open(make_config(dir, req, g), error);
  if (!r)
    return failure(error);
  if (auto started = (*r)->start(error); !started)
    return failure(error);
  const std::int64_t start = now_mono_ns();
  const double cpu_start = bench::cpu_seconds();
  checked<bench::push_figures> pushed = bench::push_figures{};
  std::thread pusher;
  if (req.pushed())
    pusher = std::thread([&] {
      pushed = bench::push_lines(g.push, block, req.line_bytes, lines, req.connections, rate);
    });
  for (auto& fh : g.firehoses)
    fh->start(1);
  auto done = wait_done(**r, req, lines);
  run_figures f;
  f.seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  f.cpu_seconds = bench::cpu_seconds() - cpu_start;
  // Stopped before the pushers are joined: after a failed run a pusher may be blocked in a write
  // that only the connection's end releases.
  auto stopped = (*r)->stop(std::chrono::steady_clock::now() + k_stop_timeout);
  in.restore(); // a stdin pusher's writes fail (EPIPE) once no one can read the pipe
  if (pusher.joinable())
    pusher.join();
  for (auto& fh : g.firehoses)
    fh->stop();
  if (!pushed)
    return failure(pushed.error());
  if (!done)
    return failure(done.error());
  if (!stopped)
    return failure("stopping the pipeline: " + stopped.error().message());
  f.cpu_seconds -= pushed->cpu_seconds;
  return finish_run(**r, req, lines, f);
}

/// The loopback reference: the same generator into read() and nowhere.
checked<double> measure_raw(const fs::path& dir, const intake_request& req,
                            const std::string& block) {
  if (req.pushed()) {
    bench::push_target to;
    if (req.source == "listen-unix")
      to.unix_path = (dir / "raw.sock").string();
    else if (req.source == "listen") {
      auto port = bench::free_port();
      if (!port)
        return failure(port.error());
      to.port = *port;
    }
    return bench::measure_raw_push(to, block, req.line_bytes, req.lines, req.connections);
  }
  generator g;
  if (auto r = start_firehoses(dir, req, req.lines, 0, g); !r)
    return failure(r.error());
  for (auto& fh : g.firehoses)
    fh->start(1);
  // The firehoses send `lines` events in all, then close: one plain reader on each, at once.
  std::string request = req.source == "http"
                            ? fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
                                          k_http_path, req.gzip ? "Accept-Encoding: gzip\r\n" : "")
                            : "";
  auto seconds = bench::measure_raw_pull(g.pulled, request);
  for (auto& fh : g.firehoses)
    fh->stop();
  if (!seconds)
    return failure(seconds.error());
  return static_cast<double>(req.lines) / *seconds;
}

/// The whole bench in one fresh directory: the disk reference (the bytes the run writes: once
/// to the queue and again to the sink), the throughput run, the latency run on a settled disk,
/// the loopback reference, and rsyslog's two queues.
checked<intake_figures> run_bench(const intake_request& req) {
  auto parent = bench::pick_parent(req.dir);
  if (!parent)
    return failure(parent.error());
  const std::uint64_t copies = req.has_sink() ? 2 : 1;
  const std::uint64_t latency_lines = req.rate * req.latency_seconds;
  const std::uint64_t total = req.lines * req.line_bytes;
  const std::uint64_t run_bytes = (copies + 2 * (req.rsyslog ? 1 : 0)) * total * 11 / 10 +
                                  copies * latency_lines * (req.line_bytes + 64);
  bench::scratch_dir scratch;
  const std::chrono::seconds settle_limit(req.settle_seconds);
  auto raw = bench::prepare_scratch(*parent, run_bytes + (256u << 20), copies * total, settle_limit,
                                    scratch);
  if (!raw)
    return failure(raw.error());
  intake_figures f;
  f.disk_mb_per_s = *raw;
  const std::string block = bench::make_line_block(req.line_bytes, k_block_lines);

  auto throughput = run_intake(scratch.path() / "throughput", req, block, req.lines, 0);
  if (!throughput)
    return failure("throughput run: " + throughput.error());
  f.throughput = *throughput;
  bench::settle(scratch.path(), settle_limit);
  auto latency = run_intake(scratch.path() / "latency", req, block, latency_lines, req.rate);
  if (!latency)
    return failure(fmt::format("latency run at {} lines/s: {}", req.rate, latency.error()));
  f.latency = *latency;
  f.rss_mib = bench::peak_rss_mib();

  auto loop = measure_raw(scratch.path(), req, block);
  if (!loop)
    return failure("loopback reference: " + loop.error());
  f.raw_lines_per_s = *loop;
  if (req.rsyslog) {
    using bench::rsyslog_queue;
    for (auto [mode, into] : {std::pair{rsyslog_queue::direct, &f.rsyslog_direct_per_s},
                              std::pair{rsyslog_queue::disk_assisted, &f.rsyslog_da_per_s}}) {
      bench::settle(scratch.path(), settle_limit);
      auto d = bench::measure_rsyslog(
          scratch.path() / (mode == rsyslog_queue::direct ? "rsyslog-direct" : "rsyslog-da"), mode,
          block, req.line_bytes, req.lines, req.connections);
      if (!d)
        return failure(d.error());
      *into = *d;
    }
  }
  return f;
}

double per_s(const run_figures& r, std::uint64_t n) {
  return static_cast<double>(n) / r.seconds;
}

nlohmann::json to_json(const intake_request& req, const intake_figures& f) {
  const auto& t = f.throughput;
  const double copies = req.has_sink() ? 2 : 1;
  const double mb_per_s = per_s(t, t.bytes) / 1e6;
  nlohmann::json j = {
      {"source", req.source},
      {"connections", req.connections},
      {"format", req.format},
      {"sink", req.sink},
      {"gzip", req.gzip},
      {"fsync", bench::k_group_commit.text()},
      {"lines", t.lines},
      {"line_bytes", static_cast<double>(t.bytes) / static_cast<double>(t.lines)},
      {"lines_per_s", per_s(t, t.lines)},
      {"mb_per_s", mb_per_s},
      {"seconds", t.seconds},
      {"cpu_s_per_million_lines", 1e6 * t.cpu_seconds / static_cast<double>(t.lines)},
      {"cpu_cores", t.cpu_seconds / t.seconds},
      {"rate", req.rate},
      {"latency_lines_per_s", per_s(f.latency, f.latency.lines)},
      {"p50_ms", f.latency.p50_ms},
      {"p99_ms", f.latency.p99_ms},
      {"rss_mib", f.rss_mib},
      {"raw_lines_per_s", f.raw_lines_per_s},
      {"disk_mb_per_s", f.disk_mb_per_s},
      {"disk_share", copies * mb_per_s / f.disk_mb_per_s},
  };
  if (req.rsyslog) {
    j["rsyslog_direct_per_s"] = f.rsyslog_direct_per_s;
    j["rsyslog_da_per_s"] = f.rsyslog_da_per_s;
    j["vs_rsyslog_direct"] = per_s(t, t.lines) / f.rsyslog_direct_per_s;
  }
  return j;
}

void print_table(const intake_request& req, const nlohmann::json& j) {
  std::string out = fmt::format(
      "sluice bench intake: {} source ({} connection(s), format {}) -> disk queue (fsync {}) -> "
      "{}\n",
      req.source, req.connections, req.format, bench::k_group_commit.text(),
      req.has_sink() ? "event log" : "nothing (the queue alone)");
  auto line = [&](std::string_view name, std::string figure, std::string beside = {}) {
    out += fmt::format("  {:<22}{:>14}  {}\n", name, figure, beside);
  };
  line("lines_per_s", fmt::format("{:.0f}", j["lines_per_s"].get<double>()),
       fmt::format("({} lines of {:.0f} B in {:.2f} s)", j["lines"].get<std::uint64_t>(),
                   j["line_bytes"].get<double>(), j["seconds"].get<double>()));
  line("mb_per_s", fmt::format("{:.1f}", j["mb_per_s"].get<double>()),
       fmt::format("(written {}: {:.0f}% of the disk's write+fdatasync, {:.1f} MB/s)",
                   req.has_sink() ? "twice, queue and sink" : "once",
                   100 * j["disk_share"].get<double>(), j["disk_mb_per_s"].get<double>()));
  line("raw_lines_per_s", fmt::format("{:.0f}", j["raw_lines_per_s"].get<double>()),
       "(the same bytes over loopback into read())");
  line("cpu_s_per_million", fmt::format("{:.2f}", j["cpu_s_per_million_lines"].get<double>()),
       fmt::format("({:.2f} cores busy{})", j["cpu_cores"].get<double>(),
                   req.pushed() ? "; pushers excluded" : "; the firehose included"));
  line("p50_ms / p99_ms",
       fmt::format("{:.1f} / {:.1f}", j["p50_ms"].get<double>(), j["p99_ms"].get<double>()),
       fmt::format("(at {}/s: receipt to {})", req.rate,
                   req.has_sink() ? "the sink's confirmation" : "durable"));
  line("rss_mib", fmt::format("{:.1f}", j["rss_mib"].get<double>()), "(peak, generator included)");
  if (req.rsyslog) {
    line("rsyslog_direct_per_s", fmt::format("{:.0f}", j["rsyslog_direct_per_s"].get<double>()),
         fmt::format("(imtcp -> omfile, no queue; sluice {:.2f}x)",
                     j["vs_rsyslog_direct"].get<double>()));
    line("rsyslog_da_per_s", fmt::format("{:.0f}", j["rsyslog_da_per_s"].get<double>()),
         "(disk-assisted queues)");
  }
  std::fputs(out.c_str(), stdout);
}

int bench_intake(const intake_request& req) {
  // A pusher whose reader went (a failed run) gets EPIPE, not the end of the process.
  struct ignore_sigpipe {
    void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~ignore_sigpipe() { std::signal(SIGPIPE, old); }
  } sigpipe;
  if (req.connections > 1 && req.source == "stdin") {
    std::fprintf(stderr, "sluice bench intake: --source stdin takes one connection\n");
    return 2;
  }
  bench::interrupt_guard guard;
  bench::quiet_info quiet;
  auto figures = run_bench(req);
  if (!figures) {
    std::fprintf(stderr, "sluice bench intake: %s\n", figures.error().c_str());
    return 1;
  }
  auto j = to_json(req, *figures);
  if (req.json)
    std::printf("%s\n", j.dump().c_str());
  else
    print_table(req, j);
  std::fflush(stdout);
  return 0;
}

} // namespace

void add_bench_intake_command(CLI::App& bench_cmd, int& exit_code) {
  auto req = std::make_shared<intake_request>();
  auto* p = bench_cmd.add_subcommand(
      "intake", "One source type fed by its own generator into the disk queue (fsync 10ms) and "
                "an event log, beside loopback, the disk and rsyslog");
  p->add_option("--source", req->source, "The source type (listen-unix: listen on a Unix socket)")
      ->capture_default_str()
      ->check(CLI::IsMember({"listen", "listen-unix", "tcp", "unix", "http", "stdin"}));
  p->add_option("--connections", req->connections, "Connections at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u));
  p->add_option("--lines", req->lines, "Lines of the throughput run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 36));
  p->add_option("--line-bytes", req->line_bytes, "Bytes of each pushed line, its newline included")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{64}, std::size_t{65536}));
  p->add_option("--format", req->format, "The source's format")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "lines"}));
  p->add_option("--sink", req->sink, "eventlog, or none: the queue alone")
      ->capture_default_str()
      ->check(CLI::IsMember({"eventlog", "none"}));
  p->add_flag("--gzip", req->gzip, "http: the firehose gzip-encodes the stream");
  p->add_option("--rate", req->rate, "Lines per second of the latency run, in all")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  p->add_option("--latency-seconds", req->latency_seconds, "Length of the latency run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{3600}));
  p->add_flag("!--no-rsyslog", req->rsyslog, "Skip the rsyslog references");
  bench::add_disk_options(*p, req->settle_seconds, req->dir);
  p->add_flag("--json", req->json, "Print one JSON object instead of the table");
  p->callback([req, &exit_code] { exit_code = bench_intake(*req); });
}

} // namespace sluice::cli
