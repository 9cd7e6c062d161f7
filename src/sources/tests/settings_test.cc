// Each source type reads its own settings from the values the configuration validated.

#include <gtest/gtest.h>

#include "config/pipeline.h"
#include "sources/settings.h"
#include "config/tables.h"
#include "sources/source_type.h"

namespace sluice::sources {
namespace {

using namespace std::chrono_literals;

config::pipeline_config load(std::string_view sources) {
  return config::load_pipeline_string(sources, "sources.toml");
}

TEST(settings, http_reads_its_request_and_its_policy) {
  auto p = load(R"([sources.fh]
type = "http"
url = "https://stream.example.com/1.1/statuses/filter.json"
method = "POST"
params = { track = ["Bears", "Packers"], follow = "12" }
headers = { "User-Agent" = "sluice" }
auth = { user = "u", password = "p" }
reconnect = { network_initial = "100ms", max_retries = 5, jitter = 0 }
backfill = 50
)");
  auto h = http_settings::of(p.sources.at(0).settings);
  EXPECT_EQ(h.request.url, "https://stream.example.com/1.1/statuses/filter.json");
  EXPECT_TRUE(h.request.post);
  using params = std::vector<std::pair<std::string, std::vector<std::string>>>;
  EXPECT_EQ(h.request.params, (params{{"follow", {"12"}}, {"track", {"Bears", "Packers"}}}));
  using headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(h.request.headers, (headers{{"User-Agent", "sluice"}}));
  ASSERT_TRUE(h.request.basic_auth);
  EXPECT_EQ(h.request.basic_auth->first, "u");
  EXPECT_EQ(h.request.basic_auth->second, "p");
  EXPECT_FALSE(h.request.bearer);
  EXPECT_TRUE(h.request.gzip);
  EXPECT_EQ(h.backfill, 50u);
  EXPECT_EQ(h.dedupe_field, "id_str");
  EXPECT_EQ(h.stall_timeout, 90s);
  EXPECT_EQ(h.reconnect.network_initial, 100ms);
  EXPECT_EQ(h.reconnect.network_step, 250ms); // defaults for the rest
  EXPECT_EQ(h.reconnect.jitter_percent, 0u);
  EXPECT_EQ(h.reconnect.max_retries, 5u);
}

TEST(settings, a_bearer_token_and_no_params) {
  auto p = load("[sources.fh]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n"
                "auth = { bearer = \"t0ken\" }\n");
  auto h = http_settings::of(p.sources.at(0).settings);
  EXPECT_FALSE(h.request.post);
  EXPECT_TRUE(h.request.params.empty());
  EXPECT_EQ(h.request.bearer, "t0ken");
  EXPECT_FALSE(h.request.basic_auth);
  EXPECT_FALSE(h.reconnect.max_retries);
}

TEST(settings, clients_and_listeners) {
  auto p = load(R"([sources.a]
type = "tcp"
address = "127.0.0.1:4713"
[sources.b]
type = "unix"
address = "/run/feed.sock"
[sources.c]
type = "listen"
listen = ["tcp://127.0.0.1:4714", "unix:/tmp/sluice.sock"]
ack = true
)");
  auto tcp = client_settings::of(p.sources.at(0).settings);
  EXPECT_FALSE(tcp.unix_socket);
  EXPECT_EQ(tcp.target, "tcp://127.0.0.1:4713");
  EXPECT_EQ(tcp.reconnect.network_max, 16s);
  auto unix_client = client_settings::of(p.sources.at(1).settings);
  EXPECT_TRUE(unix_client.unix_socket);
  EXPECT_EQ(unix_client.target, "unix:/run/feed.sock");
  auto listen = listen_settings::of(p.sources.at(2).settings);
  ASSERT_EQ(listen.endpoints.size(), 2u);
  EXPECT_FALSE(listen.endpoints[0].unix_socket);
  EXPECT_EQ(listen.endpoints[0].address, "127.0.0.1:4714");
  EXPECT_TRUE(listen.endpoints[1].unix_socket);
  EXPECT_EQ(listen.endpoints[1].address, "/tmp/sluice.sock");
  EXPECT_TRUE(listen.ack);
}

TEST(settings, every_built_in_type_has_a_descriptor_with_its_table) {
  for (std::string_view name : {"http", "tcp", "unix", "listen", "stdin"}) {
    const auto* t = find_source_type(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->options->kind, name);
    EXPECT_EQ(config::source_types.find(name), t->options);
  }
  EXPECT_EQ(find_source_type("carrier-pigeon"), nullptr);
}

} // namespace
} // namespace sluice::sources
