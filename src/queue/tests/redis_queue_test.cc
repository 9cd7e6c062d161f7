// What only a shared queue does, against a private redis-server: consumers of one group share its
// entries, take over what a stopped one left, set aside what keeps failing, skip entries that are
// not sluice's, and go on after Redis restarts, refuses, or fills up.

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "queue/errc.h"
#include "queue/redis/redis_queue.h"
#include "queue/redis/stream_id.h"
#include "queue/spill_queue.h"
#include "queue_helpers.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;
using queue::position;

std::unique_ptr<queue::queue>
open_queue(const redis_server& server, const std::string& consumer,
           const std::function<void(queue::redis::options&)>& tweak = {}) {
  queue::redis::options o;
  o.at = *io::redis::parse_url(server.url());
  o.consumer = consumer;
  if (tweak)
    tweak(o);
  auto q = queue::redis::open(o, nullptr);
  EXPECT_TRUE(q.has_value()) << q.error().message();
  return q ? std::move(*q) : nullptr;
}

/// Reads one batch (up to `n`), waiting up to `wait`; the payloads.
std::vector<std::string> read_some(queue::subscription& s, std::size_t n,
                                   std::chrono::milliseconds wait = 0ms,
                                   queue::batch* keep = nullptr) {
  queue::batch b;
  auto r = s.read(b, {n, 16u << 20}, wait);
  std::vector<std::string> out;
  if (!r) {
    EXPECT_EQ(r.error(), queue::errc::timed_out) << r.error().message();
    return out;
  }
  for (const auto& rec : b.records)
    out.emplace_back(rec.payload);
  if (keep)
    *keep = b;
  return out;
}

TEST(redis_queue, two_consumers_of_a_group_share_its_entries_each_once) {
  redis_server server;
  auto a = open_queue(server, "a");
  auto b = open_queue(server, "b");
  append_range(*a, 1, 1000);
  auto sa = a->subscribe("shared", queue::start_at::beginning());
  auto sb = b->subscribe("shared", queue::start_at::beginning());
  ASSERT_TRUE(sa && sb);
  std::multiset<std::string> seen;
  std::size_t by_a = 0, by_b = 0;
  for (int round = 0; seen.size() < 1000 && round < 100; ++round) {
    queue::batch ba, bb;
    auto got_a = read_some(**sa, 70, 0ms, &ba);
    auto got_b = read_some(**sb, 70, 0ms, &bb);
    by_a += got_a.size();
    by_b += got_b.size();
    seen.insert(got_a.begin(), got_a.end());
    seen.insert(got_b.begin(), got_b.end());
    if (!ba.empty()) {
      ASSERT_TRUE((*sa)->commit(ba.last()));
    }
    if (!bb.empty()) {
      ASSERT_TRUE((*sb)->commit(bb.last()));
    }
  }
  ASSERT_EQ(seen.size(), 1000u);
  for (std::uint64_t i = 1; i <= 1000; ++i)
    ASSERT_EQ(seen.count(payload_of(i)), 1u) << i;
  EXPECT_GT(by_a, 0u);
  EXPECT_GT(by_b, 0u);
  EXPECT_EQ(server.command({"XPENDING", "sluice:events", "shared"}).substr(0, 2), "0\n");
}

TEST(redis_queue, a_restarted_consumer_first_gets_back_what_it_had_not_acknowledged) {
  redis_server server;
  auto q = open_queue(server, "a");
  append_range(*q, 1, 300);
  {
    auto s = q->subscribe("deliver", queue::start_at::beginning());
    ASSERT_TRUE(s);
    queue::batch b;
    ASSERT_EQ(read_some(**s, 100, 0ms, &b).size(), 100u);
    ASSERT_TRUE((*s)->commit(b.last()));
    ASSERT_EQ(read_some(**s, 50).size(), 50u); // read, never confirmed: the "crash"
  }
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  queue::batch b;
  auto again = read_some(**s, 500, 0ms, &b);
  ASSERT_EQ(again.size(), 50u);
  EXPECT_EQ(again.front(), payload_of(101));
  EXPECT_EQ(again.back(), payload_of(150));
  EXPECT_TRUE(b.records.front().unordered);
  EXPECT_EQ(q->stats().redelivered_records.get(), 50u);
  auto rest = read_some(**s, 500);
  ASSERT_EQ(rest.size(), 150u);
  EXPECT_EQ(rest.front(), payload_of(151));
}

