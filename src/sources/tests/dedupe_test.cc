#include <gtest/gtest.h>

#include "queue/event.h"
#include "sources/dedupe.h"
#include "sources/tests/source_helpers.h"

namespace sluice::sources {
namespace {

using namespace testing;

TEST(dedupe_window, keeps_the_newest_ids_up_to_its_capacity) {
  dedupe_window w(3);
  EXPECT_TRUE(w.insert("a"));
  EXPECT_TRUE(w.insert("b"));
  EXPECT_FALSE(w.insert("a"));
  EXPECT_TRUE(w.insert("c"));
  EXPECT_TRUE(w.insert("d")); // "a" goes
  EXPECT_EQ(w.size(), 3u);
  EXPECT_FALSE(w.contains("a"));
  EXPECT_TRUE(w.contains("b"));
  EXPECT_TRUE(w.contains("c"));
  EXPECT_TRUE(w.contains("d"));
  w.add("d");                 // already held: not twice
  EXPECT_TRUE(w.insert("e")); // "b" goes
  EXPECT_FALSE(w.contains("b"));
  EXPECT_TRUE(w.contains("c"));
  dedupe_window none(0);
  EXPECT_TRUE(none.insert("x"));
  EXPECT_TRUE(none.insert("x"));
  EXPECT_EQ(none.size(), 0u);
}

TEST(id_extractor, reads_strings_numbers_and_dotted_paths) {
  id_extractor top("id_str");
  id_extractor nested("user.id");
  std::string id;
  const std::string tweet = R"({"id":12,"id_str":"12","user":{"id":7,"screen_name":"x"}})";
  ASSERT_TRUE(top.extract(tweet, id));
  EXPECT_EQ(id, "12");
  ASSERT_TRUE(nested.extract(tweet, id));
  EXPECT_EQ(id, "7");
  EXPECT_FALSE(top.extract(R"({"delete":{"status":{"id_str":"5"}}})", id));
  EXPECT_FALSE(top.extract(R"(["id_str"])", id));
  EXPECT_FALSE(top.extract("not json", id));
  EXPECT_FALSE(nested.extract(R"({"user":3})", id));
  EXPECT_FALSE(top.extract(R"({"id_str":{"a":1}})", id));
  id_extractor big("id");
  ASSERT_TRUE(big.extract(R"({"id":1234567890123456789})", id));
  EXPECT_EQ(id, "1234567890123456789");
}

// Events of sources "a" (ids 1..100) and "b" (ids 1001..1100), interleaved in the queue.
void append_interleaved(queue::queue& q) {
  for (int i = 1; i <= 100; ++i) {
    std::string ea, eb;
    queue::encode_event(ea, "a", "tweet", "", "{\"id_str\":\"" + std::to_string(i) + "\"}");
    queue::encode_event(eb, "b", "tweet", "", "{\"id_str\":\"" + std::to_string(1000 + i) + "\"}");
    std::vector<queue::record_in> recs{{0, ea}, {0, eb}};
    ASSERT_TRUE(q.append(recs).has_value());
  }
  std::string notice;
  queue::encode_event(notice, "a", "limit", "", R"({"limit":{"track":3}})");
  std::vector<queue::record_in> recs{{0, notice}};
  ASSERT_TRUE(q.append(recs).has_value());
  ASSERT_TRUE(q.sync().has_value());
}

TEST(dedupe_window, seeded_from_the_queue_holds_the_sources_newest_ids) {
  test_dir d;
  auto q = open_queue(d / "q");
  append_interleaved(*q);
  id_extractor ids("id_str");

  dedupe_window w(50);
  auto n = seed_from_queue(w, *q, "a", ids, 10'000);
  ASSERT_TRUE(n.has_value()) << n.error().message();
  EXPECT_EQ(*n, 100u); // every id of "a" read; the window keeps the newest 50
  EXPECT_EQ(w.size(), 50u);
  EXPECT_TRUE(w.contains("100"));
  EXPECT_TRUE(w.contains("51"));
  EXPECT_FALSE(w.contains("50"));
  EXPECT_FALSE(w.contains("1100")); // another source's

  // Only the last 21 records: the limit notice and 10 events of each source.
  dedupe_window near(50);
  n = seed_from_queue(near, *q, "a", ids, 21);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 10u);
  EXPECT_TRUE(near.contains("91"));
  EXPECT_FALSE(near.contains("90"));

  dedupe_window empty_source(50);
  n = seed_from_queue(empty_source, *q, "c", ids, 10'000);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
}

TEST(dedupe_window, seeding_an_empty_queue_adds_nothing) {
  test_dir d;
  auto q = open_queue(d / "q");
  id_extractor ids("id_str");
  dedupe_window w(10);
  auto n = seed_from_queue(w, *q, "a", ids, 100);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(w.size(), 0u);
}

} // namespace
} // namespace sluice::sources
