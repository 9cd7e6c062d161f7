// A sink type built outside src/sinks, entirely in this file: its option table and its
// descriptor. Registered, the configuration, `sluice validate`, the runner and its status take it
// as they take a built-in one; nothing else in the tree names it.

#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/config_error.h"
#include "config/tables.h"
#include "pipeline/runner.h"
#include "support/temp_dir.h"
#include "sinks/sink_type.h"
#include "support/eventually.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::temp_dir;

constexpr config::option tally_list[] = {
    {.name = "label", .required = true, .help = "Where the ids are tallied."},
    {.name = "limit",
     .type = config::option_type::integer,
     .default_value = "1000",
     .help = "At most this many ids are kept.",
     .min = 1},
};

const config::option_table tally_options{
    .title = "sink type \"tally\"",
    .kind = "tally",
    .help = "Keeps the ids it was given, in memory.",
    .options = tally_list,
};

std::mutex tally_mutex;
std::map<std::string, std::vector<queue::position>> tallied; // label -> ids, under tally_mutex

class tally_sink final : public sinks::sink {
public:
  tally_sink(std::string label, std::size_t limit) : label_(std::move(label)), limit_(limit) {}

  result<void> write(std::span<const queue::event_view> batch) override {
    std::lock_guard lock(tally_mutex);
    auto& ids = tallied[label_];
    for (const auto& e : batch)
      if (ids.size() < limit_)
        ids.push_back(e.id);
    sinks::sink_counters::add(counters_.events_written, batch.size());
    sinks::sink_counters::add(counters_.batches);
    return {};
  }
  std::string_view type() const noexcept override { return "tally"; }

private:
  std::string label_;
  std::size_t limit_;
};

const sinks::sink_type tally_type{
    .name = "tally",
    .options = &tally_options,
    .open = [](const config::option_values& v,
               const sinks::sink_context&) -> result<std::unique_ptr<sinks::sink>> {
      return std::make_unique<tally_sink>(v.string("label"),
                                          static_cast<std::size_t>(v.integer("limit")));
    },
    .target = [](const config::option_values& v) { return "label " + v.string("label"); },
};

std::string config_text(const temp_dir& d, std::string_view sink) {
  return fmt::format("data_dir = \"{}\"\n[queue]\nfsync = \"1ms\"\n[subscriptions.t]\nsink = {}\n",
                     (d / "data").string(), sink);
}

TEST(sink_type, a_sink_type_in_one_file_runs_like_a_built_in_one) {
  temp_dir d;
  const auto text = config_text(d, "{ type = \"tally\", label = \"x\" }");
  EXPECT_THROW(config::load_pipeline_string(text, "t.toml"), config::config_exception);

  sinks::register_sink_type(tally_type);
  sinks::register_sink_type(tally_type); // twice is once
  EXPECT_EQ(sinks::find_sink_type("tally"), &tally_type);
  // Its table validates it: a required key, an unknown one, a bound, all named by key and line.
  try {
    (void)config::load_pipeline_string(config_text(d, "{ type = \"tally\", limit = 0, lable = 1 }"),
                                       "bad.toml");
    ADD_FAILURE() << "a bad tally sink was accepted";
  } catch (const config::config_exception& e) {
    auto all = config::format_errors(e.errors(), e.name());
    EXPECT_NE(all.find("missing required key \"label\""), std::string::npos) << all;
    EXPECT_NE(all.find("unknown key \"lable\""), std::string::npos) << all;
    EXPECT_NE(all.find("subscriptions.t.sink.limit (line 5)"), std::string::npos) << all;
  }

  auto cfg = config::load_pipeline_string(text, "t.toml");
  ASSERT_EQ(cfg.subscriptions.size(), 1u);
  EXPECT_EQ(cfg.subscriptions[0].sink_type(), "tally");
  EXPECT_EQ(cfg.subscriptions[0].sink.integer("limit"), 1000); // its default
  EXPECT_EQ(sink_target(cfg.subscriptions[0]), "label x");

  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  std::vector<queue::record_in> records(250, queue::record_in{1, "{\"n\":1}"});
  ASSERT_TRUE((*r)->queue().append(records).has_value());
  auto tally_size = [] {
    std::lock_guard lock(tally_mutex);
    return tallied["x"].size();
  };
  ASSERT_TRUE(sluice::testing::eventually(std::chrono::seconds(30), [&] { return tally_size() == 250; }));
  auto st = (*r)->status();
  ASSERT_EQ(st.subscriptions.size(), 1u);
  EXPECT_EQ(st.subscriptions[0].sink, "tally");
  EXPECT_EQ(st.subscriptions[0].delivered, 250u);
  EXPECT_EQ(st.subscriptions[0].sink_counts.events_written, 250u);
  ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + std::chrono::seconds(5)).has_value());
  std::lock_guard lock(tally_mutex);
  ASSERT_EQ(tallied["x"].size(), 250u);
  EXPECT_EQ(tallied["x"].front(), 1u);
  EXPECT_EQ(tallied["x"].back(), 250u);
}

} // namespace
} // namespace sluice::pipeline
