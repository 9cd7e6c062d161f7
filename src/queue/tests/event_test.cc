#include <gtest/gtest.h>

#include "queue/event.h"

namespace sluice::queue {
namespace {

TEST(event, round_trip_through_a_record) {
  std::string buf;
  encode_event(buf, "firehose", "tweet", "Bears", R"({"id":1})");
  EXPECT_EQ(buf.size(), encoded_event_size("firehose", "tweet", "Bears", R"({"id":1})"));
  record r{42, 7, buf};
  auto e = decode_event(r).value();
  EXPECT_EQ(e.id, 42u);
  EXPECT_EQ(e.received_ns, 7);
  EXPECT_EQ(e.source, "firehose");
  EXPECT_EQ(e.type, "tweet");
  EXPECT_EQ(e.key, "Bears");
  EXPECT_EQ(e.payload, R"({"id":1})");
}

TEST(event, a_plain_record_is_an_untyped_event) {
  record r{1, 0, "hello"};
  auto e = decode_event(r).value();
  EXPECT_EQ(e.type, "event");
  EXPECT_EQ(e.source, "");
  EXPECT_EQ(e.payload, "hello");
}

TEST(event, a_truncated_envelope_is_corrupt) {
  std::string buf;
  encode_event(buf, "src", "type", "", "x");
  record r{1, 0, std::string_view(buf).substr(0, 9)};
  EXPECT_EQ(decode_event(r).error(), errc::corrupt);
}

} // namespace
} // namespace sluice::queue
