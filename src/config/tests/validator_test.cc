#include <gtest/gtest.h>

#include "config/load.h"
#include "config/section.h"
#include "config/suggest.h"
#include "config/tables.h"
#include "config/tests/test_errors.h"
#include "config/validator.h"
#include "config/value_check.h"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view colors[] = {"red", "green"};
constexpr std::string_view keywords[] = {"off"};

constexpr option inner_list[] = {
    {.name = "depth", .type = option_type::integer, .default_value = "3", .min = 0, .max = 9},
};
const option_table inner{.title = "inner", .options = inner_list};

constexpr option sample_list[] = {
    {.name = "label", .required = true},
    {.name = "enabled", .type = option_type::boolean, .default_value = "true"},
    {.name = "count", .type = option_type::integer, .default_value = "7", .min = 1},
    {.name = "limit", .type = option_type::size, .default_value = "1MiB"},
    {.name = "wait", .type = option_type::duration, .default_value = "250ms", .values = keywords},
    {.name = "tags", .type = option_type::string_list},
    {.name = "color", .type = option_type::enumeration, .default_value = "red", .values = colors},
    {.name = "inner", .type = option_type::table, .fields = &inner},
    {.name = "extra", .type = option_type::table, .entries = option_type::string_list},
};
const option_table sample{.title = "sample", .options = sample_list};

std::vector<config_error> check(std::string_view text) {
  auto doc = load_string(text, "t");
  validator v;
  v.check_table(doc.root, sample, "s");
  return v.take_errors();
}

TEST(suggest, edit_distance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("reconect", "reconnect"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 2u);
}

TEST(suggest, closest_prefers_case_then_distance) {
  std::vector<std::string> known{"batch", "start", "retry", "sink"};
  EXPECT_EQ(closest("Batch", known), "batch");
  EXPECT_EQ(closest("strat", known), "start");
  EXPECT_EQ(closest("sinks", known), "sink");
  EXPECT_EQ(closest("x", known), std::nullopt);
  EXPECT_EQ(closest("unrelated", known), std::nullopt);
}

TEST(validator, accepts_every_type) {
  auto errors = check(R"(label = "a"
enabled = false
count = 3
limit = 4096
wait = "off"
tags = ["x", "y"]
color = "green"
inner = { depth = 9 }
extra = { one = "1", many = ["1", "2"] }
)");
  EXPECT_TRUE(errors.empty()) << format_errors(errors, "");
}

TEST(validator, collects_every_error_with_its_line) {
  auto errors = check(R"(enabled = "yes"
count = 0
limit = "lots"
wait = "soon"
tags = ["x", 1]
color = "gren"
inner = { depth = 10, dept = 1 }
extra = { n = 1 }
Label = "a"
)");
  std::vector<config_error> want{
      {"s", 1, 1, "missing required key \"label\""},
      {"s.enabled", 1, 11, "expected true or false, got \"yes\""},
      {"s.count", 2, 9, "expected an integer of at least 1, got 0"},
      {"s.limit", 3, 9, "expected a size such as \"64MiB\", got \"lots\""},
      {"s.wait", 4, 8, "expected \"off\" or a duration such as \"250ms\", got \"soon\""},
      {"s.tags", 5, 8, "expected an array of strings, element 1 is 1"},
      {"s.color", 6, 9, "expected \"red\" or \"green\", got \"gren\"; did you mean \"green\"?"},
      {"s.inner.depth", 7, 19, "expected an integer from 0 to 9, got 10"},
      {"s.inner.dept", 7, 23, "unknown key \"dept\"; did you mean \"depth\"?"},
      {"s.extra.n", 8, 15, "expected a string or an array of strings, got 1"},
      {"s.Label", 9, 1, "unknown key \"Label\"; did you mean \"label\"?"},
  };
  EXPECT_EQ(format_errors(errors, ""), format_errors(want, ""));
  EXPECT_EQ(errors, want);
}

TEST(section, typed_values_with_defaults) {
  auto doc = load_string("label = \"a\"\nlimit = \"2KiB\"\ntags = [\"x\"]\n", "t");
  section s(&doc.root, {&sample}, "s");
  EXPECT_EQ(s.string("label"), "a");
  EXPECT_TRUE(s.boolean("enabled"));
  EXPECT_EQ(s.integer("count"), 7);
  EXPECT_EQ(s.size("limit"), 2048u);
  EXPECT_EQ(s.duration("wait"), 250ms);
  EXPECT_EQ(s.keyword("wait"), std::nullopt);
  EXPECT_EQ(s.string_list("tags"), std::vector<std::string>{"x"});
  EXPECT_EQ(s.string("color"), "red");
  EXPECT_EQ(s.table("inner").integer("depth"), 3);
  EXPECT_TRUE(s.entries("extra").empty());
  EXPECT_TRUE(s.is_set("label"));
  EXPECT_FALSE(s.is_set("count"));
  EXPECT_TRUE(s.has("count"));
  EXPECT_FALSE(s.has("tags") && !s.is_set("tags"));
  EXPECT_THROW(s.size("label"), std::logic_error);
  EXPECT_THROW(s.string("nope"), std::logic_error);
}

// Every default in every table must pass its own option's check.
void check_defaults(const option_table& t) {
  for (const auto& o : t.options) {
    EXPECT_EQ(detail::check_default(o), std::nullopt) << t.title << " " << o.name;
    EXPECT_FALSE(o.required && o.has_default()) << t.title << " " << o.name;
    EXPECT_FALSE(o.help.empty()) << t.title << " " << o.name << " has no help";
    if (o.fields != nullptr)
      check_defaults(*o.fields);
    if (o.family != nullptr) {
      check_defaults(*o.family->common);
      for (const auto* k : o.family->kinds)
        check_defaults(*k);
    }
  }
}

TEST(tables, defaults_are_valid_and_every_option_has_help) {
  check_defaults(file_options);
}

} // namespace
} // namespace sluice::config
