// The control API of `sluice run` (docs/api.md) over real HTTP: every route with good and bad
// input, each refusal a JSON error with its status, and the server's limits (body and header
// sizes, the per-connection request rate, a slow-loris client beside 1,000 idle connections).
// Each test runs its own `sluice firehose` and `sluice run` in a temporary directory.

#include <algorithm>
#include <chrono>
#include <string>
#include <sys/resource.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/http_client.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using namespace sluice::testing;

/// `r` is the documented error: `status`, a JSON object with a string "error".
void expect_error(const http_response& r, int status, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto j = r.json();
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"].is_string()) << r.body;
}

/// The value of the sample `name_and_labels` (exactly as printed) in /metrics text; -1 if absent.
double metric(const std::string& text, const std::string& name_and_labels) {
  auto at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

std::vector<std::string> track_of(const api_pipeline& p) {
  auto j = p.get_json("/streams/nfl/track.json");
  return j.is_object() ? j.value("values", std::vector<std::string>{})
                       : std::vector<std::string>{"(no parameter)"};
}

class api_routes : public ::testing::Test {
protected:
  void SetUp() override {
    pipeline_options o;
    o.firehose = {"--rate", "500"};
    o.source = "change_debounce = \"100ms\"";
    o.api = "max_body_bytes = \"1KiB\"\nmax_header_bytes = \"4KiB\"\nrequest_rate = 5\n"
            "request_timeout = \"1s\"";
    o.tables = "[subscriptions.events]\nsink = { type = \"eventlog\", dir = \"@DATA@/events\" }\n";
    ASSERT_NO_FATAL_FAILURE(p_.start(o));
  }

  api_pipeline p_;
};

TEST_F(api_routes, reading_routes_answer_with_their_documents) {
  auto r = p_.get("/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto routes = r.json()["routes"];
  ASSERT_TRUE(routes.is_array()) << r.body;
  EXPECT_EQ(routes.size(), 17u) << r.body;
  std::vector<std::string> paths;
  for (const auto& route : routes)
    paths.push_back(route["path"]);
  for (const char* path : {"/", "/healthz", "/readyz", "/meta.json", "/metrics", "/queue.json",
                           "/streams.json", "/streams/NAME.json", "/streams/NAME/KEY.json",
                           "/subscriptions.json", "/subscriptions/NAME/rewind"})
    EXPECT_NE(std::find(paths.begin(), paths.end(), path), paths.end()) << path;

  r = p_.get("/", {"Accept: text/plain"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 17) << r.body;
  EXPECT_NE(r.body.find("GET PUT              /streams/NAME.json"), std::string::npos) << r.body;

  r = p_.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), json({{"status", "alive"}}));
  r = p_.get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), json({{"status", "ready"}}));

  auto meta = p_.get_json("/meta.json");
  ASSERT_TRUE(meta.is_object());
  for (const char* key : {"start_time", "host", "pid", "running", "version", "events:all_count",
                          "events:last_time", "events:rate", "sources", "queue", "subscriptions"})
    EXPECT_TRUE(meta.contains(key)) << key;
  EXPECT_EQ(meta["running"], true);
  ASSERT_EQ(meta["sources"].size(), 1u);
  EXPECT_EQ(meta["sources"][0]["name"], "nfl");
  EXPECT_FALSE(meta["queue"].contains("subscriptions"));
  ASSERT_EQ(meta["subscriptions"].size(), 1u);
  EXPECT_EQ(meta["subscriptions"][0]["name"], "events");

  r = p_.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metric(r.body, "sluice_up"), 1) << r.body;

  auto queue = p_.get_json("/queue.json");
  std::vector<std::string> keys;
  for (const auto& [k, _] : queue.items())
    keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"blocked_appenders", "damaged_records", "depth", "disk_bytes",
                                      "disk_full", "dropped_records", "durable_watermark", "failed",
                                      "first_position", "gap_records", "last_position", "segments",
                                      "shared", "subscriptions", "unreadable_cursors"}));
  EXPECT_EQ(queue["shared"].size(), 9u); // queue::k_shared_counters
  EXPECT_EQ(queue["shared"]["claimed_records"], 0);
  EXPECT_EQ(queue["failed"], false);
  EXPECT_EQ(queue["disk_full"], false);
  EXPECT_EQ(queue["gap_records"], 0);
  EXPECT_EQ(queue["unreadable_cursors"], 0);
  ASSERT_EQ(queue["subscriptions"].size(), 1u);
  EXPECT_EQ(queue["subscriptions"][0]["name"], "events");

  auto streams = p_.get_json("/streams.json");
  ASSERT_EQ(streams["streams"].size(), 1u) << streams;
  auto nfl = p_.get_json("/streams/nfl.json");
  EXPECT_EQ(streams["streams"][0]["name"], "nfl");
  EXPECT_EQ(nfl["type"], "http");
  EXPECT_EQ(nfl["method"], "POST");
  EXPECT_EQ(nfl["enabled"], true);
  EXPECT_EQ(nfl["origin"], "file");
  EXPECT_EQ(nfl["params"], json({{"track", {"Bills", "Jets"}}}));
  EXPECT_EQ(p_.get_json("/streams/nfl/track.json"),
            json({{"name", "nfl"}, {"key", "track"}, {"values", {"Bills", "Jets"}}}));

  auto subs = p_.get_json("/subscriptions.json");
  ASSERT_EQ(subs["subscriptions"].size(), 1u) << subs;
  auto events = p_.get_json("/subscriptions/events.json");
  EXPECT_EQ(events["name"], "events");
  EXPECT_EQ(events["origin"], "file");
  EXPECT_EQ(events["state"], "running");
  EXPECT_EQ(events["deliver"], "continuous");
  EXPECT_EQ(events["sink"]["type"], "eventlog");
  EXPECT_EQ(events["sink"]["dir"], (p_.data_dir() / "events").string());
}

