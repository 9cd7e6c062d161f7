#include <gtest/gtest.h>

#include "pipeline/filter.h"

namespace sluice::pipeline {
namespace {

queue::event_view ev(std::string_view type, std::string_view payload) {
  queue::event_view e;
  e.type = type;
  e.payload = payload;
  return e;
}

TEST(filter, by_type) {
  config::filter_config c;
  c.types = {"tweet"};
  event_filter f(c);
  EXPECT_TRUE(f.pass(ev("tweet", "{}")));
  EXPECT_FALSE(f.pass(ev("delete", "{}")));
}

TEST(filter, by_field_through_arrays) {
  config::filter_config c;
  c.field = "entities.hashtags[].text";
  c.any_of = {"Bears", "Packers"};
  event_filter f(c);
  EXPECT_TRUE(
      f.pass(ev("tweet", R"({"entities":{"hashtags":[{"text":"Jets"},{"text":"Bears"}]}})")));
  EXPECT_FALSE(f.pass(ev("tweet", R"({"entities":{"hashtags":[{"text":"Jets"}]}})")));
  EXPECT_FALSE(f.pass(ev("tweet", R"({"entities":{}})")));
  EXPECT_FALSE(f.pass(ev("tweet", "not json")));
}

TEST(filter, by_plain_field_and_type_together) {
  config::filter_config c;
  c.types = {"tweet"};
  c.field = "user.screen_name";
  c.any_of = {"ann"};
  event_filter f(c);
  EXPECT_TRUE(f.pass(ev("tweet", R"({"user":{"screen_name":"ann"}})")));
  EXPECT_FALSE(f.pass(ev("limit", R"({"user":{"screen_name":"ann"}})")));
  EXPECT_FALSE(f.pass(ev("tweet", R"({"user":{"screen_name":"bob"}})")));
}

} // namespace
} // namespace sluice::pipeline
