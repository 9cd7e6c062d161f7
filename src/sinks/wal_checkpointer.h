#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

namespace sluice::sinks {

/// Checkpoints a SQLite database in WAL mode from a connection and a thread of its own, so that
/// the writer's commits never wait for the copy into the database file and its fsync (with
/// SQLite's automatic checkpoint, the commit that crosses the threshold does both, and every
/// event behind it waits: the p99 of `sluice bench pipeline --sink sqlite`). PASSIVE checkpoints:
/// they never block the writer, and copy what the writer's snapshot allows.
class wal_checkpointer {
public:
  wal_checkpointer(std::filesystem::path db, std::chrono::milliseconds busy_timeout);
  ~wal_checkpointer(); ///< stops the thread after the checkpoint in progress
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  /// Asks for a checkpoint soon. Any thread; never blocks on the checkpoint.
  void request() noexcept;

  std::uint64_t checkpoints() const noexcept { return checkpoints_.load(); }
  std::uint64_t failures() const noexcept { return failures_.load(); }

private:
  void run();

  std::filesystem::path db_;
  std::chrono::milliseconds busy_timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool due_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::thread thread_;
};

} // namespace sluice::sinks
