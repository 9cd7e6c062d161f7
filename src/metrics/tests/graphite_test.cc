#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/graphite.h"

namespace sluice::metrics {
namespace {

std::vector<family> families() {
  std::vector<family> f;
  f.push_back(
      {"sluice_events_total",
       "Events.",
       kind::counter,
       {{{{"source", "a.b c"}, {"kind", ""}}, 42}, {{{"source", "x-y_Z9"}, {"kind", "k"}}, 7}}});
  f.push_back({"queue_bytes", "", kind::gauge, {{{}, 1.5}}});
  f.push_back({"sluice_broken", "", kind::gauge, {{{}, std::nan("")}}});
  sample h;
  h.labels = {{"sink", "s"}};
  h.buckets = {{0.5, 1}, {1, 3}};
  h.count = 4;
  h.sum = 2.25;
  sample empty;
  empty.labels = {{"sink", "idle"}};
  empty.buckets = {{0.5, 0}};
  f.push_back({"sluice_latency_seconds", "", kind::histogram, {h, empty}});
  return f;
}

TEST(metrics_graphite, renders_paths_values_and_timestamps) {
  auto f = families();
  EXPECT_EQ(render_graphite(f, "sluice", 1700000000),
            "sluice.events_total.a_b_c._ 42 1700000000\n"
            "sluice.events_total.x-y_Z9.k 7 1700000000\n"
            "sluice.queue_bytes 1.5 1700000000\n"
            "sluice.latency_seconds.s.count 4 1700000000\n"
            "sluice.latency_seconds.s.sum 2.25 1700000000\n"
            "sluice.latency_seconds.s.p50 0.75 1700000000\n"
            "sluice.latency_seconds.s.p99 1 1700000000\n"
            "sluice.latency_seconds.idle.count 0 1700000000\n"
            "sluice.latency_seconds.idle.sum 0 1700000000\n");
}

TEST(metrics_graphite, empty_prefix_starts_at_the_name) {
  std::vector<family> f = {{"sluice_up", "", kind::gauge, {{{}, 1}}},
                           {"rec:rule", "", kind::gauge, {{{{"host", "10.0.0.1:80"}}, -2}}}};
  EXPECT_EQ(render_graphite(f, "", 5), "up 1 5\nrec_rule.10_0_0_1_80 -2 5\n");
}

TEST(metrics_graphite, nested_prefix_is_kept_as_given) {
  std::vector<family> f = {{"sluice_up", "", kind::gauge, {{{}, 1}}}};
  EXPECT_EQ(render_graphite(f, "prod.node1", 5), "prod.node1.up 1 5\n");
}

} // namespace
} // namespace sluice::metrics
