// Micro-benchmarks of the queue's hot paths: CRC32C, and append + read through the disk queue with
// fsync "never" (so the CPU path, not the disk). Figures, never assertions. The end-to-end figures
// beside the disk's own come from `sluice bench queue` (docs/benchmarks.md).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"

namespace {

namespace fs = std::filesystem;
namespace queue = sluice::queue;

constexpr std::size_t k_record_bytes = 300;
constexpr std::size_t k_batch = 64;
// Each iteration writes one batch (about 20 KiB): a fixed count keeps the directory small.
constexpr benchmark::IterationCount k_queue_iterations = 3000;

/// A fresh directory under the system's temporary directory, removed with its contents.
class temp_dir {
public:
  temp_dir() {
    std::string name = (fs::temp_directory_path() / "sluice-microbench-XXXXXX").string();
    if (::mkdtemp(name.data()) != nullptr)
      path_ = name;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty())
      fs::remove_all(path_, ec);
  }
  const fs::path& path() const noexcept { return path_; }

private:
  fs::path path_;
};

/// One batch of printable payloads and the records that point at them.
struct batch_in {
  std::string storage = std::string(k_batch * k_record_bytes, 'x');
  std::vector<queue::record_in> records = std::vector<queue::record_in>(k_batch);
  batch_in() {
    for (std::size_t i = 0; i < k_batch; ++i)
      records[i].payload = std::string_view(storage).substr(i * k_record_bytes, k_record_bytes);
  }
};

std::unique_ptr<queue::queue> open_queue(benchmark::State& state, const temp_dir& dir) {
  queue::disk::options opts;
  opts.dir = dir.path() / "queue";
  opts.fsync.mode = sluice::config::fsync_mode::never;
  auto q = queue::disk::open(opts);
  if (!q) {
    state.SkipWithError(("open: " + q.error().message()).c_str());
    return nullptr;
  }
  return std::move(*q);
}

void bm_crc32c(benchmark::State& state) {
  std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state)
    benchmark::DoNotOptimize(sluice::crc32c(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.SetLabel(sluice::crc32c_is_hardware() ? "sse4.2" : "table");
}
BENCHMARK(bm_crc32c)->Arg(300)->Arg(64 << 10);

// append() of 64 records of 300 B: encoding, CRC, copying into the writer's buffer.
void bm_queue_append(benchmark::State& state) {
  temp_dir dir;
  auto q = open_queue(state, dir);
  if (!q)
    return;
  batch_in in;
  for (auto _ : state) {
    auto r = q->append(in.records);
    if (!r) {
      state.SkipWithError(("append: " + r.error().message()).c_str());
      break;
    }
  }
  (void)q->close(); // after the timed loop: not measured
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * k_batch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k_batch * k_record_bytes));
}
BENCHMARK(bm_queue_append)->Iterations(k_queue_iterations)->UseRealTime();

// The timed loop of the round trips: each iteration appends one batch of 64 records (then syncs,
// with `sync`) and reads until `reader` has them back.
void append_and_read_back(benchmark::State& state, queue::queue& q, queue::reader& reader,
                          bool sync) {
  batch_in in;
  queue::batch out;
  for (auto _ : state) {
    auto r = q.append(in.records);
    if (!r) {
      state.SkipWithError(("append: " + r.error().message()).c_str());
      break;
    }
    if (auto synced = sync ? q.sync() : sluice::result<void>{}; !synced) {
      state.SkipWithError(("sync: " + synced.error().message()).c_str());
      break;
    }
    while (reader.next_position() <= r->last) {
      auto got = reader.read(out, {k_batch, 4u << 20}, std::chrono::milliseconds(1000));
      if (!got) {
        state.SkipWithError(("read: " + got.error().message()).c_str());
        break;
      }
    }
  }
}

// append() of 64 records, then read() until a reader has them back: one record's round trip
// through the writer thread, the segment file and the reader, without an fsync.
void bm_queue_append_read(benchmark::State& state) {
  temp_dir dir;
  auto q = open_queue(state, dir);
  if (!q)
    return;
  auto reader = q->open_reader(queue::start_at::beginning());
  if (!reader) {
    state.SkipWithError(("open_reader: " + reader.error().message()).c_str());
    return;
  }
  append_and_read_back(state, *q, **reader, false);
  reader->reset(); // after the timed loop: not measured
  (void)q->close();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * k_batch));
}
BENCHMARK(bm_queue_append_read)->Iterations(k_queue_iterations)->UseRealTime();