TEST(redis_queue, what_a_stopped_consumer_left_pending_is_taken_over_after_claim_idle) {
  redis_server server;
  auto fast = [](queue::redis::options& o) { o.claim_idle = 300ms; };
  auto a = open_queue(server, "a", fast);
  auto b = open_queue(server, "b", fast);
  append_range(*a, 1, 100);
  {
    auto sa = a->subscribe("deliver", queue::start_at::beginning());
    ASSERT_EQ(read_some(**sa, 40).size(), 40u); // a stops without confirming them
  }
  auto sb = b->subscribe("deliver", queue::start_at::beginning());
  std::vector<std::string> got;
  std::size_t unordered = 0;
  ASSERT_TRUE(eventually(10s, [&] {
    queue::batch batch;
    auto more = read_some(**sb, 100, 50ms, &batch);
    for (const auto& r : batch.records)
      unordered += r.unordered ? 1 : 0;
    got.insert(got.end(), more.begin(), more.end());
    if (!batch.empty()) {
      EXPECT_TRUE((*sb)->commit(batch.last()));
    }
    return got.size() >= 100;
  }));
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), 100u);
  EXPECT_EQ(unique.size(), 100u);
  EXPECT_EQ(unordered, 40u);
  EXPECT_EQ(b->stats().claimed_records.get(), 40u);
  EXPECT_EQ(server.command({"XPENDING", "sluice:events", "deliver"}).substr(0, 2), "0\n");
}

TEST(redis_queue, an_entry_delivered_more_than_max_deliveries_goes_to_the_dead_letter_stream) {
  redis_server server;
  auto twice = [](queue::redis::options& o) { o.max_deliveries = 2; };
  auto q = open_queue(server, "a", twice);
  append_range(*q, 1, 1);
  // Delivered once, then twice more by restarts without a confirmation.
  for (int delivery = 1; delivery <= 3; ++delivery) {
    auto s = q->subscribe("deliver", queue::start_at::beginning());
    ASSERT_EQ(read_some(**s, 10), std::vector<std::string>{payload_of(1)}) << delivery;
  }
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  EXPECT_TRUE(read_some(**s, 10).empty());
  EXPECT_EQ(q->stats().dead_letter_records.get(), 1u);
  auto dead = server.command({"XRANGE", "sluice:events:dead", "-", "+"});
  EXPECT_NE(dead.find("deliveries\n3"), std::string::npos) << dead;
  EXPECT_NE(dead.find("group\ndeliver"), std::string::npos) << dead;
  EXPECT_NE(dead.find(payload_of(1)), std::string::npos) << dead;
  EXPECT_EQ(server.command({"XPENDING", "sluice:events", "deliver"}).substr(0, 2), "0\n");
}

TEST(redis_queue, entries_that_are_not_sluices_are_skipped_counted_and_acknowledged) {
  redis_server server;
  auto q = open_queue(server, "a");
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  ASSERT_TRUE(s);
  server.command({"XADD", "sluice:events", "*", "someone", "else"});
  append_range(*q, 1, 10);
  std::vector<std::string> got;
  queue::batch b;
  ASSERT_TRUE(eventually(5s, [&] {
    auto more = read_some(**s, 100, 50ms, &b);
    got.insert(got.end(), more.begin(), more.end());
    return got.size() >= 10;
  }));
  EXPECT_EQ(got.front(), payload_of(1));
  EXPECT_EQ(got.size(), 10u);
  ASSERT_TRUE((*s)->commit(b.last()));
  EXPECT_EQ(q->stats().foreign_records.get(), 1u);
  EXPECT_EQ(server.command({"XPENDING", "sluice:events", "deliver"}).substr(0, 2), "0\n");
}

