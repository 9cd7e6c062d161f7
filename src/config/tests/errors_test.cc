#include <gtest/gtest.h>

#include "config/tests/test_errors.h"

// Each kind of mistake in a sluice file, and exactly what `sluice validate` says about it.
namespace sluice::config {
namespace {

using testing::errors_in;
using testing::show;

// The one error in `text`, as `key_path (line N): message`.
std::string only_error(std::string_view text) {
  auto errors = errors_in(text);
  EXPECT_EQ(errors.size(), 1u) << show(errors);
  return errors.empty() ? "" : errors[0].to_string();
}

TEST(config_errors, toml_syntax_error) {
  auto errors = errors_in("data_dir = \"x\"\n[queue\nfsync = \"10ms\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_GT(errors[0].column, 0);
  EXPECT_EQ(errors[0].key_path, "");
  EXPECT_EQ(errors[0].to_string().rfind("line 2, column ", 0), 0u) << errors[0].to_string();
}

TEST(config_errors, wrong_type) {
  EXPECT_EQ(only_error("\n[queue]\nsegment_bytes = true\n"),
            "queue.segment_bytes (line 3): expected a size such as \"64MiB\", got true");
  EXPECT_EQ(only_error("[sources.s]\ntype = \"listen\"\nlisten = \"tcp://127.0.0.1:1\"\n"),
            "sources.s.listen (line 3): expected an array of strings, got "
            "\"tcp://127.0.0.1:1\"");
  EXPECT_EQ(only_error("queue = 5\n"), "queue (line 1): expected a table, got 5");
}

TEST(config_errors, bad_duration) {
  EXPECT_EQ(
      only_error(R"([sources.firehose]
type = "tcp"
address = "127.0.0.1:4713"
reconnect = { network_initial = "fast" }
)"),
      "sources.firehose.reconnect.network_initial (line 4): expected a duration such as \"250ms\", "
      "got \"fast\"");
  EXPECT_EQ(only_error("[queue]\nfsync = \"sometimes\"\n"),
            "queue.fsync (line 2): expected \"always\" or \"never\" or a duration such as "
            "\"250ms\", got \"sometimes\"");
  EXPECT_EQ(only_error("[queue]\nfsync = \"0ms\"\n"),
            "queue.fsync (line 2): expected \"always\", \"never\" or a duration above zero, got "
            "\"0ms\"");
}

TEST(config_errors, bad_size) {
  EXPECT_EQ(only_error("[queue]\n\nmax_disk = \"2 parsecs\"\n"),
            "queue.max_disk (line 3): expected a size such as \"64MiB\", got \"2 parsecs\"");
}

// A record the queue could not hold (the disk format's limit is 1 GiB) is refused in the
// configuration, not acknowledged and then cut off by recovery as a damaged header.
TEST(config_errors, max_record_bytes_past_what_the_queue_holds) {
  EXPECT_EQ(only_error("[sources.in]\ntype = \"stdin\"\nmax_record_bytes = \"2GiB\"\n"),
            "sources.in.max_record_bytes (line 3): expected a size of at most 512.0 MiB, got 2.0 GiB");
  EXPECT_EQ(errors_in("[sources.in]\ntype = \"stdin\"\nmax_record_bytes = \"512MiB\"\n").size(),
            0u);
}

// `ack N` means durable: a queue that never syncs cannot promise it.
TEST(config_errors, ack_needs_a_queue_that_syncs) {
  const char* sources = "[sources.push]\ntype = \"listen\"\nlisten = [\"tcp://127.0.0.1:7000\"]\n"
                        "ack = true\n";
  EXPECT_EQ(only_error(std::string("[queue]\nfsync = \"never\"\n\n") + sources),
            "sources.push.ack (line 7): needs a queue that syncs: with [queue] fsync = \"never\" "
            "an ack would tell the pusher that records are durable before any is (use \"always\" "
            "or a duration)");
  EXPECT_EQ(errors_in(std::string("[queue]\nfsync = \"10ms\"\n\n") + sources).size(), 0u);
  EXPECT_EQ(errors_in(sources).size(), 0u);
}

TEST(config_errors, enum_value_not_allowed) {
  EXPECT_EQ(only_error("[queue]\nwhen_full = \"drop-newest\"\n"),
            "queue.when_full (line 2): expected \"block\" or \"drop_newest\", got "
            "\"drop-newest\"; did you mean \"drop_newest\"?");
  EXPECT_EQ(only_error("[queue]\nwhen_full = \"drop_oldest\"\n"),
            "queue.when_full (line 2): expected \"block\" or \"drop_newest\", got "
            "\"drop_oldest\"");
  EXPECT_EQ(only_error("[sources.s]\ntype = \"htp\"\n"),
            "sources.s.type (line 2): unknown source type \"htp\"; expected one of: http, tcp, "
            "unix, listen, stdin; did you mean \"http\"?");
}

TEST(config_errors, unknown_key_with_suggestion) {
  EXPECT_EQ(only_error("[queue]\nfsync = \"10ms\"\nsegment_byte = \"1MiB\"\n"),
            "queue.segment_byte (line 3): unknown key \"segment_byte\"; did you mean "
            "\"segment_bytes\"?");
  EXPECT_EQ(only_error("Data_Dir = \"x\"\n"),
            "Data_Dir (line 1): unknown key \"Data_Dir\"; did you mean \"data_dir\"?");
  EXPECT_EQ(only_error("[api]\nport = 4711\n"), "api.port (line 2): unknown key \"port\"");
  EXPECT_EQ(only_error("[api]\nlisten = [\"0.0.0.0:4711\"]\ntoken_file = \"\"\n"),
            "api.token_file (line 3): an empty token_file (no token) is allowed only on loopback "
            "addresses and Unix sockets, and api.listen has \"0.0.0.0:4711\"");
  EXPECT_EQ(only_error("[api]\nlisten = [\"127.0.0.1:0\", \"unix:/tmp/a.sock\", \"nope\"]\n"),
            "api.listen (line 2): element 2: expected \"HOST:PORT\" (port 0: any free port) or "
            "\"unix:PATH\", "
            "got \"nope\"");
  EXPECT_EQ(only_error("[metrics.graphite]\nprefix = \"x\"\n"),
            "metrics.graphite (line 1): missing required key \"address\"");
  EXPECT_EQ(only_error("[apix]\nport = 4711\n"),
            "apix (line 1): unknown key \"apix\"; did you mean \"api\"?");
  // A key of another source type is unknown for this one.
  EXPECT_EQ(only_error("[sources.s]\ntype = \"stdin\"\nack = true\n"),
            "sources.s.ack (line 3): unknown key \"ack\"");
  EXPECT_EQ(only_error(R"([subscriptions.e]
sink = { type = "eventlog", dir = "d", rotate_byte = "1MiB" }
)"),
            "subscriptions.e.sink.rotate_byte (line 2): unknown key \"rotate_byte\"; did you "
            "mean \"rotate_bytes\"?");
}

TEST(config_errors, missing_required_key_names_the_section) {
  EXPECT_EQ(only_error("\n\n[sources.firehose]\ntype = \"http\"\nmethod = \"POST\"\n"),
            "sources.firehose (line 3): missing required key \"url\"");
  EXPECT_EQ(only_error("[sources.x]\nformat = \"json\"\n"),
            "sources.x (line 1): missing required key \"type\" (the source type: http, tcp, "
            "unix, listen, stdin)");
  EXPECT_EQ(only_error("[subscriptions.e]\nbatch = 10\n"),
            "subscriptions.e (line 1): missing required key \"sink\"");
  EXPECT_EQ(only_error("[subscriptions.e]\nsink = { type = \"sqlite\" }\n"),
            "subscriptions.e.sink (line 2): missing required key \"path\"");
}

TEST(config_errors, bad_name) {
  // The queue's rule, so that a name `sluice validate` accepts is one the queue takes at start.
  EXPECT_EQ(only_error("[subscriptions.\".hidden\"]\nsink = { type = \"eventlog\", dir = \"x\" }\n"),
            "subscriptions.\".hidden\" (line 1): invalid name \".hidden\": a name is 1 to 128 of "
            "A-Z a-z 0-9 _ . -, not starting with '.'");
  const std::string long_name(129, 'a');
  EXPECT_EQ(only_error("[subscriptions." + long_name + "]\nsink = { type = \"eventlog\", dir = \"x\" }\n"),
            "subscriptions." + long_name + " (line 1): invalid name \"" + long_name +
                "\": a name is 1 to 128 of A-Z a-z 0-9 _ . -, not starting with '.'");
  EXPECT_EQ(only_error("[sources.\"fire hose\"]\ntype = \"stdin\"\n"),
            "sources.\"fire hose\" (line 1): invalid name \"fire hose\": a name is 1 to "
            "128 of A-Z a-z 0-9 _ . -, not starting with '.'");
  EXPECT_EQ(only_error("[sources]\nfirehose = \"http\"\n"),
            "sources.firehose (line 2): expected a table ([sources.firehose]), got \"http\"");
}

TEST(config_errors, rules_across_keys) {
  EXPECT_EQ(only_error(R"([sources.s]
type = "http"
url = "http://127.0.0.1:1/"
auth = { user = "u" }
)"),
            "sources.s.auth (line 4): missing required key \"password\" (basic authentication "
            "needs both \"user\" and \"password\")");
  EXPECT_EQ(only_error(R"([subscriptions.e]
sink = { type = "eventlog", dir = "d" }
filter = { field = "type" }
)"),
            "subscriptions.e.filter (line 3): missing required key \"any_of\" (\"field\" needs "
            "it)");
  EXPECT_EQ(only_error(R"([subscriptions.e]
sink = { type = "eventlog", dir = "d" }
retry = { initial = "1m" }
)"),
            "subscriptions.e.retry (line 3): \"initial\" (1m) is above \"max\" (30s)");
  EXPECT_EQ(only_error(R"([sources.s]
type = "tcp"
address = "localhost"
)"),
            "sources.s.address (line 3): expected \"HOST:PORT\" with a port from 1 to 65535, got "
            "\"localhost\"");
  EXPECT_EQ(only_error(R"([subscriptions.a]
sink = { type = "sqlite", path = "x.db", table = "t" }
[subscriptions.b]
sink = { type = "sqlite", path = "x.db", table = "t" }
)"),
            "subscriptions.b.sink (line 4): writes the same table as subscription \"a\"");
}

TEST(config_errors, every_error_in_one_file_in_file_order) {
  auto errors = errors_in(R"(data_dir = "./d"
shutdown_timeout = "ten seconds"

[queue]
fsync = "10ms"
segment_bytes = "big"
whenfull = "block"

[sources.firehose]
type = "http"
url = "ftp://example.com/"
reconnect_delay = "fast"
params = { track = ["Bears", 7] }

[sources."bad name!"]
type = "stdin"

[subscriptions.db]
sink = { type = "sqlite" }
batch = 0
start = "middle"
)");
  std::vector<std::string> want{
      "shutdown_timeout (line 2): expected a duration such as \"250ms\", got \"ten seconds\"",
      "queue.segment_bytes (line 6): expected a size such as \"64MiB\", got \"big\"",
      "queue.whenfull (line 7): unknown key \"whenfull\"; did you mean \"when_full\"?",
      "sources.firehose.url (line 11): expected an http:// or https:// URL, got "
      "\"ftp://example.com/\"",
      "sources.firehose.reconnect_delay (line 12): unknown key \"reconnect_delay\"",
      "sources.firehose.params.track (line 13): expected an array of strings, element 1 is 7",
      "sources.\"bad name!\" (line 15): invalid name \"bad name!\": a name is 1 to 128 of A-Z "
      "a-z 0-9 _ . -, not starting with '.'",
      "subscriptions.db.sink (line 19): missing required key \"path\"",
      "subscriptions.db.batch (line 20): expected an integer of at least 1, got 0",
      "subscriptions.db.start (line 21): expected \"beginning\" or \"end\", got \"middle\"",
  };
  std::vector<std::string> got;
  for (const auto& e : errors)
    got.push_back(e.to_string());
  EXPECT_EQ(got, want) << show(errors);
}

} // namespace
} // namespace sluice::config
