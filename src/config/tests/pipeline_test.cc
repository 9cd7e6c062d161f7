#include <gtest/gtest.h>

#include "config/pipeline.h"
#include "config/tables.h"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view full = R"(data_dir = "/var/lib/sluice"
shutdown_timeout = "30s"

[queue]
fsync = "always"
segment_bytes = "16MiB"
max_disk = "1GiB"
when_full = "drop_newest"
retain_bytes = 1048576
retain_age = "1h"

[sources.firehose]
type = "http"
url = "https://stream.example.com/1.1/statuses/filter.json"
method = "POST"
params = { track = ["Bears", "Packers"], follow = "12" }
headers = { "User-Agent" = "sluice" }
auth = { user = "u", password = "p" }
reconnect = { network_initial = "100ms", max_retries = 5 }
default_type = "tweet"

[sources.feed]
type = "tcp"
address = "127.0.0.1:4713"
format = "lines"
max_record_bytes = "64KiB"

[sources.sock]
type = "unix"
address = "/run/feed.sock"

[sources.push]
type = "listen"
listen = ["tcp://127.0.0.1:4714", "unix:/tmp/sluice.sock"]
ack = true

[sources.pipe]
type = "stdin"

[subscriptions.log]
sink = { type = "eventlog", dir = "/var/log/sluice", envelope = true, rotate_interval = "1h", rotate_events = 100000 }
filter = { type = ["tweet"] }
batch = 1000
start = "end"
retry = { initial = "1s", max = "1m", max_attempts = 5 }

[subscriptions.db]
sink = { type = "sqlite", path = "/var/lib/sluice/sluice.db" }
filter = { field = "entities.hashtags[].text", any_of = ["Bears", "Packers"] }
)";

TEST(pipeline, full_file_parses_to_structs) {
  auto p = load_pipeline_string(full, "full.toml");
  EXPECT_EQ(p.data_dir, "/var/lib/sluice");
  EXPECT_EQ(p.shutdown_timeout, 30s);

  EXPECT_EQ(p.queue.fsync.mode, fsync_mode::always);
  EXPECT_EQ(p.queue.segment_bytes, 16u << 20);
  EXPECT_EQ(p.queue.max_disk, 1u << 30);
  EXPECT_EQ(p.queue.when_full, when_full_mode::drop_newest);
  EXPECT_EQ(p.queue.retain_bytes, 1u << 20);
  EXPECT_EQ(p.queue.retain_age, 1h);

  // Sources come in name order: feed, firehose, pipe, push, sock.
  ASSERT_EQ(p.sources.size(), 5u);
  const auto& feed = p.sources[0];
  EXPECT_EQ(feed.name, "feed");
  EXPECT_EQ(feed.type(), "tcp");
  EXPECT_EQ(feed.line, 22);
  EXPECT_EQ(feed.format, record_format::lines);
  EXPECT_EQ(feed.max_record_bytes, 64u << 10);
  EXPECT_EQ(feed.default_type, "event");
  const auto& tcp = feed.settings;
  EXPECT_EQ(tcp.string("address"), "127.0.0.1:4713");
  // The reconnect table it leaves out: its defaults.
  EXPECT_EQ(tcp.table("reconnect"), option_values::make(reconnect_options, "feed", {}));
  EXPECT_EQ(tcp.table("reconnect").duration("network_initial"), 250ms);
  EXPECT_FALSE(tcp.table("reconnect").has("max_retries"));

  const auto& firehose = p.sources[1];
  EXPECT_EQ(firehose.name, "firehose");
  EXPECT_EQ(firehose.line, 12);
  EXPECT_EQ(firehose.default_type, "tweet");
  EXPECT_EQ(firehose.format, record_format::json);
  EXPECT_EQ(firehose.max_record_bytes, 1u << 20);
  const auto& http = firehose.settings;
  EXPECT_EQ(http.string("url"), "https://stream.example.com/1.1/statuses/filter.json");
  EXPECT_EQ(http.string("method"), "POST");
  EXPECT_EQ(http.entries("params"),
            (option_entries{{"follow", {"12"}}, {"track", {"Bears", "Packers"}}}));
  EXPECT_EQ(http.entries("headers"), (option_entries{{"User-Agent", {"sluice"}}}));
  EXPECT_EQ(http.table("auth").string("user"), "u");
  EXPECT_EQ(http.table("auth").string("password"), "p");
  EXPECT_FALSE(http.table("auth").has("bearer"));
  EXPECT_EQ(http.table("reconnect").duration("network_initial"), 100ms);
  EXPECT_EQ(http.table("reconnect").integer("max_retries"), 5);

  EXPECT_EQ(p.sources[2].type(), "stdin");
  const auto& push = p.sources[3].settings;
  EXPECT_EQ(push.string_list("listen"),
            (std::vector<std::string>{"tcp://127.0.0.1:4714", "unix:/tmp/sluice.sock"}));
  EXPECT_TRUE(push.boolean("ack"));
  EXPECT_EQ(p.sources[4].settings.string("address"), "/run/feed.sock");

  // Subscriptions in name order: db, log.
  ASSERT_EQ(p.subscriptions.size(), 2u);
  const auto& db = p.subscriptions[0];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.sink_type(), "sqlite");
  EXPECT_EQ(db.sink.string("path"), "/var/lib/sluice/sluice.db");
  EXPECT_EQ(db.sink.string("table"), "db"); // the subscription's name
  ASSERT_TRUE(db.filter);
  EXPECT_TRUE(db.filter->types.empty());
  EXPECT_EQ(db.filter->field, "entities.hashtags[].text");
  EXPECT_EQ(db.filter->any_of, (std::vector<std::string>{"Bears", "Packers"}));
  EXPECT_EQ(db.batch, 500u);
  EXPECT_EQ(db.start, start_position::beginning);
  EXPECT_EQ(db.retry.initial, 100ms);
  EXPECT_EQ(db.retry.max, 30s);
  EXPECT_FALSE(db.retry.max_attempts);

  const auto& log = p.subscriptions[1];
  EXPECT_EQ(log.line, 40);
  const auto& eventlog = log.sink;
  EXPECT_EQ(eventlog.string("dir"), "/var/log/sluice");
  EXPECT_TRUE(eventlog.boolean("envelope"));
  EXPECT_EQ(eventlog.size("rotate_bytes"), 64u << 20);
  EXPECT_EQ(eventlog.duration("rotate_interval"), 1h);
  EXPECT_EQ(eventlog.integer("rotate_events"), 100000);
  // The same values made in code (defaults applied, the owner's name for sqlite's table).
  EXPECT_EQ(eventlog, option_values::make(sink_types, "eventlog", "log",
                                          {{"dir", std::string("/var/log/sluice")},
                                           {"envelope", true},
                                           {"rotate_interval", std::chrono::nanoseconds(1h)},
                                           {"rotate_events", std::int64_t{100000}}}));
  EXPECT_EQ(db.sink, option_values::make(sink_types, "sqlite", "db",
                                         {{"path", std::string("/var/lib/sluice/sluice.db")}}));
  EXPECT_FALSE(eventlog == db.sink);
  ASSERT_TRUE(log.filter);
  EXPECT_EQ(log.filter->types, std::vector<std::string>{"tweet"});
  EXPECT_EQ(log.batch, 1000u);
  EXPECT_EQ(log.start, start_position::end);
  EXPECT_EQ(log.retry.initial, 1s);
  EXPECT_EQ(log.retry.max, 60s);
  EXPECT_EQ(log.retry.max_attempts, 5u);
}

