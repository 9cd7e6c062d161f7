#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <tl/expected.hpp>

#include "cli/cli11.h"

// Where `sluice bench` measures, and what the disk there can do without sluice: the physical
// reference its figures are printed beside. See docs/benchmarks.md.
namespace sluice::cli::bench {

/// A step of a benchmark that either yields a value or says, for stderr, why it failed.
template <class T> using checked = tl::expected<T, std::string>;
inline tl::unexpected<std::string> failure(std::string what) {
  return tl::unexpected(std::move(what));
}

/// While it lives, SIGINT and SIGTERM set interrupted() instead of ending the process, so that a
/// run stops early and still removes its directory. One at a time, from the main thread.
class interrupt_guard {
public:
  interrupt_guard();
  ~interrupt_guard();
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;

private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

/// Whether SIGINT or SIGTERM came while an interrupt_guard lived. Any thread.
const std::atomic<bool>& interrupted() noexcept;

/// The peak resident set of this process (getrusage ru_maxrss), MiB.
double peak_rss_mib();

/// Whether `dir` is on tmpfs or ramfs (memory, not a disk).
bool is_memory_fs(const std::filesystem::path& dir);

/// The directory a run's own directory goes into: `dir_option` when given (a warning on stderr if
/// it is tmpfs), else $TMPDIR unless it is tmpfs, else /var/tmp unless it is tmpfs; an error
/// when none is on a disk.
checked<std::filesystem::path> pick_parent(const std::string& dir_option);

/// An error unless `dir`'s file system has `bytes` available to this user.
checked<void> check_free_space(const std::filesystem::path& dir, std::uint64_t bytes);

/// A fresh directory for one run (mkdtemp under a parent); it and everything in it is removed
/// when this object goes. Not copyable.
class scratch_dir {
public:
  scratch_dir() = default;
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir();

  checked<void> create(const std::filesystem::path& parent);
  const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

/// Writes `total` bytes to the new file `path` without syncing and removes it, untimed, so that
/// the page-cache memory the measurements after it use has been touched once. On a virtual
/// machine whose host takes back idle guest memory, the first write of a run otherwise pays for
/// faulting that memory in, and whichever measurement came first would look slow.
checked<void> warm_page_cache(const std::filesystem::path& path, std::uint64_t total,
                              const std::atomic<bool>& stop);

/// The physical reference for throughput: `total` bytes in 1 MiB write() calls to the new file
/// `path` while a second thread calls fdatasync() every 10 ms, and once more at the end. Returns
/// MB/s (10^6 bytes) from the first write until the last fdatasync returned. Leaves the file for
/// the scratch directory's removal: freeing a gigabyte just before a measurement would slow it
/// (see settle()). Stops early when `stop` is set.
checked<double> measure_raw_write(const std::filesystem::path& path, std::uint64_t total,
                                  const std::atomic<bool>& stop);

/// Waits until the disk under `dir` is done with what came before: appends 256 KiB and
/// fdatasyncs it every 10 ms until none of those took 10 ms or more for 3 seconds, or `limit`
/// passed (then it says so on stderr); a `limit` of 0 returns at once. On a file system mounted
/// with `discard`, freeing a gigabyte makes block allocation stall for tens of milliseconds every
/// few seconds, for several seconds after the unlinks returned; a probe that overwrites the same
/// blocks never sees it, one that allocates does. The probe file (at most 256 MiB) stays in
/// `dir`: freeing it would start the same again.
void settle(const std::filesystem::path& dir, std::chrono::seconds limit);

/// The default of the benches' --settle-seconds: how long settle() may wait.
inline constexpr std::chrono::seconds k_default_settle_limit{60};

/// The options both disk benches take: --settle-seconds (how long settle() may wait, into
/// `settle_seconds`, whose value is the default shown) and --dir (where the run's directory goes,
/// pick_parent()'s `dir_option`).
void add_disk_options(CLI::App& cmd, std::uint64_t& settle_seconds, std::string& dir);

/// What a disk bench does before it measures: checks that `parent` has `free_bytes` free beside
/// the reference file and the probes, makes `scratch` in it, warms the page cache over
/// `reference_bytes`, settles the disk (the previous run's directory may just have gone), and
/// measures the raw write reference there over `reference_bytes`. Returns the reference in MB/s;
/// each error says which step failed.
checked<double> prepare_scratch(const std::filesystem::path& parent, std::uint64_t free_bytes,
                                std::uint64_t reference_bytes, std::chrono::seconds settle_limit,
                                scratch_dir& scratch);

/// The physical reference for fsync "always": append `bytes` to the new file `path` and
/// fdatasync(), repeated for about one second or 2000 times, whichever comes first. Returns the
/// rate per second; removes the file. Stops early when `stop` is set.
checked<double> measure_fsync_per_record(const std::filesystem::path& path, std::size_t bytes,
                                         const std::atomic<bool>& stop);

} // namespace sluice::cli::bench
