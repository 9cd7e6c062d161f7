#include <gtest/gtest.h>

#include "sinks/envelope.h"
#include "sinks/eventlog_state.h"

namespace sluice::sinks {
namespace {

TEST(envelope, embeds_objects_and_arrays_raw_and_nothing_else) {
  EXPECT_TRUE(envelope::embeds_raw(R"({"a":1})"));
  EXPECT_TRUE(envelope::embeds_raw(" [1,2] \r"));
  EXPECT_FALSE(envelope::embeds_raw("{broken"));
  EXPECT_FALSE(envelope::embeds_raw("hello"));
  EXPECT_FALSE(envelope::embeds_raw("42"));
  EXPECT_FALSE(envelope::embeds_raw(""));
}

TEST(envelope, rfc3339_with_nanoseconds_in_utc) {
  envelope::utc_format f;
  std::string out;
  f.append_rfc3339_ns(out, 1700000000123456789);
  EXPECT_EQ(out, "2023-11-14T22:13:20.123456789Z");
  out.clear();
  f.append_rfc3339_ns(out, 1700000000000000001); // same second, from the cache
  EXPECT_EQ(out, "2023-11-14T22:13:20.000000001Z");
  out.clear();
  f.append_rfc3339_ns(out, 0);
  EXPECT_EQ(out, "1970-01-01T00:00:00.000000000Z");
}

TEST(envelope, whole_line) {
  envelope::utc_format f;
  std::string out;
  queue::event_view e{7, 1700000000123456789, "fh", "tweet", "", R"({"text":"hi"})"};
  envelope::append_envelope(out, e, f);
  EXPECT_EQ(out, R"({"id":7,"source":"fh","received_at":"2023-11-14T22:13:20.123456789Z",)"
                 R"("type":"tweet","event":{"text":"hi"}})");
}

TEST(eventlog_names, format_and_parse) {
  EXPECT_EQ(eventlog_file_name(1700000000123456789, 12), "events-20231114T221320Z-000012.ndjson");
  EXPECT_EQ(eventlog_file_name(1700000000123456789, 1234567),
            "events-20231114T221320Z-1234567.ndjson");
  EXPECT_EQ(parse_eventlog_file_seq("events-20231114T221320Z-000012.ndjson"), 12u);
  EXPECT_EQ(parse_eventlog_file_seq("events-20231114T221320Z-12.ndjson"), 12u);
  EXPECT_EQ(parse_eventlog_file_seq("events-20231114T221320Z-.ndjson"), std::nullopt);
  EXPECT_EQ(parse_eventlog_file_seq("events-20231114T221320Z-1x.ndjson"), std::nullopt);
  EXPECT_EQ(parse_eventlog_file_seq("current"), std::nullopt);
  EXPECT_EQ(parse_eventlog_file_seq(".eventlog-state"), std::nullopt);
}

} // namespace
} // namespace sluice::sinks
