// The API's pieces without a server: times, tokens, the overlay of persisted changes.

#include <fmt/format.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "api/overlay.h"
#include "api/render.h"
#include "api/token.h"
#include "metrics/prometheus.h"
#include "sinks/sink.h"
#include "sources/counters.h"
#include "support/temp_dir.h"

namespace sluice::api {
namespace {

using sluice::testing::temp_dir;

TEST(api_time, parses_rfc3339_with_fractions_and_offsets) {
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("2026-12-04T06:00:00Z"), 1796364000LL * 1000000000);
  EXPECT_EQ(parse_time("2026-12-04T06:00:00.25Z"), 1796364000LL * 1000000000 + 250000000);
  EXPECT_EQ(parse_time("2026-12-04T07:30:00+01:30"), 1796364000LL * 1000000000);
  EXPECT_EQ(parse_time("2026-12-04T04:00:00-02:00"), 1796364000LL * 1000000000);
  for (const char* bad : {"", "2026-12-04", "2026-12-04T06:00:00", "2026-13-04T06:00:00Z",
                          "2026-12-04T06:00:00.Z", "2026-12-04T06:00:00Zjunk", "yesterday"})
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
}

TEST(api_time, formats_what_it_parses) {
  auto t = *parse_time("2026-12-04T06:07:08.123Z");
  EXPECT_EQ(time_json(t), "2026-12-04T06:07:08.123Z");
  EXPECT_TRUE(time_json(0).is_null());
}

TEST(api_token, is_created_once_with_mode_0600_and_read_back) {
  temp_dir dir;
  auto path = dir / "data" / "api.token";
  std::string error;
  auto first = load_or_create_token(path, error);
  ASSERT_TRUE(first) << error;
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = load_or_create_token(path, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(*again, *first);
}

TEST(api_token, an_empty_file_is_an_error_naming_it) {
  temp_dir dir;
  auto path = dir / "api.token";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fclose(f);
  }
  std::string error;
  EXPECT_FALSE(load_or_create_token(path, error));
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
}

TEST(api_token, bearer_matches_only_the_exact_token) {
  EXPECT_TRUE(bearer_matches("Bearer abc123", "abc123"));
  EXPECT_FALSE(bearer_matches("Bearer abc12", "abc123"));
  EXPECT_FALSE(bearer_matches("Bearer abc1234", "abc123"));
  EXPECT_FALSE(bearer_matches("bearer abc123", "abc123"));
  EXPECT_FALSE(bearer_matches("Basic abc123", "abc123"));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));
}

constexpr std::string_view k_file = R"(
data_dir = "/tmp/x"
[sources.s]
type = "http"
url = "http://127.0.0.1:1/stream"
params = { track = ["a", "b"], follow = "1" }
[subscriptions.file_sub]
sink = { type = "eventlog", dir = "/tmp/x/events" }
)";

TEST(api_overlay, applies_params_enabled_subscriptions_and_pauses) {
  auto doc = config::load_string(k_file, "test.toml");
  overlay o;
  o.streams["s"].params["track"] = {"c"};
  o.streams["s"].enabled = false;
  o.subscriptions["api_sub"] = {{"sink", {{"type", "sqlite"}, {"path", "/tmp/x/db.sqlite"}}},
                                {"start", "end"}};
  o.paused = {"file_sub"};
  std::vector<std::string> dropped;
  auto cfg = effective_config(doc, o, dropped);
  EXPECT_TRUE(dropped.empty());
  ASSERT_EQ(cfg.sources.size(), 1u);
  EXPECT_FALSE(cfg.sources[0].enabled);
  config::option_entries want{{"follow", {"1"}}, {"track", {"c"}}};
  EXPECT_EQ(cfg.sources[0].settings.entries("params"), want);
  ASSERT_EQ(cfg.subscriptions.size(), 2u);
  EXPECT_EQ(cfg.subscriptions[0].name, "api_sub");
  EXPECT_EQ(cfg.subscriptions[0].start, config::start_position::end);
  EXPECT_FALSE(cfg.subscriptions[0].paused);
  EXPECT_EQ(cfg.subscriptions[1].name, "file_sub");
  EXPECT_TRUE(cfg.subscriptions[1].paused);
}

