#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "queue/queue.h"

/// Small POSIX file helpers for the disk queue. Every function retries EINTR and returns errno
/// failures as std::system_category() codes.
namespace sluice::queue::disk {

/// An owned file descriptor.
class file {
public:
  file() = default;
  explicit file(int fd) noexcept : fd_(fd) {}
  file(file&& o) noexcept : fd_(o.release()) {}
  file& operator=(file&& o) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() noexcept;

private:
  int fd_ = -1;
};

result<file> open_file(const std::filesystem::path& p, int flags, int mode = 0640);
/// Opens a segment to read it, holding a shared flock for as long as the file stays open: the
/// writer's retention shrinks a deleted segment in steps only when nobody holds one. A segment
/// being deleted (locked exclusively, or already unlinked) reads as missing (ENOENT).
result<file> open_segment_for_reading(const std::filesystem::path& p);
result<void> write_all(int fd, const char* data, std::size_t size);
result<void> pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset);
/// Reads up to `size` bytes at `offset`; returns how many it read (less only at end of file).
result<std::size_t> pread_full(int fd, char* data, std::size_t size, std::uint64_t offset);
result<std::uint64_t> file_size(int fd);
result<void> sync_dir(const std::filesystem::path& dir);
/// Writes `data` to `path` atomically and durably: path.tmp, fsync, rename, fsync the directory.
result<void> replace_file(const std::filesystem::path& path, const char* data, std::size_t size);

/// A segment file as the directory lists it.
struct segment_entry {
  position first = 0;
  std::filesystem::path path;
};
/// Segment files of `dir` in position order (other files are ignored).
result<std::vector<segment_entry>> list_segments(const std::filesystem::path& dir);

/// The queue's append lock (DIR/lock, flock) with the holder's pid written in it.
class dir_lock {
public:
  /// Takes the lock; errc::locked when another process holds it, `holder_pid` set to its pid.
  static result<dir_lock> acquire(const std::filesystem::path& dir, int* holder_pid);
  /// The pid written in DIR/lock when a process holds the lock, 0 when none does.
  static int holder(const std::filesystem::path& dir);

private:
  file fd_;
};

/// An exclusive lock on a file (flock), held while the object lives. `holder_pid` as above.
result<file> lock_file(const std::filesystem::path& path, int* holder_pid);

} // namespace sluice::queue::disk
