#include <algorithm>
#include <chrono>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"

namespace sluice::firehose {
namespace {

using json = nlohmann::json;

std::vector<std::string> first_lines(const stream_options& o, std::size_t n,
                                     stream_filter filter = {}) {
  generator gen(o, std::move(filter));
  std::vector<std::string> lines;
  std::string buf;
  for (std::size_t i = 0; i < n; ++i) {
    buf.clear();
    gen.append_next(buf);
    EXPECT_EQ(buf.back(), '\n');
    lines.push_back(buf.substr(0, buf.size() - 1));
  }
  return lines;
}

bool is_team(const std::string& name) {
  return std::find(k_team_names.begin(), k_team_names.end(), name) != k_team_names.end();
}

// Checks a tweet's fields; returns its text.
std::string check_tweet(const json& t) {
  static const std::regex created_at(
      R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) )"
      R"(\d\d \d\d:\d\d:\d\d \+0000 \d{4})");
  EXPECT_TRUE(t.at("id").is_number_unsigned());
  EXPECT_EQ(t.at("id_str").get<std::string>(), std::to_string(t.at("id").get<std::uint64_t>()));
  EXPECT_TRUE(std::regex_match(t.at("created_at").get<std::string>(), created_at))
      << t.at("created_at");
  EXPECT_TRUE(t.at("user").at("id").is_number_unsigned());
  EXPECT_FALSE(t.at("user").at("screen_name").get<std::string>().empty());
  auto text = t.at("text").get<std::string>();
  const auto& tags = t.at("entities").at("hashtags");
  EXPECT_GE(tags.size(), 1u);
  for (const auto& h : tags) {
    auto name = h.at("text").get<std::string>();
    EXPECT_TRUE(is_team(name)) << name;
    auto b = h.at("indices").at(0).get<std::size_t>();
    auto e = h.at("indices").at(1).get<std::size_t>();
    // The text is ASCII before its hashtags, so code point offsets are byte offsets there.
    EXPECT_EQ(text.substr(b, e - b), "#" + name);
  }
  return text;
}

TEST(generator, same_seed_same_bytes) {
  stream_options o;
  o.seed = 42;
  auto a = first_lines(o, 1000);
  auto b = first_lines(o, 1000);
  EXPECT_EQ(a, b);
  generator random_access(o);
  for (std::uint64_t r : {1u, 2u, 50u, 999u, 1000u, 500u, 7u})
    EXPECT_EQ(random_access.line_at(r), a[r - 1]) << "rank " << r;
}

TEST(generator, different_seed_different_bytes) {
  stream_options o;
  o.seed = 1;
  auto a = first_lines(o, 1000);
  o.seed = 2;
  auto b = first_lines(o, 1000);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    differing += a[i] != b[i] ? 1 : 0;
  EXPECT_GT(differing, 900u);
}

TEST(generator, every_line_is_json_with_the_fields_of_its_kind) {
  stream_options o;
  o.seed = 9;
  o.delete_every = 7;
  o.limit_every = 100;
  auto lines = first_lines(o, 5000);
  std::size_t bytes = 0;
  std::set<std::uint64_t> ids;
  std::uint64_t last_limit = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::uint64_t rank = i + 1;
    bytes += lines[i].size() + 1;
    json j = json::parse(lines[i]); // throws (fails the test) on invalid JSON or UTF-8
    switch (kind_of(o, rank)) {
    case event_kind::tweet:
      check_tweet(j);
      EXPECT_TRUE(ids.insert(j.at("id").get<std::uint64_t>()).second);
      break;
    case event_kind::delete_notice: {
      const auto& st = j.at("delete").at("status");
      EXPECT_EQ(st.at("id_str").get<std::string>(),
                std::to_string(st.at("id").get<std::uint64_t>()));
      break;
    }
    case event_kind::limit_notice: {
      auto track = j.at("limit").at("track").get<std::uint64_t>();
      EXPECT_GT(track, last_limit);
      last_limit = track;
      break;
    }
    case event_kind::garbage:
      ADD_FAILURE() << "no garbage configured";
    }
  }
  EXPECT_EQ(kind_of(o, 100), event_kind::limit_notice);
  EXPECT_EQ(kind_of(o, 700), event_kind::limit_notice); // limit before delete
  EXPECT_EQ(kind_of(o, 14), event_kind::delete_notice);
  double mean = static_cast<double>(bytes) / static_cast<double>(lines.size());
  std::printf("mean line: %.1f bytes\n", mean);
  EXPECT_GT(mean, 200.0);
  EXPECT_LT(mean, 400.0);
}