TEST_F(api_routes, stream_parameter_routes_set_add_and_remove_values) {
  auto values = [](const http_response& r) { return r.json().value("values", json()); };
  auto r = p_.change("PUT", "/streams/nfl/track.json?values=Bears,Packers");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json({{"name", "nfl"}, {"key", "track"}, {"values", {"Bears", "Packers"}}}));
  EXPECT_EQ(track_of(p_), (std::vector<std::string>{"Bears", "Packers"}));

  r = p_.change("POST", "/streams/nfl/track.json?values=Lions,Bears");
  EXPECT_EQ(values(r), json({"Bears", "Packers", "Lions"})) << r.body;
  r = p_.change("POST", "/streams/nfl/track.json?add=Jets&remove=Packers");
  EXPECT_EQ(values(r), json({"Bears", "Lions", "Jets"})) << r.body;
  r = p_.change("PUT", "/streams/nfl/track.json?values=Vikings&add=Rams&remove=Vikings");
  EXPECT_EQ(values(r), json({"Rams"})) << r.body;
  // Form bodies count as parameters.
  r = p_.change("POST", "/streams/nfl/track.json", "values=Chiefs%2CBills&add=Green+Bay",
                "application/x-www-form-urlencoded");
  EXPECT_EQ(values(r), json({"Rams", "Chiefs", "Bills", "Green Bay"})) << r.body;
  r = p_.change("DELETE", "/streams/nfl/track.json?values=Rams,Bills");
  EXPECT_EQ(values(r), json({"Chiefs", "Green Bay"})) << r.body;
  EXPECT_EQ(track_of(p_), (std::vector<std::string>{"Chiefs", "Green Bay"}));

  // A new parameter of the known names, then the whole stream's parameters at once.
  r = p_.change("PUT", "/streams/nfl/language.json?values=en");
  EXPECT_EQ(r.json(), json({{"name", "nfl"}, {"key", "language"}, {"values", {"en"}}})) << r.body;
  r = p_.change("PUT", "/streams/nfl.json", R"({"track": ["Bears", "Lions"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["params"], json({{"language", {"en"}}, {"track", {"Bears", "Lions"}}}));
  EXPECT_EQ(r.json()["origin"], "api");
  r = p_.change("PUT", "/streams/nfl.json", R"({"params": {"language": "fr,de"}})");
  EXPECT_EQ(r.json()["params"], json({{"language", {"fr", "de"}}, {"track", {"Bears", "Lions"}}}))
      << r.body;
  r = p_.change("PUT", "/streams/nfl.json?track=Jets,Giants", {}, {});
  EXPECT_EQ(r.json()["params"]["track"], json({"Jets", "Giants"})) << r.body;
  auto nfl = p_.get_json("/streams/nfl.json");
  EXPECT_EQ(nfl["params"], json({{"language", {"fr", "de"}}, {"track", {"Jets", "Giants"}}}));
  EXPECT_EQ(nfl["origin"], "api");
  EXPECT_EQ(p_.get_json("/streams.json")["streams"][0]["origin"], "api");
}

