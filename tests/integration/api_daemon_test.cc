// The control API of a running pipeline (docs/api.md): a track change through the API reaches
// the firehose without a gap in the queue, subscriptions created through the API survive a
// restart and hold exactly what the queue holds, /meta.json counts what the firehose sent,
// /metrics passes Debian's Prometheus parser, and Graphite comes and goes without the daemon
// noticing. Each test runs its own `sluice firehose` and `sluice run` in a temporary directory.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"
#include "support/http_client.h"
#include "support/sqlite_rows.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using namespace sluice::testing;

/// Runs `argv` (a program outside sluice) with stdout and stderr to `out`; its exit_code(), or
/// -1 when it could not start or was still running after `timeout` (then killed).
int run_program(const std::vector<std::string>& argv, const fs::path& out,
                std::chrono::milliseconds timeout) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> strings = argv;
  std::vector<char*> args;
  for (auto& a : strings)
    args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return -1;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  pollfd p{pidfd, POLLIN, 0};
  bool ended = pidfd >= 0 && ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  if (!ended)
    ::kill(pid, SIGKILL);
  int raw = 0;
  ::waitpid(pid, &raw, 0);
  if (pidfd >= 0)
    ::close(pidfd);
  return ended ? exit_code(raw) : -1;
}

/// Lines of the eventlog files in `dir` (the `current` symlink not counted twice).
std::uint64_t eventlog_lines(const fs::path& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_symlink() || !e.is_regular_file() || e.path().extension() != ".ndjson")
      continue;
    auto text = file_text(e.path());
    n += static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
  }
  return n;
}

/// The subscription's lag is 0 and its cursor at the queue's durable watermark, which no source
/// moves any more (the stream stopped): true once so.
bool caught_up(const api_pipeline& p, const std::string& name) {
  auto q = p.get_json("/queue.json");
  auto s = p.get_json("/subscriptions/" + name + ".json");
  return q.is_object() && s.is_object() && q["durable_watermark"] == q["last_position"] &&
         s["lag"] == 0 && s["committed"] == q["durable_watermark"];
}

std::uint64_t durable(const api_pipeline& p) {
  return p.get_json("/queue.json").value("durable_watermark", std::uint64_t{0});
}

/// Stops the stream through the API and waits until every event it appended is durable.
void stop_stream(const api_pipeline& p) {
  auto r = p.change("POST", "/streams/nfl/stop");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(eventually(15s, [&] {
    auto m = p.get_json("/meta.json");
    return m.is_object() && m["sources"][0]["state"] == "stopped" &&
           m["queue"]["durable_watermark"] == m["queue"]["last_position"];
  })) << p.get("/meta.json").body;
}

// --- A track change through the API --------------------------------------------------------

