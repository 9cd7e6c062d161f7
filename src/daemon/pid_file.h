#pragma once

#include <filesystem>
#include <optional>
#include <utility>

#include "base/result.h"

namespace sluice::daemon {

/// The pid file of a running daemon, held for as long as the object lives.
///
/// Who runs is decided by an exclusive flock(2) on the file, never by whether the file exists: a
/// file whose lock nobody holds was left by a process that died (or a crash of the machine) and
/// is taken over. The lock belongs to the open file description, so it is shared by every process
/// that inherits the descriptor through fork() and released when the last of them closes it. The
/// descriptor is O_CLOEXEC: a program exec'd by the daemon (a hook, an exec sink) never holds the
/// lock, and the supervisor, which keeps the descriptor across its fork of the worker, does.
///
/// Movable, not copyable; not thread-safe (one owner thread, normally the main one).
class pid_file {
public:
  /// Takes the pid file at `path`, creating its directory (mode 0755, less the umask) and the file
  /// (0644) when missing, and writes "<getpid()>\n" to it, fsync'd.
  ///
  /// When another process (or another pid_file in this process) holds it: fails with
  /// std::errc::resource_unavailable_try_again. `*holder_pid` then receives the pid written in
  /// the file, or 0 when the holder has not written one yet. When nobody held it but the file had
  /// content, it was stale: `*took_over_stale` is set and `*holder_pid` receives the dead
  /// process's pid (0 if the content was not a pid), for the caller to log. Otherwise both are
  /// 0/false. Either pointer may be null. Other failures are the errno of mkdir/open/flock/write.
  /// Blocks only on local file system calls.
  static result<pid_file> acquire(const std::filesystem::path& path, int* holder_pid,
                                  bool* took_over_stale);

  pid_file(pid_file&& other) noexcept;
  pid_file& operator=(pid_file&& other) noexcept;
  pid_file(const pid_file&) = delete;
  pid_file& operator=(const pid_file&) = delete;
  /// Same as release().
  ~pid_file();

  /// Rewrites the file to hold `pid` (the supervisor writes its own pid after forking, and the
  /// file then names the process to signal). Fsync'd when it returns success; the lock is kept
  /// throughout, so readers see either the old or the new pid.
  result<void> update_pid(int pid);

  /// Removes the file and then drops the lock (unlink before close, so that a concurrent acquirer
  /// either finds the old file still locked or creates a new one). The file is removed only when
  /// it still is the one this object locked and it names the calling process: a forked copy of
  /// the object (the parent after the supervisor wrote its own pid, say) only closes its
  /// descriptor. Idempotent; a moved-from object does nothing.
  void release() noexcept;

  /// True until release() or a move away.
  bool held() const { return fd_ >= 0; }

  const std::filesystem::path& path() const { return path_; }

private:
  pid_file(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::filesystem::path path_;
  int fd_ = -1;
};

/// For `sluice status` and `sluice stop`: the pid in the file at `path` when a live process holds
/// its lock (tested with a second open and a non-blocking shared flock, which fails while anyone
/// holds the exclusive lock). Nullopt otherwise; `*stale` (may be null) is then true when the file
/// exists but nobody holds it (left by a crash), false when there is no file, or when the holder
/// has not written its pid yet, or the file cannot be opened. Never modifies the file.
std::optional<int> read_live_pid(const std::filesystem::path& path, bool* stale);

} // namespace sluice::daemon