TEST(pipeline, fsync_has_one_parser_and_one_default) {
  // The option table's documented default is the struct's default.
  EXPECT_EQ(fsync_setting::parse(queue_options.find("fsync")->default_value), fsync_setting{});
  EXPECT_EQ(fsync_setting::parse("always")->mode, fsync_mode::always);
  EXPECT_EQ(fsync_setting::parse("never")->mode, fsync_mode::never);
  EXPECT_EQ(fsync_setting::parse("250ms")->interval, 250ms);
  EXPECT_FALSE(fsync_setting::parse("0ms"));
  EXPECT_FALSE(fsync_setting::parse("sometimes"));
  for (const char* text : {"always", "never", "10ms", "2s", "1500us"})
    EXPECT_EQ(fsync_setting::parse(text)->text(), text);
  EXPECT_EQ(load_pipeline_string("[queue]\nfsync = \"25ms\"\n", "q.toml").queue.fsync.text(),
            "25ms");
  EXPECT_EQ(parse_when_full(when_full_name(when_full_mode::drop_newest)),
            when_full_mode::drop_newest);
  EXPECT_EQ(parse_when_full(queue_options.find("when_full")->default_value),
            queue_config{}.when_full);
}

TEST(pipeline, empty_file_is_all_defaults) {
  auto p = load_pipeline_string("", "empty.toml");
  EXPECT_EQ(p.data_dir, "./sluice-data");
  EXPECT_EQ(p.shutdown_timeout, 10s);
  EXPECT_EQ(p.queue.fsync, fsync_setting{});
  EXPECT_EQ(p.queue.fsync.mode, fsync_mode::interval);
  EXPECT_EQ(p.queue.fsync.interval, 10ms);
  EXPECT_EQ(p.queue.segment_bytes, 64u << 20);
  EXPECT_EQ(p.queue.max_disk, 0u);
  EXPECT_EQ(p.queue.when_full, when_full_mode::block);
  EXPECT_EQ(p.queue.retain_bytes, 0u);
  EXPECT_EQ(p.queue.retain_age, 0ns);
  EXPECT_TRUE(p.sources.empty());
  EXPECT_TRUE(p.subscriptions.empty());
}