// DELETE without values= "removes the parameter" (docs/api.md): GET then has no such parameter.
TEST_F(api_routes, delete_without_values_removes_the_parameter) {
  auto r = p_.change("PUT", "/streams/nfl/language.json?values=en");
  ASSERT_EQ(r.status, 200) << r.body;
  r = p_.change("DELETE", "/streams/nfl/language.json");
  ASSERT_EQ(r.status, 200) << r.body;
  expect_error(p_.get("/streams/nfl/language.json"), 404, "GET a removed parameter");
  EXPECT_EQ(p_.get_json("/streams/nfl.json")["params"], json({{"track", {"Bills", "Jets"}}}));
}

TEST_F(api_routes, stream_stop_start_and_restart) {
  auto r = p_.change("POST", "/streams/nfl/stop");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["enabled"], false) << r.body;
  EXPECT_EQ(r.json()["state"], "stopped") << r.body;
  auto nfl = p_.get_json("/streams/nfl.json");
  EXPECT_EQ(nfl["enabled"], false);
  EXPECT_EQ(nfl["state"], "stopped");
  expect_error(p_.change("POST", "/streams/nfl/restart"), 409, "restart a stopped stream");

  r = p_.change("POST", "/streams/nfl/start");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["enabled"], true) << r.body;
  EXPECT_TRUE(eventually(10s, [&] {
    return p_.get_json("/streams/nfl.json")["state"] == "connected";
  })) << p_.get("/streams/nfl.json").body;
  auto connects = p_.source_figure("connects");
  r = p_.change("POST", "/streams/nfl/restart");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["name"], "nfl");
  EXPECT_TRUE(eventually(10s, [&] { return p_.source_figure("connects") == connects + 1; }))
      << p_.get("/meta.json").body;
}

