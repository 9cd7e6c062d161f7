#pragma once

#include <filesystem>
#include <vector>

#include "base/file.h"
#include "base/result.h"
#include "queue/queue.h"

/// The disk queue's own file helpers; the generic ones (file, write_all, replace_file, ...) are in
/// base/file.h and named here too, so the backend's code reads the same as before.
namespace sluice::queue::disk {

using sluice::file;
using sluice::file_size;
using sluice::open_file;
using sluice::pread_full;
using sluice::pwrite_all;
using sluice::replace_file;
using sluice::sync_dir;
using sluice::write_all;

/// Opens a segment to read it, holding a shared flock for as long as the file stays open: the
/// writer's retention shrinks a deleted segment in steps only when nobody holds one. A segment
/// being deleted (locked exclusively, or already unlinked) reads as missing (ENOENT).
result<file> open_segment_for_reading(const std::filesystem::path& p);

/// A segment file as the directory lists it.
struct segment_entry {
  position first = 0;
  std::filesystem::path path;
};
/// Segment files of `dir` in position order (other files are ignored).
result<std::vector<segment_entry>> list_segments(const std::filesystem::path& dir);

/// sluice::lock_file with the queue's error: errc::locked when another process holds it.
result<file> lock_file(const std::filesystem::path& path, int* holder_pid);

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

} // namespace sluice::queue::disk