TEST(redis_queue, appends_fail_while_redis_is_away_and_work_once_it_is_back) {
  redis_server server;
  auto q = open_queue(server, "a");
  append_range(*q, 1, 5);
  server.stop();
  std::string p = "while away";
  queue::record_in rec{0, p};
  auto r = q->append(std::span(&rec, 1));
  EXPECT_FALSE(r.has_value());
  EXPECT_GE(q->stats().write_errors.get(), 1u);
  server.start();
  ASSERT_TRUE(eventually(10s, [&] { return q->append(std::span(&rec, 1)).has_value(); }));
  EXPECT_GE(q->stats().reconnects.get(), 1u);
}

TEST(redis_queue, a_restart_without_persistence_recreates_the_group_and_delivers_what_comes) {
  redis_server server;
  auto q = open_queue(server, "a");
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  append_range(*q, 1, 10);
  queue::batch b;
  ASSERT_EQ(read_some(**s, 100, 0ms, &b).size(), 10u);
  ASSERT_TRUE((*s)->commit(b.last()));
  server.kill(); // no appendonly: the stream and its group are gone
  server.start();
  std::string p = "after";
  queue::record_in rec{0, p};
  ASSERT_TRUE(eventually(10s, [&] { return q->append(std::span(&rec, 1)).has_value(); }));
  std::vector<std::string> got;
  ASSERT_TRUE(eventually(10s, [&] {
    queue::batch batch;
    auto r = (*s)->read(batch, {100, 1u << 20}, 50ms);
    for (const auto& x : batch.records)
      got.emplace_back(x.payload);
    (void)r;
    return !got.empty();
  }));
  EXPECT_EQ(got, std::vector<std::string>{"after"});
  EXPECT_EQ(q->stats().lost_groups.get(), 1u);
}

TEST(redis_queue, an_error_answer_fails_the_append_counts_it_and_loses_nothing_acknowledged) {
  redis_server server({.extra = {"--maxmemory", "2mb", "--maxmemory-policy", "noeviction"}});
  auto q = open_queue(server, "a");
  std::string big(10000, 'x');
  std::vector<queue::record_in> recs(50, queue::record_in{0, big});
  std::uint64_t kept = 0;
  result<queue::append_result> r = queue::append_result{};
  for (int i = 0; i < 100 && r; ++i) {
    r = q->append(recs);
    if (r)
      kept += r->appended;
  }
  ASSERT_FALSE(r.has_value()); // OOM
  EXPECT_EQ(r.error(), queue::errc::write_failed);
  EXPECT_GE(q->stats().write_errors.get(), 1u);
  // Everything acknowledged is in the stream (and maybe part of the refused append).
  EXPECT_GE(std::stoull(server.command({"XLEN", "sluice:events"})), kept);
}