TEST_F(api_routes, subscription_routes_create_pause_resume_rewind_and_delete) {
  auto r = p_.change("POST", "/subscriptions.json",
                     R"({"name": "bears", "sink": {"type": "eventlog", "dir": "bears-events"},
                         "filter": {"field": "entities.hashtags[].text", "any_of": ["Bears"]},
                         "start": "beginning", "batch": 100, "retry": {"max_attempts": 10}})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto s = r.json();
  EXPECT_EQ(s["name"], "bears");
  EXPECT_EQ(s["origin"], "api");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["batch"], 100);
  EXPECT_EQ(s["sink"]["dir"], (p_.data_dir() / "bears-events").string());
  EXPECT_EQ(s["filter"], json({{"field", "entities.hashtags[].text"}, {"any_of", {"Bears"}}}));
  auto names = [&] {
    std::vector<std::string> out;
    auto all = p_.get_json("/subscriptions.json");
    for (const auto& sub : all["subscriptions"])
      out.push_back(sub["name"]);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names(), (std::vector<std::string>{"bears", "events"}));
  EXPECT_EQ(p_.get_json("/subscriptions/bears.json")["origin"], "api");

  r = p_.change("POST", "/subscriptions/bears/pause");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "paused");
  EXPECT_EQ(p_.get_json("/subscriptions/bears.json")["state"], "paused");
  r = p_.change("POST", "/subscriptions/bears/resume");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "running");

  for (const char* to : {R"({"to": "beginning"})", R"({"to": "end"})", R"({"to": 1})",
                         R"({"to": "2000-01-01T00:00:00Z"})"}) {
    r = p_.change("POST", "/subscriptions/bears/rewind", to);
    EXPECT_EQ(r.status, 200) << to << ": " << r.body;
    EXPECT_EQ(r.json()["name"], "bears") << to;
  }
  r = p_.change("DELETE", "/subscriptions/bears.json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json({{"deleted", "bears"}}));
  expect_error(p_.get("/subscriptions/bears.json"), 404, "a deleted subscription");
  EXPECT_EQ(names(), (std::vector<std::string>{"events"}));
  // The name is free again.
  r = p_.change("POST", "/subscriptions.json",
                R"({"name": "bears", "sink": {"type": "sqlite", "path": "bears.db"}})");
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(api_routes, a_subscription_keeps_its_counts_across_pause_resume_and_rewind) {
  auto delivered = [&] {
    return p_.get_json("/subscriptions/events.json").value("delivered", std::uint64_t{0});
  };
  ASSERT_TRUE(eventually(10s, [&] { return delivered() >= 100; }))
      << p_.get("/subscriptions/events.json").body;
  auto before = delivered();
  ASSERT_EQ(p_.change("POST", "/subscriptions/events/pause").status, 200);
  auto paused = delivered();
  EXPECT_GE(paused, before);
  // Nothing is delivered while paused, and nothing counted is forgotten.
  auto lag = [&] { return p_.get_json("/subscriptions/events.json").value("lag", 0); };
  ASSERT_TRUE(eventually(10s, [&] { return lag() >= 50; }));
  EXPECT_EQ(delivered(), paused);
  ASSERT_EQ(p_.change("POST", "/subscriptions/events/resume").status, 200);
  EXPECT_TRUE(eventually(10s, [&] { return delivered() >= paused + 50; }))
      << p_.get("/subscriptions/events.json").body;
  // A rewind to the beginning delivers everything again, counted on top.
  auto resumed = delivered();
  ASSERT_EQ(p_.change("POST", "/subscriptions/events/rewind", R"({"to": "beginning"})").status,
            200);
  EXPECT_GE(delivered(), resumed);
  EXPECT_TRUE(eventually(10s, [&] { return delivered() >= 2 * resumed; }))
      << p_.get("/subscriptions/events.json").body;
}

TEST_F(api_routes, refusals_are_json_errors_with_their_status) {
  // Wrong method: 405 with Allow.
  struct wrong {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (auto w : {wrong{"DELETE", "/healthz", "GET, HEAD"}, wrong{"POST", "/meta.json", "GET"},
                 wrong{"PUT", "/subscriptions.json", "GET, POST"},
                 wrong{"POST", "/streams/nfl.json", "GET, PUT"},
                 wrong{"PATCH", "/streams/nfl/track.json", "GET, POST, PUT, DELETE"},
                 wrong{"GET", "/streams/nfl/stop", "POST"},
                 wrong{"POST", "/subscriptions/events.json", "GET, DELETE"},
                 wrong{"GET", "/subscriptions/events/rewind", "POST"}}) {
    auto r = p_.change(w.method, w.target);
    expect_error(r, 405, std::string(w.method) + " " + w.target);
    EXPECT_EQ(r.header("allow"), w.allow) << w.method << " " << w.target;
  }
  // Unknown routes, streams and subscriptions: 404.
  for (const char* target :
       {"/nope", "/streams/nfl", "/streams/nfl/bogus", "/meta", "/subscriptions/events/bogus",
        "/streams/nosuch.json", "/streams/nosuch/track.json", "/subscriptions/nosuch.json"})
    expect_error(p_.get(target), 404, std::string("GET ") + target);
  expect_error(p_.get("/streams/nfl/colour.json"), 404, "GET a parameter the stream has not");
  expect_error(p_.change("POST", "/streams/nosuch/stop"), 404, "stop an unknown stream");
  expect_error(p_.change("PUT", "/streams/nosuch/track.json?values=a"), 404, "unknown stream");
  expect_error(p_.change("POST", "/subscriptions/nosuch/pause"), 404, "pause unknown");
  expect_error(p_.change("DELETE", "/subscriptions/nosuch.json"), 404, "delete unknown");

  // Unknown parameters and keys: 400, and nothing stored.
  expect_error(p_.change("PUT", "/streams/nfl/track.json?values=Bears&colour=red"), 400,
               "unknown query parameter");
  expect_error(p_.change("POST", "/streams/nfl/track.json", "values=Bears&colour=red",
                         "application/x-www-form-urlencoded"),
               400, "unknown form parameter");
  expect_error(p_.get("/streams/nfl/track.json?colour=red"), 400, "GET with a parameter");
  expect_error(p_.change("PUT", "/streams/nfl/colour.json?values=red"), 400, "unknown key");
  expect_error(p_.change("PUT", "/streams/nfl.json", R"({"colour": ["red"]})"), 400,
               "unknown key in a JSON body");
  expect_error(p_.change("PUT", "/streams/nfl.json?colour=red", {}, {}), 400,
               "unknown key in the query");
  expect_error(p_.change("PUT", "/streams/nfl/track.json?add=Bears"), 400, "PUT without values");
  expect_error(p_.change("POST", "/streams/nfl/track.json"), 400, "POST without values");
  expect_error(p_.change("PUT", "/streams/nfl/track.json?values=%zz"), 400, "bad escape");
  EXPECT_EQ(track_of(p_), (std::vector<std::string>{"Bills", "Jets"}));
  EXPECT_EQ(p_.get_json("/streams/nfl.json")["params"], json({{"track", {"Bills", "Jets"}}}));
  EXPECT_EQ(p_.get_json("/streams/nfl.json")["origin"], "file");

  // Malformed JSON bodies: 400.
  expect_error(p_.change("POST", "/subscriptions.json", "{not json"), 400, "malformed POST");
  expect_error(p_.change("PUT", "/streams/nfl.json", "[1,"), 400, "malformed PUT");
  expect_error(p_.change("POST", "/subscriptions/events/rewind", "{"), 400, "malformed rewind");
  expect_error(p_.change("POST", "/subscriptions.json", "[1, 2]"), 400, "not an object");

  // The token: 401 without (with WWW-Authenticate), 403 with a wrong one.
  auto r = http_call(p_.port(), "POST", "/streams/nfl/restart");
  expect_error(r, 401, "no token");
  EXPECT_TRUE(r.header("www-authenticate").starts_with("Bearer")) << r.header("www-authenticate");
  r = http_call(p_.port(), "DELETE", "/subscriptions/events.json", {},
                {"Authorization: Bearer " + std::string(64, '0')});
  expect_error(r, 403, "wrong token");
  r = http_call(p_.port(), "PUT", "/streams/nfl/track.json?values=Bears", {},
                {"Authorization: Basic dXNlcjpwYXNz"});
  expect_error(r, 403, "not a bearer token");
  EXPECT_EQ(track_of(p_), (std::vector<std::string>{"Bills", "Jets"}));

  // Subscriptions that cannot be created.
  for (const char* body :
       {R"({"name": "x", "sink": {"type": "eventlog", "dir": "../outside"}})",
        R"({"name": "x", "sink": {"type": "eventlog", "dir": "a/../../outside"}})",
        R"({"name": "x", "sink": {"type": "eventlog", "dir": "/tmp/outside"}})",
        R"({"name": "x", "sink": {"type": "sqlite", "path": "/tmp/outside.db"}})",
        R"({"name": "x", "sink": {"type": "nosuch"}})",
        R"({"name": "x", "sink": {"type": "eventlog", "dir": "x"}, "batch": 0})",
        R"({"name": "x", "sink": {"type": "eventlog", "dir": "x"}, "colour": "red"})",
        R"({"name": "x", "sink": {"type": "eventlog", "dir": "x"}, "start": "yesterday"})",
        R"({"name": "bad name", "sink": {"type": "eventlog", "dir": "x"}})",
        R"({"name": "../x", "sink": {"type": "eventlog", "dir": "x"}})",
        R"({"name": "x", "sink": {"type": "sqlite", "path": "db/../../outside.db"}})",
        R"({"sink": {"type": "eventlog", "dir": "x"}})", R"({"name": "x"})"})
    expect_error(p_.change("POST", "/subscriptions.json", body), 400, body);
  EXPECT_FALSE(fs::exists("/tmp/outside"));
  expect_error(p_.change("POST", "/subscriptions.json",
                         R"({"name": "events", "sink": {"type": "eventlog", "dir": "x"}})"),
               409, "a subscription that exists");
  expect_error(p_.change("DELETE", "/subscriptions/events.json"), 409,
               "delete one the file defines");
  EXPECT_EQ(p_.get_json("/subscriptions.json")["subscriptions"].size(), 1u);

  // Rewinds to where the queue has nothing.
  expect_error(p_.change("POST", "/subscriptions/events/rewind", R"({"to": 1000000000})"), 400,
               "a position past the end");
  expect_error(p_.change("POST", "/subscriptions/events/rewind", R"({"to": 0})"), 400,
               "position 0");
  expect_error(
      p_.change("POST", "/subscriptions/events/rewind", R"({"to": "2100-01-01T00:00:00Z"})"), 400,
      "a time after the last event");
  expect_error(p_.change("POST", "/subscriptions/events/rewind", R"({"to": "soon"})"), 400,
               "not a time");
  expect_error(p_.change("POST", "/subscriptions/events/rewind", R"({"to": 1, "x": 2})"), 400,
               "an unknown key");
  expect_error(p_.change("POST", "/subscriptions/events/rewind", R"({})"), 400, "no \"to\"");
}

TEST_F(api_routes, body_and_header_limits_answer_413_and_431) {
  // A body under max_body_bytes (1 KiB) is read (and refused for its unknown key); one over is
  // 413 before anything runs.
  std::string small = R"({"name": "x", "pad": ")" + std::string(900, 'a') + "\"}";
  expect_error(p_.change("POST", "/subscriptions.json", small), 400, "a body under the limit");
  std::string large = R"({"name": "x", "pad": ")" + std::string(2000, 'a') + "\"}";
  auto r = p_.change("POST", "/subscriptions.json", large);
  expect_error(r, 413, "a body over the limit");
  EXPECT_EQ(r.json()["detail"], json({{"max_body_bytes", 1024}})) << r.body;

  // Headers under max_header_bytes (4 KiB) pass; over it is 431.
  r = p_.get("/healthz", {"X-Pad: " + std::string(3000, 'a')});
  EXPECT_EQ(r.status, 200) << r.body;
  r = p_.get("/healthz", {"X-Pad: " + std::string(8000, 'a')});
  expect_error(r, 431, "a header over the limit");
  EXPECT_EQ(r.json()["detail"], json({{"max_header_bytes", 4096}})) << r.body;

  // Not HTTP at all: 400.
  http_connection c(p_.port());
  auto deadline = steady::now() + 10s;
  ASSERT_TRUE(c.send("NOT HTTP\r\n\r\n", deadline));
  auto bad = c.read_response(deadline);
  ASSERT_TRUE(bad.has_value());
  expect_error(*bad, 400, "not HTTP");

  auto metrics = p_.get("/metrics").body;
  EXPECT_EQ(metric(metrics, R"(sluice_api_refused_total{reason="body_too_large"})"), 1) << metrics;
  EXPECT_EQ(metric(metrics, R"(sluice_api_refused_total{reason="header_too_large"})"), 1);
  EXPECT_EQ(metric(metrics, R"(sluice_api_refused_total{reason="bad_request"})"), 1);
  EXPECT_EQ(p_.get_json("/subscriptions.json")["subscriptions"].size(), 1u);
}

