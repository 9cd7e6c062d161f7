#pragma once

#include <cstdint>
#include <filesystem>

#include "base/result.h"

/// Small POSIX file helpers. Every function retries EINTR and returns errno failures as
/// std::system_category() codes.
namespace sluice {

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

/// open(2) with O_CLOEXEC added.
result<file> open_file(const std::filesystem::path& p, int flags, int mode = 0640);
result<void> write_all(int fd, const char* data, std::size_t size);
result<void> pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset);
/// Reads up to `size` bytes at `offset`; returns how many it read (less only at end of file).
result<std::size_t> pread_full(int fd, char* data, std::size_t size, std::uint64_t offset);
result<std::uint64_t> file_size(int fd);
/// fsyncs a directory, which makes the names created, renamed or removed in it durable.
result<void> sync_dir(const std::filesystem::path& dir);
/// Creates `dir` and its missing parents, each made durable (its parent fsynced after the mkdir):
/// a directory a durable file goes into survives a power cut with it. Nothing when it exists.
result<void> create_directories_durably(const std::filesystem::path& dir);
/// Writes `data` to `path` atomically and durably: path.tmp, fdatasync, rename, fsync the
/// directory. A reader sees the old content or the new, never a mix, after a crash or power cut.
result<void> replace_file(const std::filesystem::path& path, const char* data, std::size_t size);

/// An exclusive lock on `path` (flock, the file created if missing), held while the returned file
/// stays open, with the holder's pid written in it. Fails with std::errc::operation_would_block
/// when another process (or another open of it) holds it, `holder_pid` then set to its pid.
result<file> lock_file(const std::filesystem::path& path, int* holder_pid);
/// The pid written in a lock file `lock_file` holds, 0 when nobody holds it.
int lock_holder(const std::filesystem::path& path);

} // namespace sluice