TEST(redis_queue, at_max_len_drop_newest_drops_and_counts) {
  redis_server server;
  auto q = open_queue(server, "a", [](queue::redis::options& o) {
    o.max_len = 100;
    o.when_full = config::when_full_mode::drop_newest;
  });
  auto s = q->subscribe("holds", queue::start_at::beginning()); // holds every entry
  append_range(*q, 1, 100);
  std::string p = "one too many";
  queue::record_in rec{0, p};
  auto r = q->append(std::span(&rec, 1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->dropped, 1u);
  EXPECT_EQ(q->stats().dropped_records.get(), 1u);
  EXPECT_EQ(server.command({"XLEN", "sluice:events"}), "100");
}

TEST(redis_queue, a_redis_restart_with_appendonly_keeps_every_entry_and_the_groups_as_they_were) {
  redis_server server({.appendonly = true, .extra = {"--appendfsync", "always"}});
  auto q = open_queue(server, "a");
  auto s = q->subscribe("deliver", queue::start_at::beginning());
  append_range(*q, 1, 100);
  queue::batch b;
  ASSERT_EQ(read_some(**s, 40, 0ms, &b).size(), 40u);
  ASSERT_TRUE((*s)->commit(b.last()));
  ASSERT_EQ(read_some(**s, 10).size(), 10u); // pending at the crash
  server.kill();
  server.start();
  ASSERT_TRUE(eventually(10s, [&] {
    std::string p = payload_of(101);
    queue::record_in rec{0, p};
    return q->append(std::span(&rec, 1)).has_value();
  }));
  auto again = q->subscribe("deliver", queue::start_at::end());
  s->reset();
  std::vector<std::string> got;
  ASSERT_TRUE(eventually(10s, [&] {
    auto more = read_some(**again, 200, 50ms);
    got.insert(got.end(), more.begin(), more.end());
    return got.size() >= 61;
  }));
  std::vector<std::string> want;
  for (std::uint64_t i = 41; i <= 101; ++i)
    want.push_back(payload_of(i));
  EXPECT_EQ(got, want); // the 10 pending first, then the rest: none lost, none skipped
  EXPECT_EQ(q->stats().lost_groups.get(), 0u);
}

TEST(redis_queue, with_acks_replicas_an_append_is_safe_only_once_a_replica_has_it) {
  redis_server primary;
  redis_server replica({.extra = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
  ASSERT_TRUE(eventually(10s, [&] {
    return primary.command({"INFO", "replication"}).find("state=online") != std::string::npos;
  }));
  auto q = open_queue(primary, "a", [](queue::redis::options& o) {
    o.replicas = 1;
    o.replica_timeout = 1500ms; // a loaded machine's replica may lag
  });
  append_range(*q, 1, 100);
  ASSERT_TRUE(eventually(5s, [&] { return replica.command({"XLEN", "sluice:events"}) == "100"; }));
  replica.stop();
  ASSERT_TRUE(eventually(10s, [&] {
    return primary.command({"INFO", "replication"}).find("connected_slaves:0") != std::string::npos;
  }));
  std::string p = "unreplicated";
  queue::record_in rec{0, p};
  auto r = q->append(std::span(&rec, 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), queue::errc::write_failed);
  EXPECT_EQ(q->stats().replica_shortfalls.get(), 1u);
}

/// Appends records first..last in batches of 20, each retried until Redis accepts it (as a
/// source's appender does): returns once every one was acknowledged.
void append_retrying(queue::queue& q, std::uint64_t first, std::uint64_t last) {
  for (std::uint64_t i = first; i <= last; i += 20) {
    std::vector<std::string> payloads;
    for (std::uint64_t k = i; k < i + 20 && k <= last; ++k)
      payloads.push_back(payload_of(k));
    std::vector<queue::record_in> recs;
    for (auto& p : payloads)
      recs.push_back({0, p});
    ASSERT_TRUE(eventually(
        30s, [&] { return q.append(recs).has_value(); }, 50ms))
        << i;
  }
}

TEST(redis_queue, through_sentinel_it_follows_a_failover_and_loses_nothing_acknowledged) {
  redis_server primary;
  redis_server replica({.extra = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
  ASSERT_TRUE(eventually(10s, [&] {
    return primary.command({"INFO", "replication"}).find("state=online") != std::string::npos;
  }));
  std::vector<std::unique_ptr<redis_server>> sentinels;
  std::string url = "redis-sentinel://";
  for (int i = 0; i < 3; ++i) {
    sentinels.push_back(
        std::make_unique<redis_server>(redis_server::options{.sentinel_of = primary.port()}));
    url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(sentinels.back()->port());
  }
  url += "/mymaster";
  // A failover needs the sentinels to know each other (they meet through the primary).
  for (auto& s : sentinels)
    ASSERT_TRUE(eventually(30s, [&] {
      return s->command({"SENTINEL", "master", "mymaster"}).find("num-other-sentinels\n2") !=
             std::string::npos;
    }));
  queue::redis::options o;
  o.at = *io::redis::parse_url(url);
  o.consumer = "a";
  o.replicas = 1;
  o.replica_timeout = 500ms;
  o.timeout = 1000ms;
  auto q = queue::redis::open(o, nullptr);
  ASSERT_TRUE(q.has_value()) << q.error().message();
  append_retrying(**q, 1, 200);

  primary.kill();
  auto promoted = [&] {
    return sentinels[0]->command({"SENTINEL", "get-master-addr-by-name", "mymaster"}) ==
           "127.0.0.1\n" + std::to_string(replica.port());
  };
  ASSERT_TRUE(eventually(30s, promoted));
  primary.start(); // back empty; the sentinels make it the new primary's replica
  append_retrying(**q, 201, 400);

  auto held = replica.command({"XRANGE", "sluice:events", "-", "+"}) + "\n";
  for (std::uint64_t i = 1; i <= 400; ++i)
    ASSERT_NE(held.find(payload_of(i) + "\n"), std::string::npos) << "record " << i << " lost";
  EXPECT_GE(q.value()->stats().reconnects.get(), 1u);
}

TEST(redis_queue,
     with_spill_the_sources_go_on_to_disk_while_redis_is_away_and_it_gets_all_in_order) {
  redis_server server({.appendonly = true, .extra = {"--appendfsync", "always"}});
  temp_dir dir("spill");
  auto disk = queue::disk::open(small_options(dir.path()));
  ASSERT_TRUE(disk.has_value());
  auto made = queue::make_spilling(open_queue(server, "a"), std::move(*disk));
  ASSERT_TRUE(made.has_value());
  auto q = std::move(*made);
  append_range(*q, 1, 100);
  EXPECT_EQ(q->stats().spilled_records.get(), 0u);
  server.stop();
  append_range(*q, 101, 200); // Redis is away: no append fails, they go to disk
  EXPECT_EQ(q->stats().spilled_records.get(), 100u);
  server.start();
  append_range(*q, 201, 300); // behind what was spilled, whichever way they go
  ASSERT_TRUE(eventually(20s, [&] {
    return server.command({"XLEN", "sluice:events"}) == "300";
  })) << server.command({"XLEN", "sluice:events"});
  auto r = q->open_reader(queue::start_at::beginning());
  ASSERT_TRUE(r.has_value());
  std::vector<std::string> got;
  for (const auto& [p, payload] : read_all(**r, 1000))
    got.push_back(payload);
  std::vector<std::string> want;
  for (std::uint64_t i = 1; i <= 300; ++i)
    want.push_back(payload_of(i));
  EXPECT_EQ(got, want);
}

TEST(redis_queue, a_replica_answering_readonly_fails_the_append_as_not_primary_and_counts_it) {
  redis_server primary;
  redis_server replica({.extra = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
  auto q = open_queue(replica, "a"); // pointed at a replica: every XADD answers -READONLY
  std::string p = "to a replica";
  queue::record_in rec{0, p};
  auto r = q->append(std::span(&rec, 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), queue::errc::not_primary);
  EXPECT_EQ(q->stats().write_errors.get(), 1u);
  EXPECT_EQ(primary.command({"XLEN", "sluice:events"}), "0");
}

TEST(redis_queue, connections_cut_under_load_lose_nothing_that_was_acknowledged) {
  redis_server server;
  auto q = open_queue(server, "a");
  std::atomic<bool> done{false};
  std::thread cutter([&] { // Redis drops every client connection, again and again
    while (!done.load()) {
      server.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      std::this_thread::sleep_for(30ms);
    }
  });
  std::uint64_t failed = 0;
  std::vector<std::string> payloads;
  for (std::uint64_t i = 1; i <= 40; ++i) {
    std::vector<std::string> batch;
    for (std::uint64_t k = 0; k < 500; ++k)
      batch.push_back(payload_of(i * 1000 + k, 100));
    std::vector<queue::record_in> recs;
    for (auto& b : batch)
      recs.push_back({0, b});
    // As a source's appender does: the same records again until Redis confirms them.
    ASSERT_TRUE(eventually(30s, [&] {
      if (q->append(recs))
        return true;
      ++failed;
      return false;
    }));
    payloads.insert(payloads.end(), batch.begin(), batch.end());
  }
  done = true;
  cutter.join();
  EXPECT_GT(failed, 0u) << "no connection was cut";
  EXPECT_GE(q->stats().reconnects.get(), 1u);
  auto held = server.command({"XRANGE", "sluice:events", "-", "+"}) + "\n";
  for (const auto& p : payloads)
    ASSERT_NE(held.find(p + "\n"), std::string::npos) << p << " was acknowledged and is missing";
}

} // namespace
} // namespace sluice::testing