TEST(api_overlay, leaves_out_what_no_longer_fits_the_file) {
  auto doc = config::load_string(k_file, "test.toml");
  overlay o;
  o.streams["gone"].params["track"] = {"x"};
  o.subscriptions["file_sub"] = {{"sink", {{"type", "eventlog"}, {"dir", "/tmp/x/other"}}}};
  o.subscriptions["broken"] = {{"sink", {{"type", "eventlog"}, {"dirx", "/tmp/x/b"}}}};
  o.paused = {"nobody"};
  std::vector<std::string> dropped;
  auto cfg = effective_config(doc, o, dropped);
  ASSERT_EQ(dropped.size(), 4u);
  EXPECT_NE(dropped[0].find("stream gone"), std::string::npos) << dropped[0];
  EXPECT_NE(dropped[1].find("subscription broken"), std::string::npos) << dropped[1];
  EXPECT_NE(dropped[1].find("dirx"), std::string::npos) << dropped[1];
  EXPECT_NE(dropped[2].find("the file now defines"), std::string::npos) << dropped[2];
  EXPECT_NE(dropped[3].find("nobody"), std::string::npos) << dropped[3];
  ASSERT_EQ(cfg.subscriptions.size(), 1u);
  EXPECT_EQ(cfg.subscriptions[0].sink.string("dir"), "/tmp/x/events");
}

TEST(api_overlay, survives_a_save_and_a_load) {
  temp_dir dir;
  overlay o;
  o.streams["s"].params["track"] = {"a", "b"};
  o.streams["t"].enabled = true;
  o.subscriptions["x"] = {{"sink", {{"type", "eventlog"}, {"dir", "/d/x"}}}, {"batch", 10}};
  o.paused = {"x"};
  std::string error;
  ASSERT_TRUE(save_overlay(dir / "api-state.json", o, error)) << error;
  auto back = load_overlay(dir / "api-state.json", error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, o);
  auto none = load_overlay(dir / "missing.json", error);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, overlay{});
}

TEST(api_overlay, a_damaged_file_is_an_error_naming_it) {
  temp_dir dir;
  auto path = dir / "api-state.json";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"streams\": [", f);
    std::fclose(f);
  }
  std::string error;
  EXPECT_FALSE(load_overlay(path, error));
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
}

// Every count of every source and sink, each a different value, so that a count shown in the
// wrong place or not at all fails: /metrics has each as a sample, /meta.json each by name.
TEST(api_counts, every_source_and_sink_count_reaches_metrics_and_meta) {
  view v;
  pipeline::source_status src;
  src.name = "in";
  src.type = "listen";
  std::uint64_t n = 1;
  for (const auto& f : sources::source_count_fields())
    src.counts.*f.member = 1000 + n++;
  v.status.sources.push_back(src);
  v.source_rates.resize(1);
  pipeline::subscription_status sub;
  sub.name = "out";
  sub.sink = "eventlog";
  sub.continuous = true;
  for (const auto& f : sinks::sink_count_fields())
    sub.sink_counts.*f.member = 2000 + n++;
  v.status.subscriptions.push_back(sub);
  v.subscription_rates.resize(1);
  board b;
  auto text = metrics::render_prometheus(families(v, b, nullptr));
  for (const auto& f : sources::source_count_fields()) {
    auto line = *f.reason == '\0'
                    ? fmt::format("sluice_source_{}_total{{source=\"in\"}} {}\n", f.metric,
                                  src.counts.*f.member)
                    : fmt::format("sluice_source_{}_total{{source=\"in\",reason=\"{}\"}} {}\n",
                                  f.metric, f.reason, src.counts.*f.member);
    EXPECT_NE(text.find(line), std::string::npos) << f.name << ": no line " << line;
  }
  for (const auto& f : sinks::sink_count_fields()) {
    auto line = fmt::format("sluice_sink_{}_total{{subscription=\"out\",sink=\"eventlog\"}} {}\n",
                            f.name, sub.sink_counts.*f.member);
    EXPECT_NE(text.find(line), std::string::npos) << f.name << ": no line " << line;
  }
  auto meta = meta_json(v, b, "host", 1);
  const auto& counts = meta["sources"][0]["counts"];
  for (const auto& f : sources::source_count_fields())
    EXPECT_EQ(counts.value(f.name, std::uint64_t{0}), src.counts.*f.member) << f.name;
  EXPECT_EQ(meta["sources"][0]["rejected"], src.counts.rejected());
  // The sum over restarts adds every count.
  auto twice = src.counts;
  twice += src.counts;
  for (const auto& f : sources::source_count_fields())
    EXPECT_EQ(twice.*f.member, 2 * (src.counts.*f.member)) << f.name;
}

} // namespace
} // namespace sluice::api
