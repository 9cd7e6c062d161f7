#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/prometheus.h"

namespace sluice::metrics {
namespace {

std::vector<family> small_families() {
  std::vector<family> f;
  f.push_back({"sluice_events_total",
               "Events accepted.",
               kind::counter,
               {{{{"source", "a"}}, 42}, {{{"source", "b\"x\\y\nz"}}, 7}}});
  f.push_back({"sluice_queue_bytes", "Bytes.\nSecond \\ line", kind::gauge, {{{}, 1.5}}});
  sample h;
  h.labels = {{"sink", "s"}};
  h.buckets = {{0.5, 1}, {1, 3}};
  h.count = 4;
  h.sum = 2.25;
  f.push_back({"sluice_latency_seconds", "Latency.", kind::histogram, {h}});
  return f;
}

TEST(metrics_prometheus, renders_counter_gauge_and_histogram_exactly) {
  auto families = small_families();
  EXPECT_EQ(render_prometheus(families), "# HELP sluice_events_total Events accepted.\n"
                                         "# TYPE sluice_events_total counter\n"
                                         "sluice_events_total{source=\"a\"} 42\n"
                                         "sluice_events_total{source=\"b\\\"x\\\\y\\nz\"} 7\n"
                                         "# HELP sluice_queue_bytes Bytes.\\nSecond \\\\ line\n"
                                         "# TYPE sluice_queue_bytes gauge\n"
                                         "sluice_queue_bytes 1.5\n"
                                         "# HELP sluice_latency_seconds Latency.\n"
                                         "# TYPE sluice_latency_seconds histogram\n"
                                         "sluice_latency_seconds_bucket{sink=\"s\",le=\"0.5\"} 1\n"
                                         "sluice_latency_seconds_bucket{sink=\"s\",le=\"1\"} 3\n"
                                         "sluice_latency_seconds_bucket{sink=\"s\",le=\"+Inf\"} 4\n"
                                         "sluice_latency_seconds_sum{sink=\"s\"} 2.25\n"
                                         "sluice_latency_seconds_count{sink=\"s\"} 4\n");
}

TEST(metrics_prometheus, histogram_without_labels_has_only_le) {
  sample h;
  h.buckets = {{0.001, 0}};
  h.count = 2;
  h.sum = 0.5;
  std::vector<family> f = {{"lat_seconds", "", kind::histogram, {h}}};
  EXPECT_EQ(render_prometheus(f), "# TYPE lat_seconds histogram\n"
                                  "lat_seconds_bucket{le=\"0.001\"} 0\n"
                                  "lat_seconds_bucket{le=\"+Inf\"} 2\n"
                                  "lat_seconds_sum 0.5\n"
                                  "lat_seconds_count 2\n");
}

TEST(metrics_prometheus, spells_special_and_large_values) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<family> f = {{"x",
                            "",
                            kind::gauge,
                            {{{{"v", "nan"}}, std::nan("")},
                             {{{"v", "inf"}}, inf},
                             {{{"v", "-inf"}}, -inf},
                             {{{"v", "big"}}, 1e20},
                             {{{"v", "int"}}, 9007199254740993.0},
                             {{{"v", "neg"}}, -3},
                             {{{"v", "small"}}, 1e-05},
                             {{{"v", "third"}}, 1.0 / 3}}}};
  EXPECT_EQ(render_prometheus(f), "# TYPE x gauge\n"
                                  "x{v=\"nan\"} NaN\n"
                                  "x{v=\"inf\"} +Inf\n"
                                  "x{v=\"-inf\"} -Inf\n"
                                  "x{v=\"big\"} 1e+20\n"
                                  "x{v=\"int\"} 9007199254740992\n"
                                  "x{v=\"neg\"} -3\n"
                                  "x{v=\"small\"} 1e-05\n"
                                  "x{v=\"third\"} 0.3333333333333333\n");
}

TEST(metrics_prometheus, family_without_samples_has_its_header_only) {
  std::vector<family> f = {{"sluice_up", "Up.", kind::gauge, {}}};
  EXPECT_EQ(render_prometheus(f), "# HELP sluice_up Up.\n# TYPE sluice_up gauge\n");
}

TEST(metrics_prometheus, validates_metric_and_label_names) {
  EXPECT_TRUE(valid_metric_name("sluice_events_total"));
  EXPECT_TRUE(valid_metric_name(":a_b:c9"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name("a b"));
  EXPECT_TRUE(valid_label_name("source"));
  EXPECT_TRUE(valid_label_name("_a9"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("1a"));
  EXPECT_FALSE(valid_label_name(""));
}

TEST(metrics_prometheus, content_type_is_text_format_0_0_4) {
  EXPECT_EQ(k_prometheus_content_type, "text/plain; version=0.0.4; charset=utf-8");
}

} // namespace
} // namespace sluice::metrics