TEST(api_daemon, track_change_reaches_the_firehose_with_nothing_lost) {
  api_pipeline p;
  pipeline_options o;
  o.firehose = {"--rate", "2000", "--resume"};
  o.source = "change_debounce = \"100ms\"";
  o.tables = "[subscriptions.rows]\nsink = { type = \"sqlite\", path = \"@DATA@/rows.db\" }\n";
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  ASSERT_TRUE(eventually(15s, [&] { return p.source_figure("events") >= 500; }))
      << p.get("/meta.json").body;

  auto r = p.change("PUT", "/streams/nfl/track.json?values=Bears,Packers");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(eventually(15s, [&] {
    return p.firehose_log().find("filter.json track=Bears,Packers -> 200") != std::string::npos;
  })) << p.firehose_log();
  EXPECT_TRUE(eventually(15s, [&] { return p.source_figure("switches") == 1; }))
      << p.get("/meta.json").body;
  auto at_switch = p.source_figure("events");
  ASSERT_TRUE(eventually(15s, [&] { return p.source_figure("events") >= at_switch + 1000; }));
  ASSERT_NO_FATAL_FAILURE(stop_stream(p));
  ASSERT_TRUE(eventually(15s, [&] { return caught_up(p, "rows"); }))
      << p.get("/subscriptions/rows.json").body;
  auto end = durable(p);
  EXPECT_EQ(p.get_json("/streams/nfl.json")["params"]["track"], json({"Bears", "Packers"}));
  auto stopped = p.stop_run();
  ASSERT_TRUE(stopped.has_value()) << p.run_log();
  EXPECT_EQ(exit_code(*stopped), 0) << p.run_log();

  // Every queue position 1..N reached the sqlite sink, once: no gap at the switch.
  auto one = [&](const char* sql) { return sqlite_int(p.data_dir() / "rows.db", sql); };
  auto count = one("SELECT count(*) FROM rows");
  EXPECT_EQ(count, static_cast<std::int64_t>(end));
  EXPECT_EQ(one("SELECT max(id) FROM rows"), count);
  EXPECT_EQ(one("SELECT min(id) FROM rows"), 1);
  // Tweets of the old request, then of the new one.
  EXPECT_GT(one("SELECT count(*) FROM rows WHERE payload LIKE '%#Bills%' OR payload LIKE "
                "'%#Jets%'"),
            0);
  EXPECT_GT(one("SELECT count(*) FROM rows WHERE payload LIKE '%#Bears%' OR payload LIKE "
                "'%#Packers%'"),
            0);
}

// --- Subscriptions created through the API ---------------------------------------------------

TEST(api_daemon, api_subscriptions_survive_a_restart_and_hold_exactly_the_queue) {
  api_pipeline p;
  pipeline_options o;
  o.firehose = {"--rate", "2000"};
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  ASSERT_TRUE(eventually(15s, [&] { return durable(p) >= 400; })) << p.get("/queue.json").body;

  auto r = p.change("POST", "/subscriptions.json",
                    R"({"name": "archive", "sink": {"type": "eventlog", "dir": "archive"},
                        "start": "beginning"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["origin"], "api");
  const std::uint64_t from = durable(p) / 2;
  ASSERT_GE(from, 1u);
  r = p.change("POST", "/subscriptions.json",
               R"({"name": "from-p", "sink": {"type": "eventlog", "dir": "from-p"}, "start": )" +
                   std::to_string(from) + "}");
  ASSERT_EQ(r.status, 201) << r.body;

  auto stopped = p.stop_run();
  ASSERT_TRUE(stopped.has_value()) << p.run_log();
  ASSERT_EQ(exit_code(*stopped), 0) << p.run_log();
  ASSERT_NO_FATAL_FAILURE(p.start_run());

  for (const char* name : {"archive", "from-p"}) {
    auto s = p.get_json(std::string("/subscriptions/") + name + ".json");
    EXPECT_EQ(s["origin"], "api") << s;
    EXPECT_EQ(s["state"], "running") << s;
  }
  ASSERT_NO_FATAL_FAILURE(stop_stream(p));
  ASSERT_TRUE(eventually(15s, [&] { return caught_up(p, "archive") && caught_up(p, "from-p"); }))
      << p.get("/subscriptions.json").body;
  auto end = durable(p);
  EXPECT_EQ(eventlog_lines(p.data_dir() / "archive"), end);
  EXPECT_EQ(eventlog_lines(p.data_dir() / "from-p"), end - from + 1);
}

// Stopping a stream through the API keeps what it counted: /meta.json's events:all_count and
// the source's events still equal the events it queued (nothing else appends to this queue).
TEST(api_daemon, stopping_a_stream_keeps_its_counts) {
  api_pipeline p;
  ASSERT_NO_FATAL_FAILURE(p.start({}));
  ASSERT_TRUE(eventually(15s, [&] { return p.source_figure("events") >= 500; }));
  ASSERT_NO_FATAL_FAILURE(stop_stream(p));
  auto meta = p.get_json("/meta.json");
  EXPECT_EQ(meta["events:all_count"], meta["queue"]["durable_watermark"]) << meta.dump(1);
  EXPECT_EQ(meta["sources"][0]["events"], meta["queue"]["durable_watermark"]);
  EXPECT_GE(meta["sources"][0]["connects"], 1);
}

