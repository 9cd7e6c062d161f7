// The queue interface's promises, on every backend: one suite, run on the disk queue and on a
// Redis Stream in a private redis-server. What differs by backend (positions are 1, 2, 3 on
// disk and sparse on Redis) is never asserted; payloads, order, cursors and resumption are.

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "queue/errc.h"
#include "queue/redis/redis_queue.h"
#include "queue_helpers.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

using queue::position;

/// Opens the queue of one backend, again and again (a restart keeps what it held).
class backend {
public:
  virtual ~backend() = default;
  virtual std::unique_ptr<queue::queue> open() = 0;
};

class disk_backend final : public backend {
public:
  std::unique_ptr<queue::queue> open() override {
    auto o = small_options(dir_.path());
    o.max_record_bytes = 1u << 20;
    auto q = queue::disk::open(o);
    EXPECT_TRUE(q.has_value());
    return std::move(q.value());
  }

private:
  temp_dir dir_{"backend"};
};

class redis_backend final : public backend {
public:
  std::unique_ptr<queue::queue> open() override {
    auto q = queue::redis::open(options(), nullptr);
    EXPECT_TRUE(q.has_value()) << q.error().message();
    return std::move(q.value());
  }
  queue::redis::options options() const {
    queue::redis::options o;
    o.at = *io::redis::parse_url(server_.url());
    o.consumer = "test";
    return o;
  }

private:
  redis_server server_;
};

std::unique_ptr<backend> make_backend(const std::string& name) {
  if (name == "redis")
    return std::make_unique<redis_backend>();
  return std::make_unique<disk_backend>();
}

class queue_backend : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    backend_ = make_backend(GetParam());
    q_ = backend_->open();
    ASSERT_NE(q_, nullptr);
  }

  std::vector<std::string> payloads(const std::vector<std::pair<position, std::string>>& got) {
    std::vector<std::string> out;
    for (const auto& [p, s] : got)
      out.push_back(s);
    return out;
  }
  static std::vector<std::string> expected(std::uint64_t first, std::uint64_t last) {
    std::vector<std::string> out;
    for (auto i = first; i <= last; ++i)
      out.push_back(payload_of(i));
    return out;
  }

  /// Appends records first..last and waits until they are durable (readable).
  void add(std::uint64_t first, std::uint64_t last) {
    append_range(*q_, first, last);
    ASSERT_TRUE(q_->sync());
  }

  std::unique_ptr<backend> backend_;
  std::unique_ptr<queue::queue> q_;
};

TEST_P(queue_backend, a_reader_sees_every_record_in_order_with_rising_positions) {
  add(1, 1000);
  auto r = q_->open_reader(queue::start_at::beginning());
  ASSERT_TRUE(r.has_value());
  auto got = read_all(**r);
  EXPECT_EQ(payloads(got), expected(1, 1000));
  for (std::size_t i = 1; i < got.size(); ++i)
    ASSERT_LT(got[i - 1].first, got[i].first);
  EXPECT_EQ(q_->durable_watermark(), got.back().first);
  EXPECT_EQ(q_->first_position().value(), got.front().first);
}

TEST_P(queue_backend, a_reader_at_the_end_sees_only_what_comes_after) {
  add(1, 10);
  auto r = q_->open_reader(queue::start_at::end());
  ASSERT_TRUE(r.has_value());
  add(11, 20);
  EXPECT_EQ(payloads(read_all(**r, 2000)), expected(11, 20));
}

TEST_P(queue_backend, a_subscription_resumes_after_its_commit) {
  add(1, 300);
  position committed = 0;
  {
    auto s = q_->subscribe("deliver", queue::start_at::beginning());
    ASSERT_TRUE(s.has_value()) << s.error().message();
    queue::batch b;
    ASSERT_TRUE((*s)->read(b, {100, 1u << 20}, std::chrono::milliseconds(0)));
    ASSERT_EQ(b.size(), 100u);
    EXPECT_EQ(b.records.front().payload, payload_of(1));
    committed = b.last();
    ASSERT_TRUE((*s)->commit(committed));
    EXPECT_EQ((*s)->committed(), committed);
    // Read further, not committed: these come back.
    ASSERT_TRUE((*s)->read(b, {50, 1u << 20}, std::chrono::milliseconds(0)));
  }
  q_.reset();
  q_ = backend_->open();
  EXPECT_EQ(q_->cursor("deliver").value(), std::optional<position>(committed));
  auto s = q_->subscribe("deliver", queue::start_at::beginning());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ((*s)->committed(), committed);
  auto got = read_all(**s);
  EXPECT_EQ(payloads(got), expected(101, 300));
}

TEST_P(queue_backend, a_new_subscription_at_the_end_skips_what_was_there) {
  add(1, 50);
  auto s = q_->subscribe("live", queue::start_at::end());
  ASSERT_TRUE(s.has_value());
  add(51, 60);
  EXPECT_EQ(payloads(read_all(**s, 2000)), expected(51, 60));
}

TEST_P(queue_backend, set_cursor_rewinds_and_forget_removes) {
  add(1, 100);
  auto r = q_->open_reader(queue::start_at::beginning());
  auto all = read_all(**r);
  ASSERT_EQ(all.size(), 100u);
  ASSERT_TRUE(q_->set_cursor("replay", all[39].first));
  EXPECT_EQ(q_->cursor("replay").value(), std::optional<position>(all[39].first));
  auto names = q_->cursors();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].name, "replay");
  EXPECT_EQ(names[0].committed, all[39].first);
  EXPECT_EQ(names[0].lag, 60u);
  {
    auto s = q_->subscribe("replay", queue::start_at::end());
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(payloads(read_all(**s)), expected(41, 100));
  }
  ASSERT_TRUE(q_->forget_subscription("replay"));
  EXPECT_EQ(q_->cursor("replay").value(), std::nullopt);
  EXPECT_TRUE(q_->cursors().empty());
}

TEST_P(queue_backend, concurrent_appends_keep_each_call_together_and_lose_none) {
  constexpr int k_threads = 4;
  constexpr int k_appends = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < k_threads; ++t)
    ts.emplace_back([&, t] {
      for (int a = 0; a < k_appends; ++a) {
        std::vector<std::string> p;
        for (int i = 0; i < 10; ++i)
          p.push_back(std::to_string(t) + ":" + std::to_string(a) + ":" + std::to_string(i));
        std::vector<queue::record_in> recs;
        for (auto& s : p)
          recs.push_back({0, s});
        auto r = q_->append(recs);
        ASSERT_TRUE(r.has_value());
        ASSERT_EQ(r->appended, 10u);
      }
    });
  for (auto& t : ts)
    t.join();
  ASSERT_TRUE(q_->sync());
  auto r = q_->open_reader(queue::start_at::beginning());
  auto got = read_all(**r);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(k_threads * k_appends * 10));
  for (std::size_t i = 0; i < got.size(); i += 10)
    for (std::size_t k = 1; k < 10; ++k) // each call's ten records are contiguous, in order
      ASSERT_EQ(got[i + k].second.substr(0, got[i + k].second.rfind(':')),
                got[i].second.substr(0, got[i].second.rfind(':')));
}

TEST_P(queue_backend, a_record_larger_than_the_limit_is_refused) {
  std::string big(2u << 20, 'x');
  queue::record_in rec{0, big};
  auto r = q_->append(std::span(&rec, 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), queue::errc::record_too_large);
}

INSTANTIATE_TEST_SUITE_P(backends, queue_backend, ::testing::Values("disk", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

} // namespace
} // namespace sluice::testing
