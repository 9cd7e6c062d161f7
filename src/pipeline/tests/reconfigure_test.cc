// runner::reconfigure and reconnect_sources with an http source on the firehose: a change of the
// request alone switches connections without restarting the source; a failed source is started
// again by a reload.

#include <chrono>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "firehose/server.h"
#include "pipeline/runner.h"
#include "support/eventually.h"
#include "support/firehose_fixture.h"
#include "support/source_settings.h"
#include "support/temp_dir.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::firehose_on_loopback;
using sluice::testing::temp_dir;
using namespace std::chrono_literals;

config::pipeline_config http_config(const temp_dir& d, std::uint16_t port) {
  config::pipeline_config cfg;
  cfg.data_dir = d / "data";
  cfg.shutdown_timeout = 4s;
  cfg.queue.fsync.interval = 1ms;
  config::source_config s;
  s.name = "fh";
  s.default_type = "tweet";
  s.settings = testing::source_settings(
      "http", {{"url", "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json"},
               {"params", config::option_entries{{"track", {"Bears"}}}},
               {"change_debounce", std::chrono::nanoseconds(50ms)},
               {"reconnect", testing::fast_reconnect()}});
  cfg.sources.push_back(s);
  return cfg;
}

// `cfg`'s http source with `name` set to `value`, its other settings as they were.
void set_http(config::pipeline_config& cfg, const std::string& name, config::option_value value) {
  auto& s = cfg.sources.at(0).settings;
  testing::settings_items items(s.items().begin(), s.items().end());
  testing::set(items, name, std::move(value));
  s = testing::source_settings("http", std::move(items));
}

bool eventually(const std::function<bool()>& done) {
  return sluice::testing::eventually(std::chrono::seconds(30), done, std::chrono::milliseconds(2));
}

TEST(reconfigure, a_params_change_switches_connections_without_restarting_the_source) {
  temp_dir d;
  firehose::server_options so;
  so.rate = 5000;
  so.resume = true;
  firehose_on_loopback f(so);
  auto cfg = http_config(d, f.port);
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).counts.records >= 200; }));

  auto next = cfg;
  set_http(next, "params", config::option_entries{{"track", {"Bears", "Packers"}}});
  std::string what;
  ASSERT_TRUE((*r)->reconfigure(next, what));
  EXPECT_EQ(what, "source fh switches to its new request settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).counts.switches == 1; }));
  auto st = (*r)->status().sources.at(0);
  EXPECT_EQ(st.counts.connects, 2u); // the same source object: its counters go on
  EXPECT_EQ(st.state, sources::source_state::connected);
  EXPECT_EQ(f.server.stats().connections, 2u);

  // USR1: a fresh connection with the same request, the same way.
  EXPECT_EQ((*r)->reconnect_sources(), 1u);
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).counts.switches == 2; }));
  EXPECT_EQ((*r)->status().sources.at(0).counts.connects, 3u);

  // A setting outside the request restarts the source; its counts go on from where they were.
  auto other = next;
  set_http(other, "backfill", std::int64_t{10});
  ASSERT_TRUE((*r)->reconfigure(other, what));
  EXPECT_EQ(what, "source fh restarted with its new settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).counts.connects == 4; }));
  EXPECT_EQ((*r)->status().sources.at(0).counts.switches, 2u);
  ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + 5s));
}

TEST(reconfigure, a_reload_starts_a_failed_source_again) {
  temp_dir d;
  firehose::server_options so;
  so.rate = 5000;
  so.require_bearer = "s3cret";
  firehose_on_loopback f(so);
  auto cfg = http_config(d, f.port);
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  ASSERT_TRUE(eventually(
      [&] { return (*r)->status().sources.at(0).state == sources::source_state::failed; }));
  EXPECT_EQ((*r)->status().sources.at(0).counts.disconnects_fatal, 1u);

  // The fix is in the request alone, but a failed source has no connection to switch from: it
  // starts again.
  auto fixed = cfg;
  set_http(fixed, "auth",
           std::make_shared<const config::option_values>(config::option_values::make(
               config::auth_options, "", {{"bearer", std::string("s3cret")}})));
  std::string what;
  ASSERT_TRUE((*r)->reconfigure(fixed, what));
  EXPECT_EQ(what, "source fh restarted with its new settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).counts.records >= 100; }));
  auto st = (*r)->status().sources.at(0);
  EXPECT_EQ(st.state, sources::source_state::connected);
  EXPECT_EQ(st.counts.disconnects_fatal, 1u); // the refusal before the fix still counts
  EXPECT_EQ(st.counts.connects, 1u);
  ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + 5s));
}

} // namespace
} // namespace sluice::pipeline