// --- /meta.json counts -----------------------------------------------------------------------

TEST(api_daemon, meta_counts_equal_what_the_firehose_sent) {
  // The firehose ends the stream after 5,000 events; the source reconnects and, with --resume,
  // the firehose has nothing more for it.
  constexpr std::uint64_t n = 5000;
  api_pipeline p;
  pipeline_options o;
  o.firehose = {"--rate", "2000", "--count", std::to_string(n), "--resume"};
  // Tweets are typed "tweet" (Flamingo's events:tweet_count); the default type is "event".
  o.source = "default_type = \"tweet\"";
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  ASSERT_TRUE(eventually(15s, [&] { return p.get_json("/meta.json")["events:all_count"] == n; }))
      << p.get("/meta.json").body;
  // The stream ended; a connection after the end got nothing (it counts as a network failure).
  ASSERT_TRUE(eventually(15s, [&] {
    auto m = p.get_json("/meta.json");
    return m.is_object() && m["sources"][0]["reconnects"]["network"] >= 1;
  })) << p.get("/meta.json").body;
  ASSERT_TRUE(eventually(15s, [&] {
    auto log = p.firehose_log();
    auto first = log.find("filter.json track=Bills,Jets -> 200");
    return first != std::string::npos &&
           log.find("filter.json track=Bills,Jets -> 200", first + 1) != std::string::npos;
  })) << p.firehose_log();

  // What the firehose sent, rank by rank (its defaults: a delete every 50, a limit every 1,000).
  std::map<std::string, std::uint64_t> sent;
  sluice::firehose::stream_options defaults;
  for (std::uint64_t rank = 1; rank <= n; ++rank)
    switch (sluice::firehose::kind_of(defaults, rank)) {
    case sluice::firehose::event_kind::tweet:
      ++sent["tweet"];
      break;
    case sluice::firehose::event_kind::delete_notice:
      ++sent["delete"];
      break;
    case sluice::firehose::event_kind::limit_notice:
      ++sent["limit"];
      break;
    case sluice::firehose::event_kind::garbage:
      ++sent["garbage"];
      break;
    }
  ASSERT_EQ(sent,
            (std::map<std::string, std::uint64_t>{{"delete", 95}, {"limit", 5}, {"tweet", 4900}}));

  auto meta = p.get_json("/meta.json");
  EXPECT_EQ(meta["events:all_count"], n);
  std::map<std::string, std::uint64_t> counted;
  for (const auto& [key, value] : meta.items())
    if (key.starts_with("events:") && key.ends_with("_count") && key != "events:all_count")
      counted[key.substr(7, key.size() - 13)] = value.get<std::uint64_t>();
  EXPECT_EQ(counted, sent) << meta.dump(1);
  EXPECT_EQ(meta["sources"][0]["events"], n);
  EXPECT_EQ(meta["sources"][0]["duplicates"], 0);
  EXPECT_EQ(meta["sources"][0]["rejected"], 0);
  EXPECT_EQ(meta["sources"][0]["limit_count"], sent["limit"]);
  EXPECT_EQ(meta["queue"]["durable_watermark"], n);
}

// --- the sinks' counts in /metrics --------------------------------------------------------------

