#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "io/redis_link.h"
#include "queue/queue.h"
#include "queue/redis/redis_queue.h"

namespace sluice::queue::redis {

/// The Redis queue's append path: appenders hand their records to one writer thread, which sends
/// everything waiting as one pipeline of XADDs (and a WAIT with acks = "replicas:N"), then tells
/// each appender its positions. While Redis is away every append fails with the connection's
/// error (the sources' appenders retry, so intake pauses); nothing is acknowledged that Redis did
/// not confirm. When idle it refreshes what it knows of the stream and trims what every group
/// is done with. Thread-safe.
class append_writer {
public:
  append_writer(const options& opts, queue_stats& stats, std::atomic<position>& seen);
  ~append_writer();

  void start();
  /// Fails waiting and later appends with errc::closed, stops the thread. Idempotent.
  void stop();
  void refuse_blocked();

  /// Blocks until Redis answered for `records` (see queue::append).
  result<append_result> append(std::span<const record_in> records);

private:
  struct request {
    std::span<const record_in> records;
    result<append_result> res = append_result{};
    bool done = false;
  };

  void run();
  /// Sends one pipeline for `batch` and sets each request's result.
  void write(std::span<request*> batch);
  /// Holds the writer while the stream is at max_len (when_full = "block"): false when appends
  /// are refused meanwhile. With "drop_newest" the caller drops instead.
  bool wait_below_cap(io::redis::connection*& c);
  /// Reads the stream's last id and length; trims entries every group passed (at most once a
  /// second).
  void refresh(io::redis::connection& c);
  void fail_all(std::span<request*> batch, std::error_code e);

  const options& opts_;
  queue_stats& stats_;
  std::atomic<position>& seen_;
  io::redis::link link_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<request*> waiting_;
  bool stopping_ = false;
  bool refuse_blocked_ = false;
  std::thread thread_;
  std::uint64_t length_ = 0; ///< the stream's length, as the last pipeline or refresh saw it
  std::chrono::steady_clock::time_point next_trim_{};
  std::vector<std::string_view> words_;
  std::string scratch_;
  std::string resp_; ///< the pipeline's commands, formatted
};

} // namespace sluice::queue::redis