TEST(generator, created_at_of_the_first_tweet) {
  stream_options o;
  o.delete_every = 0;
  o.limit_every = 0;
  auto t = json::parse(first_lines(o, 1)[0]);
  EXPECT_EQ(t.at("created_at"), "Wed Oct 10 20:19:24 +0000 2018");
}

TEST(generator, track_keeps_matching_tweets_and_notice_ranks) {
  stream_options plain;
  plain.seed = 5;
  plain.delete_every = 0;
  plain.limit_every = 0;
  // Without notices, rank r of the unfiltered stream is raw tweet r: the filtered stream's tweets
  // must be exactly the unfiltered tweets that mention a tracked term, in order.
  auto all = first_lines(plain, 20000);
  std::vector<std::string> expected;
  for (const auto& l : all) {
    auto text = json::parse(l).at("text").get<std::string>();
    std::transform(text.begin(), text.end(), text.begin(), ::tolower);
    if (text.find("patriots") != std::string::npos || text.find("bears") != std::string::npos)
      expected.push_back(l);
  }
  ASSERT_GT(expected.size(), 500u);
  auto filtered = first_lines(plain, 500, {{"PATRIOTS", "Bears"}, {}});
  EXPECT_TRUE(std::equal(filtered.begin(), filtered.end(), expected.begin()));

  stream_options with_notices = plain;
  with_notices.delete_every = 10;
  auto mixed = first_lines(with_notices, 200, {{"patriots"}, {}});
  for (std::size_t i = 0; i < mixed.size(); ++i) {
    auto j = json::parse(mixed[i]);
    if ((i + 1) % 10 == 0) {
      EXPECT_TRUE(j.contains("delete")) << "rank " << i + 1;
      continue;
    }
    auto text = check_tweet(j);
    std::transform(text.begin(), text.end(), text.begin(), ::tolower);
    EXPECT_NE(text.find("patriots"), std::string::npos);
  }
  // Random access on a filtered stream agrees with reading it in order.
  generator gen(with_notices, {{"patriots"}, {}});
  EXPECT_EQ(gen.line_at(150), mixed[149]);
  EXPECT_EQ(gen.line_at(37), mixed[36]);
}

TEST(generator, follow_keeps_tweets_of_those_users) {
  stream_options o;
  o.delete_every = 0;
  o.limit_every = 0;
  auto user = json::parse(first_lines(o, 1)[0]).at("user").at("id").get<std::uint64_t>();
  for (const auto& l : first_lines(o, 50, {{}, {user}}))
    EXPECT_EQ(json::parse(l).at("user").at("id").get<std::uint64_t>(), user);
}

TEST(generator, a_filter_that_matches_nothing_returns_within_its_budget) {
  generator gen(stream_options{.seed = 1, .delete_every = 0, .limit_every = 0, .garbage_every = 0},
                {{"no-such-term"}, {}});
  std::string out;
  std::uint64_t budget = 1000;
  EXPECT_FALSE(gen.append_next(out, budget));
  EXPECT_EQ(budget, 0u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(gen.next_rank(), 1u);
}

TEST(generator, garbage_takes_its_ranks_in_turn) {
  stream_options o;
  o.garbage_every = 10;
  auto lines = first_lines(o, 60);
  for (std::uint64_t rank = 10; rank <= 60; rank += 10) {
    const auto& l = lines[rank - 1];
    switch (rank / 10 % 3) {
    case 1: // truncated
      EXPECT_FALSE(json::accept(l)) << rank;
      EXPECT_LT(l.size(), 1000u);
      break;
    case 2: // invalid UTF-8
      EXPECT_FALSE(json::accept(l)) << rank;
      EXPECT_NE(l.find('\xFF'), std::string::npos);
      break;
    default: // over 1 MiB, valid
      EXPECT_GT(l.size(), 1u << 20);
      EXPECT_TRUE(json::accept(l));
    }
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if ((i + 1) % 10 != 0) {
      EXPECT_TRUE(json::accept(lines[i])) << "rank " << i + 1;
    }
  }
}

} // namespace
} // namespace sluice::firehose