// Reading must not slow down as the queue grows: a backlog of N segments of 4 KiB (13 records of
// 300 B each) read from the start, per record, with N = 10 and N = 10,000. The reader opens each
// next segment by its name, so both cost the same per record (it listed the directory per
// segment before: O(N^2) entries for the backlog).
constexpr std::size_t k_small_segment = 4096;

std::unique_ptr<queue::queue> open_small_segment_queue(benchmark::State& state, const temp_dir& dir,
                                                       std::int64_t segments,
                                                       std::uint64_t& records) {
  queue::disk::options opts;
  opts.dir = dir.path() / "queue";
  opts.fsync.mode = sluice::config::fsync_mode::never;
  opts.segment_bytes = k_small_segment;
  auto q = queue::disk::open(opts);
  if (!q) {
    state.SkipWithError(("open: " + q.error().message()).c_str());
    return nullptr;
  }
  batch_in in;
  std::span<const queue::record_in> some(in.records.data(), 13);
  // Appends of 13 records until the directory holds `segments` files, counted every 1% of them.
  const auto every = static_cast<std::uint64_t>(std::max<std::int64_t>(1, segments / 100));
  records = 0;
  for (std::uint64_t n = 1;; ++n) {
    if (auto r = (*q)->append(some); !r) {
      state.SkipWithError(("append: " + r.error().message()).c_str());
      return nullptr;
    }
    records += some.size();
    if (n % every == 0 && queue::disk::list_segments(opts.dir)
                                  .value_or(std::vector<queue::disk::segment_entry>{})
                                  .size() >= static_cast<std::size_t>(segments))
      break;
  }
  (void)(*q)->sync();
  return std::move(*q);
}

void bm_read_backlog(benchmark::State& state) {
  temp_dir dir;
  std::uint64_t records = 0;
  auto q = open_small_segment_queue(state, dir, state.range(0), records);
  if (!q)
    return;
  queue::batch out;
  for (auto _ : state) {
    auto reader = q->open_reader(queue::start_at::beginning());
    if (!reader) {
      state.SkipWithError(("open_reader: " + reader.error().message()).c_str());
      break;
    }
    std::uint64_t got = 0;
    while (got < records) {
      auto r = (*reader)->read(out, {1024, 4u << 20}, std::chrono::milliseconds(1000));
      if (!r) {
        state.SkipWithError(("read: " + r.error().message()).c_str());
        break;
      }
      got += out.records.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.counters["segments"] =
      static_cast<double>(queue::disk::list_segments(dir.path() / "queue")
                              .value_or(std::vector<queue::disk::segment_entry>{})
                              .size());
  state.counters["listings_per_pass"] = benchmark::Counter(
      static_cast<double>(q->stats().reader_listings.get()), benchmark::Counter::kAvgIterations);
  (void)q->close();
}
BENCHMARK(bm_read_backlog)->Arg(10)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Tailing live on a queue that holds N segments of 4 KiB already: append 64 records (about five
// segment rolls), sync, and read them back, per record, with N = 10 and N = 10,000.
void bm_tail_live(benchmark::State& state) {
  temp_dir dir;
  std::uint64_t records = 0;
  auto q = open_small_segment_queue(state, dir, state.range(0), records);
  if (!q)
    return;
  auto reader = q->open_reader(queue::start_at::end());
  if (!reader) {
    state.SkipWithError(("open_reader: " + reader.error().message()).c_str());
    return;
  }
  // Synced: durable now, not at the writer's next turn, so that the reader's cost shows.
  append_and_read_back(state, *q, **reader, true);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * k_batch));
  state.counters["listings"] = static_cast<double>(q->stats().reader_listings.get());
  reader->reset();
  (void)q->close();
}
// CPU time, not real time: each iteration waits for the writer's sync (a millisecond or two of
// the disk, the same at any N); the main thread's CPU is the append and the reader's work.
BENCHMARK(bm_tail_live)->Arg(10)->Arg(10000)->Iterations(1000);

} // namespace

BENCHMARK_MAIN();
