#include <chrono>
#include <cstdio>
#include <ctime>

#include <gtest/gtest.h>

#include "sink_helpers.h"
#include "sinks/eventlog.h"
#include "sinks/sqlite.h"
#include "support/temp_dir.h"

// Rates, not assertions: run with --gtest_also_run_disabled_tests --gtest_filter='*rate*'.
namespace sluice::sinks {
namespace {

constexpr std::size_t k_batch = 500, k_batches = 400, k_bytes = 300;

template <class S> void measure(const char* what, S& sink) {
  auto events = testing::event_batch::make(1, k_batch * k_batches, 1, k_bytes);
  auto views = events.views();
  auto t0 = std::chrono::steady_clock::now();
  auto c0 = std::clock();
  for (std::size_t i = 0; i < k_batches; ++i)
    ASSERT_TRUE(sink.write(std::span(views).subspan(i * k_batch, k_batch)));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("%s: %zu events in %.3f s: %.0f events/s, %.2f ms/batch of which %.2f ms CPU\n", what,
              views.size(), s, static_cast<double>(views.size()) / s, s * 1000 / k_batches,
              cpu * 1000 / k_batches);
}

TEST(sinks_rate, DISABLED_eventlog) {
  sluice::testing::temp_dir dir;
  eventlog_options o;
  o.dir = dir.path();
  auto sink = eventlog_sink::open(o);
  ASSERT_TRUE(sink);
  measure("eventlog", **sink);
}

TEST(sinks_rate, DISABLED_sqlite) {
  sluice::testing::temp_dir dir;
  sqlite_options o;
  o.path = dir / "s.db";
  o.table = "events";
  auto sink = sqlite_sink::open(o);
  ASSERT_TRUE(sink);
  measure("sqlite", **sink);
}

} // namespace
} // namespace sluice::sinks