TEST(api_daemon, sink_counts_in_metrics_equal_what_the_sinks_hold) {
  constexpr std::uint64_t n = 3000;
  api_pipeline p;
  pipeline_options o;
  o.firehose = {"--rate", "5000", "--count", std::to_string(n), "--resume"};
  o.tables = "[subscriptions.log]\nsink = { type = \"eventlog\", dir = \"@DATA@/events\" }\n"
             "[subscriptions.db]\nsink = { type = \"sqlite\", path = \"@DATA@/events.db\" }\n";
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  // The value of the sample whose line starts with `name{labels} `; -1 when absent.
  auto value_of = [](const std::string& text, const std::string& sample) -> double {
    auto at = text.find("\n" + sample + " ");
    if (at == std::string::npos)
      return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  };
  std::string text;
  ASSERT_TRUE(eventually(20s, [&] {
    text = p.get("/metrics").body;
    return value_of(text, "sluice_subscription_delivered_total{subscription=\"log\"}") == n &&
           value_of(text, "sluice_subscription_delivered_total{subscription=\"db\"}") == n;
  })) << text;

  std::uintmax_t file_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(p.data_dir() / "events"))
    if (e.is_regular_file() && e.path().extension() == ".ndjson")
      file_bytes += e.file_size();
  const std::string log = "{subscription=\"log\",sink=\"eventlog\"}";
  const std::string db = "{subscription=\"db\",sink=\"sqlite\"}";
  EXPECT_EQ(value_of(text, "sluice_sink_events_written_total" + log), n) << text;
  EXPECT_EQ(value_of(text, "sluice_sink_events_written_total" + db), n) << text;
  EXPECT_EQ(value_of(text, "sluice_sink_bytes_written_total" + log),
            static_cast<double>(file_bytes))
      << text;
  EXPECT_GE(value_of(text, "sluice_sink_batches_total" + log), 1) << text;
  for (const auto& labels : {log, db}) {
    EXPECT_EQ(value_of(text, "sluice_sink_failures_total" + labels), 0) << text;
    EXPECT_EQ(value_of(text, "sluice_sink_duplicates_skipped_total" + labels), 0) << text;
    EXPECT_EQ(value_of(text, "sluice_sink_recoveries_total" + labels), 0) << text;
  }
  EXPECT_EQ(value_of(text, "sluice_sink_checkpoint_failures_total" + db), 0) << text;
  auto sub = p.get_json("/subscriptions/log.json");
  EXPECT_EQ(sub["sink_counts"]["events_written"], n) << sub.dump();
  EXPECT_EQ(sub["sink_counts"]["bytes_written"], file_bytes) << sub.dump();
  EXPECT_EQ(p.get_json("/subscriptions/db.json")["sink_counts"]["duplicates_skipped"], 0);

  // A pause and a resume give the subscription a new sink: the counts go on from the old one's.
  ASSERT_EQ(p.change("POST", "/subscriptions/log/pause").status, 200);
  ASSERT_EQ(p.change("POST", "/subscriptions/log/resume").status, 200);
  text = p.get("/metrics").body;
  EXPECT_EQ(value_of(text, "sluice_sink_events_written_total" + log), n) << text;
  EXPECT_EQ(value_of(text, "sluice_sink_bytes_written_total" + log),
            static_cast<double>(file_bytes))
      << text;
}

// --- /metrics through Debian's strict parser -------------------------------------------------

