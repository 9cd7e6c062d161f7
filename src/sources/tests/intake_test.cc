#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sources/dead_letter.h"
#include "sources/intake.h"
#include "sources/record_check.h"
#include "sources/tests/source_helpers.h"

namespace sluice::sources {
namespace {

using namespace testing;

TEST(record_check, control_messages_typed_by_their_key) {
  record_check c(config::record_format::json, "tweet");
  EXPECT_EQ(c.check(R"({"delete":{"status":{"id":1}}})").type, "delete");
  EXPECT_EQ(c.check(R"({"limit":{"track":5}})").type, "limit");
  EXPECT_EQ(c.check(R"({"id":1,"text":"x"})").type, "tweet");
  EXPECT_EQ(c.check(R"({"limit":5})").type, "tweet");
  EXPECT_EQ(c.check(R"({"a":{},"b":{}})").type, "tweet");
  EXPECT_EQ(c.check(R"([{"a":{}}])").type, "tweet");
  EXPECT_EQ(c.check("42").type, "tweet");
  auto v = c.check(R"({"id":)");
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.why, reason::invalid_json);
  v = c.check("{\"a\":\"\xff\"}");
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.why, reason::not_utf8);
  // Bad bytes are not UTF-8 whether or not the JSON around them is whole.
  EXPECT_EQ(c.check("{\"a\":\xff").why, reason::not_utf8);
  EXPECT_EQ(c.check("\xc3\x28").why, reason::not_utf8);
  EXPECT_EQ(c.check("[1,2").why, reason::invalid_json);
}

TEST(record_check, lines_format_checks_utf8_only) {
  record_check c(config::record_format::lines, "line");
  EXPECT_TRUE(c.check("not json").accepted);
  EXPECT_EQ(c.check("not json").type, "line");
  EXPECT_EQ(c.check("bad \xc3\x28").why, reason::not_utf8);
}

TEST(intake, rejects_are_counted_and_dead_lettered_accepted_go_to_the_queue) {
  temp_dir d;
  auto q = open_queue(d / "q");
  source_context ctx(source_cfg("feed", config::record_format::json), *q, d.path());
  intake in(ctx);
  std::string stream = "{\"id\":1}\n{\"id\":\n\"\xff\"\n" + std::string(200, 'z') +
                       "\n{\"delete\":{\"id\":1}}\r\n\n[1,2]\n";
  in.feed(stream);
  EXPECT_EQ(in.framed(), 6u);
  auto r = in.commit();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->appended, 3u); // one append for the whole read
  EXPECT_EQ(r->first + 2, r->last);

  auto events = read_events(*q);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].payload, "{\"id\":1}");
  EXPECT_EQ(events[0].type, "event");
  EXPECT_EQ(events[0].source, "feed");
  EXPECT_EQ(events[1].type, "delete");
  EXPECT_EQ(events[2].payload, "[1,2]");

  EXPECT_EQ(ctx.stats.records.load(), 3u);
  EXPECT_EQ(ctx.stats.rejected_by(reason::invalid_json), 1u);
  EXPECT_EQ(ctx.stats.rejected_by(reason::not_utf8), 1u);
  EXPECT_EQ(ctx.stats.rejected_by(reason::too_long), 1u);

  auto lines = file_lines(d / "dead-letter/feed.ndjson");
  ASSERT_EQ(lines.size(), 3u);
  auto j0 = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j0["reason"], "invalid_json");
  EXPECT_EQ(j0["source"], "feed");
  EXPECT_EQ(j0["record"], "{\"id\":");
  EXPECT_TRUE(j0["time"].is_string());
  auto j1 = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(j1["reason"], "not_utf8");
  EXPECT_EQ(j1["record"], "\"\xef\xbf\xbd\"");
  auto j2 = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(j2["reason"], "too_long");
  EXPECT_EQ(j2["length"], 200);
  EXPECT_EQ(j2["record"], std::string(200, 'z'));
  ASSERT_TRUE(q->close().has_value());
}

TEST(intake, too_long_stores_only_the_first_kib) {
  temp_dir d;
  auto q = open_queue(d / "q");
  source_context ctx(source_cfg("s", config::record_format::lines), *q, d.path());
  intake in(ctx);
  std::string big(100000, 'q');
  in.feed(big);
  in.feed("\nok\n");
  ASSERT_EQ(in.commit()->appended, 1u);
  auto lines = file_lines(d / "dead-letter/s.ndjson");
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["length"], 100000);
  EXPECT_EQ(j["record"].get<std::string>().size(), 1024u);
  ASSERT_TRUE(q->close().has_value());
}

// Coverage = received / (received + skipped) x 100 since the connection began, the skipped count
// being the last limit notice's (cumulative for the connection).
TEST(intake, limit_notices_give_coverage_worked_examples) {
  temp_dir d;
  auto q = open_queue(d / "q");
  source_context ctx(source_cfg("feed", config::record_format::json), *q, d.path());
  intake in(ctx);
  EXPECT_EQ(ctx.stats.coverage(), 100.0); // nothing yet
  // 80%: 8 events, and the API skipped 2 of them.
  in.feed("{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n{\"limit\":{\"track\":1}}\n");
  in.feed("{\"id\":5}\n{\"id\":6}\n{\"id\":7}\n{\"id\":8}\n{\"limit\":{\"track\":2}}\n");
  ASSERT_EQ(in.commit()->appended, 10u); // limit notices are events too (type "limit")
  EXPECT_EQ(ctx.stats.connection_events.load(), 8u);
  EXPECT_EQ(ctx.stats.limit_notices.load(), 2u);
  EXPECT_EQ(ctx.stats.limit_skipped.load(), 2u);
  EXPECT_GT(ctx.stats.limit_last_ns.load(), 0);
  EXPECT_EQ(ctx.stats.coverage(), 80.0);
  // A new connection starts again at 100; then 25%: 1 event, 3 skipped.
  ctx.stats.connection_began();
  EXPECT_EQ(ctx.stats.coverage(), 100.0);
  in.feed("{\"id\":9}\n{\"limit\":{\"track\":3}}\n");
  ASSERT_EQ(in.commit()->appended, 2u);
  EXPECT_EQ(ctx.stats.coverage(), 25.0);
  EXPECT_EQ(ctx.stats.limit_notices.load(), 3u); // over the source's life
  // Not limit notices: a "limit" that is not an object, a notice without a number.
  in.feed("{\"limit\":5}\n{\"limit\":{\"track\":\"x\"}}\n");
  ASSERT_EQ(in.commit()->appended, 2u);
  EXPECT_EQ(ctx.stats.limit_notices.load(), 3u);
  ASSERT_TRUE(q->close().has_value());
}

} // namespace
} // namespace sluice::sources
