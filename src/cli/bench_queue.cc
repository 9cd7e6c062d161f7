// `sluice bench queue`: appends, durability latency and reads of the disk queue, measured beside
// what the disk under it can do with plain write() + fdatasync() in the same directory.
// docs/benchmarks.md says what each figure means.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/bench_disk.h"
#include "cli/verbs.h"
#include "queue/disk/disk_queue.h"
#include "queue/disk/format.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
namespace disk = queue::disk;
using bench::checked;
using bench::failure;
using bench::interrupt_guard;
using bench::peak_rss_mib;

constexpr std::uint64_t k_default_records = 2'000'000;
constexpr std::uint64_t k_default_records_always = 200'000; // each append waits for an fsync
constexpr std::size_t k_header_bytes = disk::format::k_record_header_bytes;
constexpr queue::read_limits k_read_limits{4096, 4u << 20};

/// What `sluice bench queue` was asked to do.
struct bench_request {
  std::uint64_t records = k_default_records;
  bool records_given = false;
  std::size_t record_bytes = 300;
  std::string fsync = "10ms";
  unsigned appenders = 1;
  std::size_t batch = 64;
  std::uint64_t settle_seconds = bench::k_default_settle_limit.count();
  std::string dir;
  bool json = false;
};

/// What one run measured.
struct bench_figures {
  double append_seconds = 0;
  double appends_per_s = 0;
  double mb_per_s = 0; ///< record bytes + header, the bytes the raw reference writes
  double p50_durable_us = 0;
  double p99_durable_us = 0;
  std::uint64_t fsyncs = 0;
  double p50_fsync_us = 0;
  double p99_fsync_us = 0;
  double read_seconds = 0;
  double reads_per_s = 0;
  double rss_mib = 0;
  double raw_mb_per_s = 0;
  double fsync_per_record_per_s = 0; ///< measured only with fsync "always"
};

double seconds_since(std::int64_t start_ns) {
  return static_cast<double>(now_mono_ns() - start_ns) / 1e9;
}

/// The payloads every appender sends, prepared once: `batch` printable strings of `bytes` bytes,
/// neighbours different at every byte, so a reader can tell a shifted or torn record.
class payload_set {
public:
  payload_set(std::size_t batch, std::size_t bytes) : storage_(batch * bytes, ' ') {
    views_.reserve(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      char* p = storage_.data() + i * bytes;
      for (std::size_t j = 0; j < bytes; ++j)
        p[j] = static_cast<char>('a' + (i + j) % 26);
      views_.emplace_back(p, bytes);
    }
  }
  std::size_t size() const noexcept { return views_.size(); }
  std::string_view operator[](std::size_t i) const noexcept { return views_[i]; }

private:
  std::string storage_;
  std::vector<std::string_view> views_;
};

/// One appender thread's share and how it went.
struct appender {
  std::uint64_t records = 0;
  std::vector<queue::record_in> batch;
  std::string error;
};

void append_share(queue::queue& q, appender& a, std::latch& ready, std::latch& go) {
  ready.count_down();
  go.wait();
  std::uint64_t left = a.records;
  while (left > 0 && !bench::interrupted().load(std::memory_order_relaxed)) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, a.batch.size()));
    std::int64_t now = now_unix_ns();
    for (std::size_t i = 0; i < n; ++i)
      a.batch[i].received_ns = now;
    auto r = q.append(std::span<const queue::record_in>(a.batch.data(), n));
    if (!r) {
      a.error = "append: " + r.error().message();
      return;
    }
    if (r->appended != n || r->dropped != 0 || r->last - r->first + 1 != n) {
      a.error = fmt::format("append of {} records gave {} (positions {}..{}, {} dropped)", n,
                            r->appended, r->first, r->last, r->dropped);
      return;
    }
    left -= n;
  }
}

