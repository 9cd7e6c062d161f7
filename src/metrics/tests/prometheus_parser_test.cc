// Feeds a rich rendering to Debian's prometheus_client parser (python3-prometheus-client, run
// with /usr/bin/python3: the python3 on PATH may be another installation without the module).

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/prometheus.h"
#include "support/temp_dir.h"

namespace sluice::metrics {
namespace {

namespace fs = std::filesystem;

constexpr const char* k_script = R"(import json, sys
from prometheus_client.parser import text_string_to_metric_families
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
for fam in text_string_to_metric_families(text):
    print("F", fam.name, fam.type, len(fam.samples), json.dumps(fam.documentation))
    for s in fam.samples:
        print("S", s.name, json.dumps(s.labels, sort_keys=True), repr(s.value))
)";

/// What the script prints for `text`; the exit status in `status`.
std::string parse_with_python(const std::string& text, int& status) {
  sluice::testing::temp_dir dir("metrics");
  std::ofstream(dir / "metrics.prom", std::ios::binary) << text;
  std::ofstream(dir / "parse.py") << k_script;
  std::string command = "/usr/bin/python3 " + (dir / "parse.py").string() + " " +
                        (dir / "metrics.prom").string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    status = -1;
    return {};
  }
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0)
    out.append(buf.data(), n);
  status = ::pclose(pipe);
  return out;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& start) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(start))
      out.push_back(line);
  return out;
}

std::vector<family> rich_families() {
  std::vector<family> f;
  f.push_back({"sluice_events_total",
               "Events accepted, per source.\nA second line with a \\ backslash.",
               kind::counter,
               {{{{"source", "tweets"}, {"node", "n1"}}, 1234567},
                {{{"source", "q\"uote\\back\nnew,comma}brace"}, {"node", "n1"}}, 0},
                {{{"source", "caf\xc3\xa9"}, {"node", "n2"}}, 3}}});
  f.push_back({"sluice_queue_bytes", "Bytes in the queue.", kind::gauge, {{{}, 1.5e9}}});
  f.push_back({"sluice_lag_seconds", "", kind::gauge, {{{{"sink", "a"}}, 0.125}}});
  sluice::histogram h1;
  h1.record(700'000);
  h1.record(20'000'000);
  sluice::histogram h2;
  f.push_back({"sluice_delivery_seconds",
               "Delivery latency.",
               kind::histogram,
               {histogram_seconds(h1, {{"sink", "sqlite"}}, latency_bounds()),
                histogram_seconds(h2, {{"sink", "eventlog"}}, latency_bounds())}});
  return f;
}

TEST(metrics_prometheus_parser, strict_parser_reads_a_rich_rendering) {
  ASSERT_TRUE(fs::exists("/usr/bin/python3")) << "install python3-prometheus-client";
  auto families = rich_families();
  int status = 0;
  auto out = parse_with_python(render_prometheus(families), status);
  ASSERT_EQ(status, 0) << out;

  // Counters lose `_total` in the family name (OpenMetrics style); every family keeps its type,
  // so no sample fell out of its family as "untyped".
  EXPECT_EQ(
      lines_starting(out, "F "),
      (std::vector<std::string>{
          R"(F sluice_events counter 3 "Events accepted, per source.\nA second line with a \\ backslash.")",
          R"(F sluice_queue_bytes gauge 1 "Bytes in the queue.")",
          R"(F sluice_lag_seconds gauge 1 "")",
          // 2 samples x (16 buckets + +Inf + sum + count)
          R"(F sluice_delivery_seconds histogram 38 "Delivery latency.")",
      }))
      << out;
  auto samples = lines_starting(out, "S ");
  EXPECT_EQ(samples.size(), 3u + 1u + 1u + 38u) << out;
  auto has = [&](const std::string& line) {
    return std::find(samples.begin(), samples.end(), line) != samples.end();
  };
  EXPECT_TRUE(has(R"(S sluice_events_total {"node": "n1", "source": "tweets"} 1234567.0)")) << out;
  EXPECT_TRUE(has(
      R"(S sluice_events_total {"node": "n1", "source": "q\"uote\\back\nnew,comma}brace"} 0.0)"))
      << out;
  EXPECT_TRUE(has(R"(S sluice_events_total {"node": "n2", "source": "caf\u00e9"} 3.0)")) << out;
  EXPECT_TRUE(has("S sluice_queue_bytes {} 1500000000.0")) << out;
  EXPECT_TRUE(has(R"(S sluice_lag_seconds {"sink": "a"} 0.125)")) << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_bucket {"le": "0.0005", "sink": "sqlite"} 0.0)"))
      << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_bucket {"le": "0.001", "sink": "sqlite"} 1.0)"))
      << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_bucket {"le": "0.025", "sink": "sqlite"} 2.0)"))
      << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_bucket {"le": "+Inf", "sink": "sqlite"} 2.0)"))
      << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_sum {"sink": "sqlite"} 0.0207)")) << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_count {"sink": "sqlite"} 2.0)")) << out;
  EXPECT_TRUE(has(R"(S sluice_delivery_seconds_count {"sink": "eventlog"} 0.0)")) << out;
}

} // namespace
} // namespace sluice::metrics
