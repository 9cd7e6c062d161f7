// runner::reconfigure and reconnect_sources with an http source on the firehose: a change of the
// request alone switches connections without restarting the source; a failed source is started
// again by a reload.

#include <chrono>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "firehose/server.h"
#include "pipeline/runner.h"
#include "queue/tests/test_dir.h"
#include "support/eventually.h"

namespace sluice::pipeline {
namespace {

using sluice::testing::test_dir;
using namespace std::chrono_literals;

config::pipeline_config http_config(const test_dir& d, std::uint16_t port) {
  config::pipeline_config cfg;
  cfg.data_dir = d / "data";
  cfg.shutdown_timeout = 4s;
  cfg.queue.fsync_interval = 1ms;
  config::source_config s;
  s.name = "fh";
  s.default_type = "tweet";
  config::http_source h;
  h.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  h.params = {{"track", {"Bears"}}};
  h.change_debounce = 50ms;
  h.reconnect.network_initial = 1ms;
  h.reconnect.network_step = 1ms;
  h.reconnect.network_max = 5ms;
  h.reconnect.jitter = 0;
  s.settings = h;
  cfg.sources.push_back(s);
  return cfg;
}

config::http_source& http_of(config::pipeline_config& cfg) {
  return std::get<config::http_source>(cfg.sources.at(0).settings);
}

bool eventually(const std::function<bool()>& done) {
  return sluice::testing::eventually(std::chrono::seconds(30), done, std::chrono::milliseconds(2));
}

struct firehose_on_loopback {
  explicit firehose_on_loopback(firehose::server_options o) : fh(std::move(o)) {
    port = fh.listen_http("127.0.0.1", 0).value_or(0);
    fh.start();
  }
  ~firehose_on_loopback() { fh.stop(); }
  firehose::server fh;
  std::uint16_t port = 0;
};

TEST(reconfigure, a_params_change_switches_connections_without_restarting_the_source) {
  test_dir d;
  firehose::server_options so;
  so.rate = 5000;
  so.resume = true;
  firehose_on_loopback f(so);
  auto cfg = http_config(d, f.port);
  std::string error;
  auto r = runner::open(cfg, error);
  ASSERT_TRUE(r.has_value()) << error;
  ASSERT_TRUE((*r)->start(error).has_value()) << error;
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).records >= 200; }));

  auto next = cfg;
  http_of(next).params = {{"track", {"Bears", "Packers"}}};
  std::string what;
  ASSERT_TRUE((*r)->reconfigure(next, what));
  EXPECT_EQ(what, "source fh switches to its new request settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).switches == 1; }));
  auto st = (*r)->status().sources.at(0);
  EXPECT_EQ(st.connects, 2u); // the same source object: its counters go on
  EXPECT_EQ(st.state, sources::source_state::connected);
  EXPECT_EQ(f.fh.stats().connections, 2u);

  // USR1: a fresh connection with the same request, the same way.
  EXPECT_EQ((*r)->reconnect_sources(), 1u);
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).switches == 2; }));
  EXPECT_EQ((*r)->status().sources.at(0).connects, 3u);

  // A setting outside the request restarts the source; its counts go on from where they were.
  auto other = next;
  http_of(other).backfill = 10;
  ASSERT_TRUE((*r)->reconfigure(other, what));
  EXPECT_EQ(what, "source fh restarted with its new settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).connects == 4; }));
  EXPECT_EQ((*r)->status().sources.at(0).switches, 2u);
  ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + 5s));
}

TEST(reconfigure, a_reload_starts_a_failed_source_again) {
  test_dir d;
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
  EXPECT_EQ((*r)->status().sources.at(0).disconnects_fatal, 1u);

  // The fix is in the request alone, but a failed source has no connection to switch from: it
  // starts again.
  auto fixed = cfg;
  http_of(fixed).bearer = "s3cret";
  std::string what;
  ASSERT_TRUE((*r)->reconfigure(fixed, what));
  EXPECT_EQ(what, "source fh restarted with its new settings");
  ASSERT_TRUE(eventually([&] { return (*r)->status().sources.at(0).records >= 100; }));
  auto st = (*r)->status().sources.at(0);
  EXPECT_EQ(st.state, sources::source_state::connected);
  EXPECT_EQ(st.disconnects_fatal, 1u); // the refusal before the fix still counts
  EXPECT_EQ(st.connects, 1u);
  ASSERT_TRUE((*r)->stop(std::chrono::steady_clock::now() + 5s));
}

} // namespace
} // namespace sluice::pipeline
