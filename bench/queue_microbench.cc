// Micro-benchmarks of the queue's hot paths: CRC32C, and append + read through the disk queue with
// fsync "never" (so the CPU path, not the disk). Figures, never assertions. The end-to-end figures
// beside the disk's own come from `sluice bench queue` (docs/benchmarks.md).

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
  batch_in in;
  queue::batch out;
  for (auto _ : state) {
    auto r = q->append(in.records);
    if (!r) {
      state.SkipWithError(("append: " + r.error().message()).c_str());
      break;
    }
    while ((*reader)->next_position() <= r->last) {
      auto got = (*reader)->read(out, {k_batch, 4u << 20}, std::chrono::milliseconds(1000));
      if (!got) {
        state.SkipWithError(("read: " + got.error().message()).c_str());
        break;
      }
    }
  }
  reader->reset(); // after the timed loop: not measured
  (void)q->close();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * k_batch));
}
BENCHMARK(bm_queue_append_read)->Iterations(k_queue_iterations)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
