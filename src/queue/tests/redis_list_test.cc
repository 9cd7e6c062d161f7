// The list backend (`backend = "redis-list"`), the seeds' reliable queue, against a private
// redis-server: oldest first, read by a consumer written the seeds' way, busy items kept until
// confirmed, given back when their consumer stops.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "queue/errc.h"
#include "queue/redis/list_queue.h"
#include "queue_helpers.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<queue::queue> open_list(const redis_server& server, const std::string& consumer) {
  queue::redis::options o;
  o.at = *io::redis::parse_url(server.url());
  o.stream = "work";
  o.consumer = consumer;
  o.list = true;
  auto q = queue::redis::open_list(o, nullptr);
  EXPECT_TRUE(q.has_value()) << q.error().message();
  return q ? std::move(*q) : nullptr;
}

std::vector<std::string> take(queue::subscription& s, std::size_t n, queue::batch& b) {
  std::vector<std::string> out;
  auto r = s.read(b, {n, 1u << 20}, 0ms);
  if (!r) {
    EXPECT_EQ(r.error(), queue::errc::timed_out) << r.error().message();
    return out;
  }
  for (const auto& rec : b.records)
    out.emplace_back(rec.payload);
  return out;
}

std::vector<std::string> expected(std::uint64_t first, std::uint64_t last) {
  std::vector<std::string> out;
  for (auto i = first; i <= last; ++i)
    out.push_back(payload_of(i));
  return out;
}

TEST(redis_list, oldest_first_and_a_consumer_written_the_seeds_way_reads_what_sluice_wrote) {
  redis_server server;
  auto q = open_list(server, "a");
  append_range(*q, 1, 100);
  EXPECT_EQ(server.command({"LLEN", "work"}), "100");
  // The seeds' subscriber: BRPOPLPUSH work -> busy, store, LREM busy.
  EXPECT_EQ(server.command({"BRPOPLPUSH", "work", "seed:busy", "1"}), payload_of(1));
  EXPECT_EQ(server.command({"LREM", "seed:busy", "1", payload_of(1)}), "1");

  auto s = q->subscribe("deliver", queue::start_at::beginning());
  ASSERT_TRUE(s);
  queue::batch b;
  auto got = take(**s, 50, b);
  EXPECT_EQ(got, expected(2, 51));
  for (std::size_t i = 1; i < b.records.size(); ++i)
    EXPECT_LT(b.records[i - 1].pos, b.records[i].pos);
  EXPECT_EQ(server.command({"LLEN", "work:busy:a"}), "50"); // held until confirmed
  ASSERT_TRUE((*s)->commit(b.last()));
  EXPECT_EQ(server.command({"LLEN", "work:busy:a"}), "0");
  EXPECT_EQ(take(**s, 500, b), expected(52, 100));
}

TEST(redis_list, a_restarted_consumer_first_gets_back_its_busy_items_oldest_first) {
  redis_server server;
  auto q = open_list(server, "a");
  append_range(*q, 1, 30);
  {
    auto s = q->subscribe("deliver", queue::start_at::beginning());
    queue::batch b;
    ASSERT_EQ(take(**s, 10, b).size(), 10u); // taken, never confirmed: the "crash"
  }
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  queue::batch b;
  EXPECT_EQ(take(**s, 100, b), expected(1, 10));
  EXPECT_EQ(q->stats().redelivered_records.get(), 10u);
  ASSERT_TRUE((*s)->commit(b.last()));
  EXPECT_EQ(take(**s, 100, b), expected(11, 30));
}

TEST(redis_list, a_stopped_consumers_busy_items_go_back_to_the_work_list_oldest_first) {
  redis_server server;
  auto a = open_list(server, "a");
  auto b_queue = open_list(server, "b");
  append_range(*a, 1, 20);
  {
    auto s = a->subscribe("deliver", queue::start_at::beginning());
    queue::batch b;
    ASSERT_EQ(take(**s, 5, b), expected(1, 5)); // killed between LMOVE and LREM
  }
  server.command({"DEL", "work:alive:a"}); // its heartbeat expires
  auto s = b_queue->subscribe("deliver", queue::start_at::beginning());
  queue::batch b;
  EXPECT_EQ(take(**s, 100, b), expected(1, 20));
  EXPECT_EQ(b_queue->stats().claimed_records.get(), 5u);
  EXPECT_EQ(server.command({"LLEN", "work:busy:a"}), "0");
}

TEST(redis_list, a_live_consumers_busy_items_stay_its_own) {
  redis_server server;
  auto a = open_list(server, "a");
  auto b_queue = open_list(server, "b");
  append_range(*a, 1, 10);
  auto sa = a->subscribe("deliver", queue::start_at::beginning());
  queue::batch ba;
  ASSERT_EQ(take(**sa, 4, ba), expected(1, 4)); // its heartbeat is fresh
  auto sb = b_queue->subscribe("deliver", queue::start_at::beginning());
  queue::batch bb;
  EXPECT_EQ(take(**sb, 100, bb), expected(5, 10));
  EXPECT_EQ(server.command({"LLEN", "work:busy:a"}), "4");
}

} // namespace
} // namespace sluice::testing