/// Appends req.records records from req.appenders threads and makes them durable. Returns the
/// seconds from the first append until sync() returned.
checked<double> append_all(queue::queue& q, const bench_request& req, const payload_set& p) {
  std::vector<appender> shares(req.appenders);
  for (unsigned k = 0; k < req.appenders; ++k) {
    shares[k].records = req.records / req.appenders + (k < req.records % req.appenders ? 1 : 0);
    shares[k].batch.resize(req.batch);
    for (std::size_t i = 0; i < req.batch; ++i)
      shares[k].batch[i].payload = p[i];
  }
  std::latch ready(req.appenders);
  std::latch go(1);
  std::vector<std::thread> threads;
  threads.reserve(req.appenders);
  for (auto& a : shares)
    threads.emplace_back(append_share, std::ref(q), std::ref(a), std::ref(ready), std::ref(go));
  ready.wait();
  std::int64_t start = now_mono_ns();
  go.count_down();
  for (auto& t : threads)
    t.join();
  auto synced = q.sync();
  double secs = seconds_since(start);
  for (const auto& a : shares)
    if (!a.error.empty())
      return failure(a.error);
  if (bench::interrupted().load())
    return failure("interrupted");
  if (!synced)
    return failure("sync: " + synced.error().message());
  if (q.last_position() != req.records || q.durable_watermark() != req.records)
    return failure(fmt::format("after {} appends: last position {}, durable watermark {}",
                               req.records, q.last_position(), q.durable_watermark()));
  return secs;
}

/// Checks one record read back: the next position, and the payload an appender sent there (each
/// append() call sends payloads 0, 1, 2, ... of the set, and its records stay contiguous).
checked<void> check_record(const queue::record& r, queue::position expected, const payload_set& p,
                           std::size_t& index) {
  if (r.pos != expected)
    return failure(fmt::format("read position {} where {} was expected", r.pos, expected));
  std::size_t next = index + 1 < p.size() ? index + 1 : 0;
  if (r.payload == p[next]) {
    index = next;
  } else if (r.payload == p[0]) {
    index = 0;
  } else {
    return failure(fmt::format("record {}: payload of {} bytes is not what was appended", r.pos,
                               r.payload.size()));
  }
  return {};
}

/// Reads every record from the beginning and checks it. Returns the seconds it took.
checked<double> read_all(queue::queue& q, std::uint64_t records, const payload_set& p) {
  auto reader = q.open_reader(queue::start_at::beginning());
  if (!reader)
    return failure("open_reader: " + reader.error().message());
  queue::batch b;
  b.records.reserve(k_read_limits.max_records);
  queue::position expected = 1;
  std::size_t index = p.size() - 1; // so that the first record must be payload 0
  std::int64_t start = now_mono_ns();
  while (expected <= records && !bench::interrupted().load(std::memory_order_relaxed)) {
    auto r = (*reader)->read(b, k_read_limits, std::chrono::milliseconds(2000));
    if (!r)
      return failure(fmt::format("read after position {} of {}: {}", expected - 1, records,
                                 r.error().message()));
    if (b.damaged_records != 0)
      return failure(fmt::format("read found {} damaged records", b.damaged_records));
    for (const auto& rec : b.records) {
      if (auto c = check_record(rec, expected, p, index); !c)
        return failure(c.error());
      ++expected;
    }
  }
  double secs = seconds_since(start);
  if (expected <= records)
    return failure("interrupted");
  return secs;
}

/// Opens the queue in `dir`, appends, reads back, closes. Fills the queue's figures.
checked<void> measure_queue(const fs::path& dir, const bench_request& req,
                            const disk::options& base, bench_figures& f) {
  disk::options opts = base;
  opts.dir = dir;
  std::string detail;
  auto q = disk::open(opts, &detail);
  if (!q)
    return failure(fmt::format("open queue: {} {}", q.error().message(), detail));
  payload_set payloads(req.batch, req.record_bytes);

  auto appended = append_all(**q, req, payloads);
  if (!appended)
    return failure(appended.error());
  f.append_seconds = *appended;
  const auto& stats = (*q)->stats();
  f.p50_durable_us = static_cast<double>(stats.durable_ns.quantile(0.50)) / 1e3;
  f.p99_durable_us = static_cast<double>(stats.durable_ns.quantile(0.99)) / 1e3;
  f.fsyncs = stats.fsyncs.get();
  f.p50_fsync_us = static_cast<double>(stats.fsync_ns.quantile(0.50)) / 1e3;
  f.p99_fsync_us = static_cast<double>(stats.fsync_ns.quantile(0.99)) / 1e3;

  auto read = read_all(**q, req.records, payloads);
  if (!read)
    return failure(read.error());
  f.read_seconds = *read;

  if (auto closed = (*q)->close(); !closed)
    return failure("close: " + closed.error().message());
  return {};
}