TEST_F(api_routes, request_rate_refuses_a_burst_on_one_connection_not_the_next) {
  // 20 requests at once on one keep-alive connection with request_rate = 5: the bucket starts
  // full, so the first five pass whatever the timing; the rest come faster than it refills.
  constexpr int burst = 20;
  http_connection c(p_.port());
  auto deadline = steady::now() + 15s;
  std::string requests;
  for (int i = 0; i < burst; ++i)
    requests += request_text("GET", "/healthz");
  ASSERT_TRUE(c.send(requests, deadline));
  int refused = 0;
  for (int i = 0; i < burst; ++i) {
    auto r = c.read_response(deadline);
    ASSERT_TRUE(r.has_value()) << "response " << i + 1;
    if (i < 5) {
      EXPECT_EQ(r->status, 200) << "request " << i + 1;
      continue;
    }
    if (r->status == 429) {
      ++refused;
      expect_error(*r, 429, "request " + std::to_string(i + 1));
      EXPECT_EQ(r->header("retry-after"), "1");
      EXPECT_EQ(r->json()["detail"], json({{"request_rate", 5}}));
    } else {
      EXPECT_EQ(r->status, 200) << "request " << i + 1;
    }
  }
  EXPECT_GE(refused, 1);
  // The connection stays open, and a new connection has its own budget.
  EXPECT_FALSE(c.ended());
  EXPECT_EQ(p_.get("/healthz").status, 200);
  auto metrics = p_.get("/metrics").body;
  EXPECT_EQ(metric(metrics, R"(sluice_api_refused_total{reason="rate_limited"})"), refused)
      << metrics;
}

