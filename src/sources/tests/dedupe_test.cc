#include <deque>
#include <random>
#include <set>
#include <string>

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

// The window against the obvious model (a FIFO and a set) over many inserts of keys from a small
// range, so that keys leave and return, the ring wraps many times and the index's probe runs are
// cut and shifted by its deletions.
TEST(dedupe_window, agrees_with_a_fifo_and_a_set_over_many_inserts) {
  for (std::size_t capacity : {1u, 7u, 64u, 1000u}) {
    dedupe_window w(capacity);
    std::deque<std::string> order;
    std::set<std::string> held;
    std::mt19937_64 rng(capacity);
    for (int i = 0; i < 200000; ++i) {
      std::string key = "id" + std::to_string(rng() % (3 * capacity + 5));
      if (i % 7 == 0)
        key.append(50, 'x'); // long keys too (up to the 64-byte limit)
      bool fresh = !held.contains(key);
      ASSERT_EQ(w.insert(key), fresh) << "capacity " << capacity << ", insert " << i;
      if (fresh) {
        order.push_back(key);
        held.insert(key);
        if (order.size() > capacity) {
          held.erase(order.front());
          order.pop_front();
        }
      }
      ASSERT_EQ(w.size(), order.size());
    }
    for (const auto& k : order)
      EXPECT_TRUE(w.contains(k));
  }
}

TEST(key_extractor, reads_strings_numbers_and_dotted_paths) {
  key_extractor top("id_str");
  key_extractor nested("user.id");
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
  key_extractor big("id");
  ASSERT_TRUE(big.extract(R"({"id":1234567890123456789})", id));
  EXPECT_EQ(id, "1234567890123456789");
}

TEST(key_extractor, an_event_without_the_field_is_keyed_by_its_bytes) {
  key_extractor keys("id_str");
  std::string a, b, c, tweet;
  keys.key(R"({"delete":{"status":{"id_str":"5"}}})", a);
  keys.key(R"({"delete":{"status":{"id_str":"5"}}})", b);
  keys.key(R"({"delete":{"status":{"id_str":"6"}}})", c);
  keys.key(R"({"id_str":"5"})", tweet);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), 17u); // a marker and 128 bits
  EXPECT_EQ(tweet, "5");
  keys.key("not json at all", c);
  EXPECT_EQ(c.size(), 17u);
  // A field value over 64 bytes is hashed too: the window's memory stays bounded.
  std::string long_id(100, '7');
  keys.key(R"({"id_str":")" + long_id + R"("})", a);
  EXPECT_EQ(a.size(), 17u);
  keys.key(R"({"id_str":")" + long_id + R"(8"})", b);
  EXPECT_NE(a, b);
}

TEST(dedupe_window, holds_keys_of_every_length_after_many_evictions) {
  // The index holds views of the FIFO's strings: they must stay valid as it grows and shrinks.
  dedupe_window w(100);
  for (int i = 0; i < 10'000; ++i)
    ASSERT_TRUE(w.insert(std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'x')));
  EXPECT_EQ(w.size(), 100u);
  for (int i = 9'900; i < 10'000; ++i)
    ASSERT_FALSE(w.insert(std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'x')));
  EXPECT_FALSE(w.contains("9899" + std::string(9899 % 40, 'x')));
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
  temp_dir d;
  auto q = open_queue(d / "q");
  append_interleaved(*q);
  key_extractor ids("id_str");

  dedupe_window w(50);
  auto n = seed_from_queue(w, *q, "a", ids, 10'000);
  ASSERT_TRUE(n.has_value()) << n.error().message();
  EXPECT_EQ(*n, 101u); // every event of "a" read, the limit notice too; the newest 50 kept
  EXPECT_EQ(w.size(), 50u);
  std::string notice_key;
  content_key(R"({"limit":{"track":3}})", notice_key);
  EXPECT_TRUE(w.contains(notice_key));
  EXPECT_TRUE(w.contains("100"));
  EXPECT_TRUE(w.contains("52")); // with the notice, the newest 50
  EXPECT_FALSE(w.contains("51"));
  EXPECT_FALSE(w.contains("1100")); // another source's

  // Only the last 21 records: the limit notice and 10 events of each source.
  dedupe_window near(50);
  n = seed_from_queue(near, *q, "a", ids, 21);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 11u);
  EXPECT_TRUE(near.contains("91"));
  EXPECT_FALSE(near.contains("90"));

  dedupe_window empty_source(50);
  n = seed_from_queue(empty_source, *q, "c", ids, 10'000);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
}

TEST(dedupe_window, seeding_an_empty_queue_adds_nothing) {
  temp_dir d;
  auto q = open_queue(d / "q");
  key_extractor ids("id_str");
  dedupe_window w(10);
  auto n = seed_from_queue(w, *q, "a", ids, 100);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(w.size(), 0u);
}

} // namespace
} // namespace sluice::sources