/// One whole run in one fresh directory: an untimed warm-up write (bench::warm_page_cache), the
/// physical reference on a settled disk (bench::settle: a previous run's directory may just have
/// gone), then the queue.
checked<bench_figures> run_bench(const bench_request& req, const disk::options& opts) {
  auto parent = bench::pick_parent(req.dir);
  if (!parent)
    return failure(parent.error());
  const std::uint64_t disk_bytes = req.records * (req.record_bytes + k_header_bytes);
  bench::scratch_dir scratch;
  auto raw = bench::prepare_scratch(*parent, disk_bytes + disk_bytes / 20 + (256u << 20),
                                    disk_bytes, std::chrono::seconds(req.settle_seconds), scratch);
  if (!raw)
    return failure(raw.error());
  bench_figures f;
  f.raw_mb_per_s = *raw;
  if (opts.fsync.mode == config::fsync_mode::always) {
    auto per_record =
        bench::measure_fsync_per_record(scratch.path() / "fsync-reference",
                                        req.record_bytes + k_header_bytes, bench::interrupted());
    if (!per_record)
      return failure("fsync reference: " + per_record.error());
    f.fsync_per_record_per_s = *per_record;
  }
  if (bench::interrupted().load())
    return failure("interrupted");

  if (auto measured = measure_queue(scratch.path() / "queue", req, opts, f); !measured)
    return failure(measured.error());
  f.appends_per_s = static_cast<double>(req.records) / f.append_seconds;
  f.mb_per_s = static_cast<double>(disk_bytes) / 1e6 / f.append_seconds;
  f.reads_per_s = static_cast<double>(req.records) / f.read_seconds;
  f.rss_mib = peak_rss_mib();
  return f;
}

void print_json(const bench_request& req, bool always, const bench_figures& f) {
  nlohmann::json j = {
      {"records", req.records},
      {"record_bytes", req.record_bytes},
      {"fsync", req.fsync},
      {"appenders", req.appenders},
      {"batch", req.batch},
      {"appends_per_s", f.appends_per_s},
      {"mb_per_s", f.mb_per_s},
      {"append_seconds", f.append_seconds},
      {"p50_durable_us", f.p50_durable_us},
      {"p99_durable_us", f.p99_durable_us},
      {"fsyncs", f.fsyncs},
      {"p50_fsync_us", f.p50_fsync_us},
      {"p99_fsync_us", f.p99_fsync_us},
      {"reads_per_s", f.reads_per_s},
      {"read_seconds", f.read_seconds},
      {"rss_mib", f.rss_mib},
      {"raw_mb_per_s", f.raw_mb_per_s},
  };
  if (always)
    j["fsync_per_record_per_s"] = f.fsync_per_record_per_s;
  std::printf("%s\n", j.dump().c_str());
}

// One line of the table: name, figure, and what to compare it with.
std::string table_line(std::string_view name, std::string figure, std::string_view beside = {}) {
  std::string line = fmt::format("  {:<16}{:>14}", name, figure);
  if (!beside.empty())
    line += fmt::format("  {}", beside);
  return line + "\n";
}

