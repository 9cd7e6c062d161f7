// Micro-benchmark of the firehose's event generator, which feeds `sluice bench pipeline` and
// `sluice firehose`: how many events per second one thread makes, so that a benchmark that drives
// sluice from it knows the generator is not its limit. Figures, never assertions.

#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "firehose/generator.h"

namespace {

namespace firehose = sluice::firehose;

// Each iteration appends one event to a buffer that is handed on (cleared) past 1 MiB, as the
// firehose's connection loop does.
void generator_append_next(benchmark::State& state) {
  firehose::stream_options o;
  firehose::generator gen(o);
  std::string buf;
  buf.reserve(1u << 21);
  std::int64_t bytes = 0;
  for (auto _ : state) {
    gen.append_next(buf);
    if (buf.size() > (1u << 20)) {
      bytes += static_cast<std::int64_t>(buf.size());
      buf.clear();
    }
  }
  bytes += static_cast<std::int64_t>(buf.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(generator_append_next);

} // namespace

BENCHMARK_MAIN();
