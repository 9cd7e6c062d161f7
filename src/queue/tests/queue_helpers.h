#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "support/temp_dir.h"

namespace sluice::testing {

inline std::string payload_of(std::uint64_t i, std::size_t size = 0) {
  std::string s = "record-" + std::to_string(i);
  if (s.size() < size)
    s.append(size - s.size(), 'x');
  return s;
}

/// Appends records first..last (payload_of(i, size)) in batches of `batch`.
inline void append_range(queue::queue& q, std::uint64_t first, std::uint64_t last,
                         std::size_t size = 0, std::size_t batch = 100) {
  std::vector<std::string> payloads;
  std::vector<queue::record_in> recs;
  for (std::uint64_t i = first; i <= last;) {
    payloads.clear();
    recs.clear();
    for (std::size_t k = 0; k < batch && i <= last; ++k, ++i)
      payloads.push_back(payload_of(i, size));
    for (auto& p : payloads)
      recs.push_back({0, p});
    auto r = q.append(recs);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_EQ(r->appended, recs.size());
  }
}

/// Reads everything available now (no waiting beyond `wait_ms` for the first record).
inline std::vector<std::pair<queue::position, std::string>> read_all(queue::reader& r,
                                                                     int wait_ms = 0) {
  std::vector<std::pair<queue::position, std::string>> out;
  queue::batch b;
  for (;;) {
    auto res = r.read(b, {1000, 1u << 20}, std::chrono::milliseconds(out.empty() ? wait_ms : 0));
    if (!res) {
      EXPECT_EQ(res.error(), queue::errc::timed_out) << res.error().message();
      break;
    }
    for (const auto& rec : b.records)
      out.emplace_back(rec.pos, std::string(rec.payload));
  }
  return out;
}

inline queue::disk::options small_options(const std::filesystem::path& dir) {
  queue::disk::options o;
  o.dir = dir;
  o.segment_bytes = 64 * 1024;
  o.fsync.mode = config::fsync_mode::interval;
  o.fsync.interval = std::chrono::milliseconds(1);
  return o;
}

/// A small disk queue in `dir` (small_options, with segments of `segment_bytes`), open for
/// appending: the queue the tests of the layers above it run on.
inline std::unique_ptr<queue::queue> open_small_queue(const std::filesystem::path& dir,
                                                      std::uint64_t segment_bytes = 64 * 1024) {
  auto o = small_options(dir);
  o.segment_bytes = segment_bytes;
  auto q = queue::disk::open(o);
  EXPECT_TRUE(q.has_value());
  return std::move(q.value());
}

} // namespace sluice::testing