TEST(pipeline, bearer_auth_and_defaults_of_a_minimal_source) {
  auto p = load_pipeline_string(R"([sources.s]
type = "http"
url = "http://127.0.0.1:1/"
auth = { bearer = "t0ken" }
[subscriptions.e]
sink = { type = "eventlog", dir = "e" }
)",
                                "min.toml");
  const auto& http = p.sources.at(0).settings;
  EXPECT_EQ(http.string("method"), "GET");
  EXPECT_TRUE(http.entries("params").empty());
  EXPECT_EQ(http.table("auth").string("bearer"), "t0ken");
  EXPECT_FALSE(http.table("auth").has("user"));
  const auto& e = p.subscriptions.at(0);
  EXPECT_FALSE(e.filter);
  EXPECT_FALSE(e.sink.boolean("envelope"));
  EXPECT_FALSE(e.sink.has("rotate_interval"));
}

TEST(pipeline, invalid_file_throws_with_every_error) {
  try {
    load_pipeline_string("data_dir = 1\nshutdown_timeout = \"soon\"\n", "bad.toml");
    FAIL() << "no exception";
  } catch (const config_exception& e) {
    EXPECT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(std::string(e.what()),
              "bad.toml: data_dir (line 1): expected a string, got 1\n"
              "bad.toml: shutdown_timeout (line 2): expected a duration such as \"250ms\", got "
              "\"soon\"");
  }
}

TEST(pipeline, daemon_tasks_and_hooks_parse_to_structs) {
  auto p = load_pipeline_string(R"([daemon]
run_dir = "/run/x"
memory_limit = "512MiB"
memory_threshold = 80
restart_max = "2m"

[subscriptions.archive]
deliver = "drain"
sink = { type = "eventlog", dir = "a" }

[subscriptions.live]
sink = { type = "eventlog", dir = "l" }

[tasks.drain_it]
run = "drain:archive"
sleep = "5m"
min_sleep = "1m"
timeout = "4m"

[tasks.report]
run = "exec:/usr/bin/report  --daily x"
sleep = "1h"

[hooks]
on_crash = "echo crashed"
timeout = "5s"
)",
                                "daemon.toml");
  EXPECT_EQ(p.daemon.run_dir, "/run/x");
  EXPECT_TRUE(p.daemon.log_dir.empty());
  EXPECT_EQ(p.daemon.memory_limit, 512u << 20);
  EXPECT_EQ(p.daemon.memory_threshold, 80);
  EXPECT_EQ(p.daemon.restart_min, 1s);
  EXPECT_EQ(p.daemon.restart_max, 120s);
  EXPECT_EQ(p.daemon.healthy_after, 300s);
  EXPECT_FALSE(p.subscriptions.at(0).continuous);
  EXPECT_TRUE(p.subscriptions.at(1).continuous);
  ASSERT_EQ(p.tasks.size(), 2u);
  EXPECT_EQ(p.tasks[0].name, "drain_it");
  EXPECT_EQ(p.tasks[0].what, task_config::kind::drain);
  EXPECT_EQ(p.tasks[0].subscription, "archive");
  EXPECT_EQ(p.tasks[0].sleep, 300s);
  EXPECT_EQ(p.tasks[0].min_sleep, 60s);
  EXPECT_EQ(p.tasks[0].timeout, std::optional<std::chrono::nanoseconds>(240s));
  EXPECT_EQ(p.tasks[1].what, task_config::kind::exec);
  EXPECT_EQ(p.tasks[1].argv, (std::vector<std::string>{"/usr/bin/report", "--daily", "x"}));
  EXPECT_FALSE(p.tasks[1].timeout);
  EXPECT_EQ(p.hooks.on_crash, "echo crashed");
  EXPECT_TRUE(p.hooks.on_start.empty());
  EXPECT_EQ(p.hooks.timeout, 5s);
}

TEST(pipeline, task_rules_name_the_key_and_line) {
  try {
    load_pipeline_string(R"([subscriptions.live]
sink = { type = "eventlog", dir = "l" }

[tasks.a]
run = "drain:live"
sleep = "1m"

[tasks.b]
run = "drain:nope"
sleep = "1m"

[tasks.c]
run = "cron:x"
sleep = "1m"

[tasks.d]
run = "exec:   "
sleep = "1m"

[daemon]
restart_min = "2m"
restart_max = "1m"
)",
                         "tasks.toml");
    FAIL() << "no exception";
  } catch (const config_exception& e) {
    EXPECT_EQ(std::string(e.what()),
              "tasks.toml: tasks.a.run (line 5): subscription \"live\" is delivered "
              "continuously; a drain task needs deliver = \"drain\" on it\n"
              "tasks.toml: tasks.b.run (line 9): no subscription \"nope\" to drain\n"
              "tasks.toml: tasks.c.run (line 13): expected \"drain:SUBSCRIPTION\" or "
              "\"exec:COMMAND ...\", got \"cron:x\"\n"
              "tasks.toml: tasks.d.run (line 17): expected a command after \"exec:\"\n"
              "tasks.toml: daemon (line 20): \"restart_min\" (2m) is above \"restart_max\" (1m)");
  }
}

} // namespace
} // namespace sluice::config
