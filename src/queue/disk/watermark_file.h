#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>

#include "base/result.h"
#include "queue/queue.h"

namespace sluice::queue::disk {

/// The durable watermark as every process sees it: the position, and where its record ends
/// (segment and byte offset), so readers never parse bytes a crash could take back.
struct watermark {
  position pos = 0;
  position segment = 0;     ///< first position of the segment holding `pos` (0: none yet)
  std::uint64_t offset = 0; ///< byte offset in that segment just past `pos`'s record
};

/// The "watermark" file mapped shared into memory (see format.h). The appending process
/// publishes; any process reads and waits. publish() is for one thread at a time; load() and
/// wait_change() for any thread.
class watermark_file {
public:
  watermark_file() = default;
  watermark_file(watermark_file&&) noexcept;
  watermark_file& operator=(watermark_file&&) noexcept;
  ~watermark_file();

  /// Maps DIR/watermark for writing, creating it (set to `initial`) when absent.
  static result<watermark_file> open_for_writer(const std::filesystem::path& dir,
                                                const watermark& initial);
  /// Maps DIR/watermark for reading; errc::not_found when no writer ever created it.
  static result<watermark_file> open_for_reader(const std::filesystem::path& dir);

  void publish(const watermark& w) noexcept;
  /// Writes the mapped page to disk (msync): the watermark, the position floor of the next
  /// recovery, survives a power cut as it is now.
  result<void> sync() const;
  watermark load() const noexcept;
  /// The sequence number readers wait on; changes at every publish.
  std::uint32_t sequence() const noexcept;
  /// Waits until the sequence differs from `seen` or `timeout` passes (spurious wake-ups allowed).
  void wait_change(std::uint32_t seen, std::chrono::nanoseconds timeout) const noexcept;
  /// Wakes every waiter without publishing (used to interrupt readers).
  void wake_all() const noexcept;

private:
  std::uint32_t* seq_word() const noexcept;
  char* base_ = nullptr;
};

} // namespace sluice::queue::disk