void print_table(const bench_request& req, bool always, const bench_figures& f) {
  std::string out = fmt::format(
      "sluice bench queue: {} records of {} B, fsync {}, {} appender{}, {} records per append\n",
      req.records, req.record_bytes, req.fsync, req.appenders, req.appenders == 1 ? "" : "s",
      req.batch);
  std::string beside;
  if (always)
    beside = fmt::format("(one fsync per record: {:.0f}/s; {:.1f}x that)", f.fsync_per_record_per_s,
                         f.appends_per_s / f.fsync_per_record_per_s);
  out += table_line("appends_per_s", fmt::format("{:.0f}", f.appends_per_s), beside);
  out += table_line("mb_per_s", fmt::format("{:.1f}", f.mb_per_s),
                    fmt::format("(raw write+fdatasync {:.1f}, {:.0f}%)", f.raw_mb_per_s,
                                100.0 * f.mb_per_s / f.raw_mb_per_s));
  out += table_line("p50_durable_us", fmt::format("{:.0f}", f.p50_durable_us),
                    fmt::format("({} fsyncs in {:.2f} s, p50 {:.0f} us, p99 {:.0f} us)", f.fsyncs,
                                f.append_seconds, f.p50_fsync_us, f.p99_fsync_us));
  out += table_line("p99_durable_us", fmt::format("{:.0f}", f.p99_durable_us));
  out += table_line("reads_per_s", fmt::format("{:.0f}", f.reads_per_s),
                    fmt::format("({:.2f} s)", f.read_seconds));
  out += table_line("rss_mib", fmt::format("{:.1f}", f.rss_mib));
  std::fputs(out.c_str(), stdout);
}

int bench_queue(bench_request req) {
  disk::options opts;
  auto fsync = config::fsync_setting::parse(req.fsync);
  if (!fsync) {
    std::fprintf(stderr, "sluice bench queue: --fsync %s: expected always, never or a duration\n",
                 req.fsync.c_str());
    return 2;
  }
  opts.fsync = *fsync;
  const bool always = opts.fsync.mode == config::fsync_mode::always;
  if (!req.records_given && always)
    req.records = k_default_records_always;

  interrupt_guard guard;
  auto figures = run_bench(req, opts);
  if (!figures) {
    std::fprintf(stderr, "sluice bench queue: %s\n", figures.error().c_str());
    return 1;
  }
  if (req.json) {
    print_json(req, always, *figures);
  } else {
    print_table(req, always, *figures);
  }
  std::fflush(stdout);
  return 0;
}

} // namespace

void add_bench_commands(CLI::App& root, int& exit_code) {
  auto* bench_cmd = root.add_subcommand("bench", "Measure sluice on this machine");
  bench_cmd->require_subcommand(1);

  auto req = std::make_shared<bench_request>();
  auto* q = bench_cmd->add_subcommand(
      "queue", "Append, make durable and read back records through the disk queue, beside plain "
               "write()+fdatasync() in the same directory");
  auto* records = q->add_option("--records", req->records,
                                "Records to append (default 2000000; 200000 with --fsync always)")
                      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  q->add_option("--record-bytes", req->record_bytes, "Payload bytes per record")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{16} << 20));
  q->add_option("--fsync", req->fsync, "always | never | a group-commit interval such as 10ms")
      ->capture_default_str();
  q->add_option("--appenders", req->appenders, "Appending threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  q->add_option("--batch", req->batch, "Records per append() call")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  bench::add_disk_options(*q, req->settle_seconds, req->dir);
  q->add_flag("--json", req->json, "Print one JSON object instead of the table");
  q->callback([req, records, &exit_code] {
    bench_request run = *req;
    run.records_given = records->count() > 0;
    if (run.batch * run.record_bytes > (std::size_t{256} << 20)) {
      std::fprintf(stderr,
                   "sluice bench queue: --batch x --record-bytes must stay under 256 MiB\n");
      exit_code = 2;
      return;
    }
    exit_code = bench_queue(std::move(run));
  });
  add_bench_pipeline_command(*bench_cmd, exit_code);
  add_bench_intake_command(*bench_cmd, exit_code);
  add_bench_redis_command(*bench_cmd, exit_code);
}

} // namespace sluice::cli