TEST_F(api_routes, idle_connections_and_a_slow_loris_do_not_keep_others_waiting) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  ASSERT_GE(lim.rlim_cur, 1100u) << "RLIMIT_NOFILE hard limit too low for 1,000 connections";

  constexpr int idle = 1000;
  std::vector<std::unique_ptr<http_connection>> held;
  for (int i = 0; i < idle; ++i) {
    held.push_back(std::make_unique<http_connection>(p_.port()));
    ASSERT_TRUE(held.back()->connected()) << "connection " << i;
  }
  // The server holds them all (and the connection asking).
  auto open = [&] { return metric(p_.get("/metrics").body, "sluice_api_open_connections"); };
  EXPECT_TRUE(eventually(15s, [&] { return open() == idle + 1; })) << open();

  // A slow-loris client: one byte of a request header every 200 ms.
  http_connection loris(p_.port());
  ASSERT_TRUE(loris.connected());
  const std::string slow = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " +
                           std::string(200, 'a'); // never ends within the deadline
  auto deadline = steady::now() + 15s;
  std::size_t sent = 0;
  ASSERT_TRUE(loris.send(slow.substr(sent++, 1), deadline));

  // Others are answered meanwhile.
  auto r = p_.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), json({{"status", "alive"}}));

  // The loris's request never arrives whole: after request_timeout (1 s) the server ends it.
  bool ended = false;
  while (!ended && steady::now() < deadline && sent < slow.size()) {
    ended = loris.wait_closed(std::min(deadline, steady::now() + 200ms));
    if (!ended && !loris.send(slow.substr(sent++, 1), deadline))
      ended = loris.wait_closed(deadline);
  }
  ASSERT_TRUE(ended) << "the slow client's connection is still open after " << sent << " bytes";
  EXPECT_LT(sent, slow.size());
  if (!loris.pending().empty()) {
    EXPECT_TRUE(loris.pending().starts_with("HTTP/1.1 408 ")) << loris.pending();
  }
  auto metrics = p_.get("/metrics").body;
  EXPECT_EQ(metric(metrics, R"(sluice_api_refused_total{reason="timeout"})"), 1) << metrics;
  EXPECT_EQ(p_.get("/healthz").status, 200);

  held.clear();
  EXPECT_TRUE(eventually(15s, [&] { return open() == 1; })) << open();
}