TEST(api_daemon, prometheus_text_passes_the_reference_parser) {
  api_pipeline p;
  pipeline_options o;
  o.tables = "[subscriptions.events]\nsink = { type = \"eventlog\", dir = \"@DATA@/events\" }\n";
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  std::string text;
  ASSERT_TRUE(eventually(15s, [&] {
    // Every family has samples once events of each kind were delivered.
    text = p.get("/metrics").body;
    return text.find("sluice_source_events_by_type_total{source=\"nfl\",type=\"delete\"}") !=
               std::string::npos &&
           text.find("\nsluice_subscription_delivered_total{subscription=\"events\"} 0\n") ==
               std::string::npos &&
           text.find("sluice_receipt_to_delivered_seconds_count{subscription=\"events\"}") !=
               std::string::npos;
  })) << text;
  auto metrics_file = p.root() / "metrics.txt";
  std::ofstream(metrics_file) << text;
  auto script = p.root() / "parse.py";
  std::ofstream(script)
      << "import sys\n"
         "from prometheus_client.parser import text_string_to_metric_families\n"
         "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
         "    for s in f.samples:\n"
         "        labels = ','.join(k + '=' + s.labels[k] for k in sorted(s.labels))\n"
         "        print(f.name, f.type, s.name, labels)\n";
  // /usr/bin/python3 is Debian's, with python3-prometheus-client (not a python3 on PATH).
  auto out_file = p.root() / "parsed.txt";
  auto status =
      run_program({"/usr/bin/python3", script.string(), metrics_file.string()}, out_file, 30s);
  auto parsed = file_text(out_file);
  ASSERT_EQ(status, 0) << parsed;

  // family -> type, sample -> label names, and every label value seen per sample and label.
  std::map<std::string, std::string> types;
  std::map<std::string, std::set<std::string>> labels_of; // sample name -> "a,b"
  std::map<std::string, std::set<std::string>> values;    // "sample/label" -> values
  std::istringstream lines(parsed);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string family, type, sample, labels;
    fields >> family >> type >> sample >> labels;
    types[family] = type;
    std::string names;
    std::istringstream each(labels);
    for (std::string kv; std::getline(each, kv, ',');) {
      auto eq = kv.find('=');
      names += (names.empty() ? "" : ",") + kv.substr(0, eq);
      values[sample + "/" + kv.substr(0, eq)].insert(kv.substr(eq + 1));
    }
    labels_of[sample].insert(names);
  }
  auto expect_family = [&](const std::string& family, const std::string& type,
                           const std::map<std::string, std::string>& samples) {
    EXPECT_EQ(types[family], type) << family << "\n" << parsed;
    for (const auto& [sample, names] : samples)
      EXPECT_EQ(labels_of[sample], std::set<std::string>{names}) << sample << "\n" << parsed;
  };
  expect_family("sluice_up", "gauge", {{"sluice_up", ""}});
  expect_family("sluice_source_events", "counter", {{"sluice_source_events_total", "source"}});
  expect_family("sluice_source_events_by_type", "counter",
                {{"sluice_source_events_by_type_total", "source,type"}});
  expect_family("sluice_source_disconnects", "counter",
                {{"sluice_source_disconnects_total", "reason,source"}});
  expect_family("sluice_subscription_lag_events", "gauge",
                {{"sluice_subscription_lag_events", "subscription"}});
  expect_family("sluice_receipt_to_delivered_seconds", "histogram",
                {{"sluice_receipt_to_delivered_seconds_bucket", "le,subscription"},
                 {"sluice_receipt_to_delivered_seconds_count", "subscription"},
                 {"sluice_receipt_to_delivered_seconds_sum", "subscription"}});
  expect_family("sluice_receipt_to_durable_seconds", "histogram",
                {{"sluice_receipt_to_durable_seconds_bucket", "le"},
                 {"sluice_receipt_to_durable_seconds_count", ""},
                 {"sluice_receipt_to_durable_seconds_sum", ""}});
  expect_family("sluice_api_refused", "counter", {{"sluice_api_refused_total", "reason"}});
  EXPECT_EQ(values["sluice_source_events_total/source"], std::set<std::string>{"nfl"});
  EXPECT_EQ(values["sluice_subscription_lag_events/subscription"], std::set<std::string>{"events"});
  EXPECT_EQ(values["sluice_source_disconnects_total/reason"],
            (std::set<std::string>{"fatal", "http_error", "network", "rate_limited", "stall"}));
  EXPECT_EQ(values["sluice_api_refused_total/reason"],
            (std::set<std::string>{"bad_request", "body_too_large", "header_too_large",
                                   "max_connections", "rate_limited", "timeout"}));
  // The documented buckets, as the parser reads them.
  std::set<std::string> le;
  for (const char* b : {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                        "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"})
    le.insert(b);
  EXPECT_EQ(values["sluice_receipt_to_durable_seconds_bucket/le"], le);
  // Every counter's name ends in _total, in the text itself.
  std::istringstream raw(text);
  int counters = 0;
  for (std::string line; std::getline(raw, line);)
    if (line.starts_with("# TYPE ") && line.ends_with(" counter")) {
      ++counters;
      auto name = line.substr(7, line.size() - 15);
      EXPECT_TRUE(name.ends_with("_total")) << line;
    }
  EXPECT_GE(counters, 10);
}