// HEAD /healthz and /readyz (the routes allow HEAD for load balancers) answer with the
// headers only: a response to HEAD has no content (RFC 9110 9.3.2), or a keep-alive client
// reads the body as the start of the next response.
TEST_F(api_routes, head_is_answered_without_a_body) {
  for (const char* target : {"/healthz", "/readyz"}) {
    http_connection c(p_.port());
    auto deadline = steady::now() + 10s;
    ASSERT_TRUE(c.send(request_text("HEAD", target, {}, {"Connection: close"}), deadline));
    ASSERT_TRUE(c.wait_closed(deadline)) << target;
    EXPECT_TRUE(c.pending().starts_with("HTTP/1.1 200 OK\r\n")) << c.pending();
    EXPECT_TRUE(c.pending().ends_with("\r\n\r\n")) << target << ": " << c.pending();
  }
}

// docs/api.md: a request that does not arrive whole within request_timeout is answered 408
// before its connection closes.
TEST_F(api_routes, a_request_past_request_timeout_is_answered_408) {
  http_connection c(p_.port());
  auto deadline = steady::now() + 10s;
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", deadline));
  auto r = c.read_response(deadline);
  ASSERT_TRUE(r.has_value()) << "the connection closed without an answer: "
                             << (c.ended() ? "closed" : "open");
  expect_error(*r, 408, "request_timeout");
}

} // namespace