// --- Graphite --------------------------------------------------------------------------------

/// A Graphite stand-in: a TCP listener on loopback that accepts one connection at a time and
/// reads its lines. Every wait is bounded.
class graphite_listener {
public:
  /// Listens on `port` (0: a free one).
  explicit graphite_listener(int port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~graphite_listener() {
    for (int fd : {conn_, fd_})
      if (fd >= 0)
        ::close(fd);
  }
  graphite_listener(const graphite_listener&) = delete;
  graphite_listener& operator=(const graphite_listener&) = delete;
  int port() const { return port_; }

  /// The value and timestamp of the next line for `path`, accepting a connection first when
  /// none is open; nothing at the deadline.
  std::optional<std::pair<double, std::int64_t>> next(const std::string& path,
                                                      steady::time_point deadline) {
    for (;;) {
      if (conn_ < 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, ms_until(deadline)) <= 0)
          return std::nullopt;
        conn_ = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        continue;
      }
      while (auto line = lines_.next()) {
        if (!line->starts_with(path + " "))
          continue;
        std::istringstream fields{std::string(line->substr(path.size() + 1))};
        double value = 0;
        std::int64_t at = 0;
        if (fields >> value >> at)
          return std::pair{value, at};
      }
      pollfd p{conn_, POLLIN, 0};
      if (::poll(&p, 1, ms_until(deadline)) <= 0)
        return std::nullopt;
      char buf[65536];
      auto n = ::read(conn_, buf, sizeof buf);
      if (n <= 0) {
        ::close(conn_);
        conn_ = -1;
        continue;
      }
      lines_.buffer().append(buf, static_cast<std::size_t>(n));
    }
  }

private:
  int fd_ = -1;
  int conn_ = -1;
  int port_ = 0;
  line_splitter lines_;
};

TEST(api_daemon, graphite_lines_arrive_and_its_absence_holds_up_nothing) {
  auto first = std::make_unique<graphite_listener>();
  const int port = first->port();
  ASSERT_NE(port, 0);
  api_pipeline p;
  pipeline_options o;
  o.tables = "[metrics.graphite]\naddress = \"127.0.0.1:" + std::to_string(port) +
             "\"\ninterval = \"100ms\"\n";
  ASSERT_NO_FATAL_FAILURE(p.start(o));
  const std::string path = "sluice.source_events_total.nfl";
  std::optional<std::pair<double, std::int64_t>> line;
  ASSERT_TRUE(eventually(15s, [&] {
    line = first->next(path, steady::now() + 1s);
    return line && line->first > 0;
  })) << p.run_log();
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  EXPECT_GT(line->second, 0);
  EXPECT_LE(line->second, now_s);
  const double before = line->first;

  // Graphite goes away: the daemon answers and events keep flowing.
  first.reset();
  EXPECT_EQ(p.get("/healthz").status, 200);
  auto all = p.get_json("/meta.json")["events:all_count"].get<std::uint64_t>();
  EXPECT_TRUE(eventually(15s, [&] {
    return p.get_json("/meta.json")["events:all_count"].get<std::uint64_t>() > all + 100;
  })) << p.get("/meta.json").body;
  EXPECT_EQ(p.get("/healthz").status, 200);

  // It comes back on the same port: lines again (those kept while it was away first), then with
  // the figures grown.
  graphite_listener again(port);
  ASSERT_EQ(again.port(), port);
  ASSERT_TRUE(eventually(20s, [&] {
    line = again.next(path, steady::now() + 1s);
    return line.has_value();
  })) << p.run_log();
  EXPECT_GE(line->first, before);
  EXPECT_TRUE(eventually(15s, [&] {
    line = again.next(path, steady::now() + 1s);
    return line && line->first > before;
  })) << p.run_log();
}

} // namespace
