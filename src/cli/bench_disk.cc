#include "cli/bench_disk.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <linux/magic.h>
#include <string>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"

namespace sluice::cli::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t k_raw_chunk_bytes = 1u << 20;
constexpr int k_fsync_probe_max = 2000;
constexpr std::int64_t k_fsync_probe_ns = 1'000'000'000;
// settle(): every k_settle_pause, append k_settle_chunk_bytes to a probe file and fdatasync it;
// the disk is settled when no probe took k_settle_slow_ns or more for k_settle_quiet_ns, or after
// the caller's limit whatever it does. Past k_settle_probe_cap bytes the probe overwrites from the
// start (the free-space checks count that much for it).
constexpr std::size_t k_settle_chunk_bytes = 256u << 10;
constexpr std::uint64_t k_settle_probe_cap = 256u << 20;
constexpr auto k_settle_pause = std::chrono::milliseconds(10);
constexpr std::int64_t k_settle_slow_ns = 10'000'000;
constexpr std::int64_t k_settle_quiet_ns = 3'000'000'000;

std::string errno_text(int e) {
  return std::error_code(e, std::system_category()).message();
}

/// A file descriptor, closed on destruction.
class file {
public:
  explicit file(int fd) noexcept : fd_(fd) {}
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int fd() const noexcept { return fd_; }

private:
  int fd_;
};

checked<int> create_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return failure(fmt::format("open {}: {}", path.string(), errno_text(errno)));
  return fd;
}

checked<void> write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return failure(fmt::format("write: {}", errno_text(errno)));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

checked<void> sync_data(int fd) {
  if (::fdatasync(fd) != 0)
    return failure(fmt::format("fdatasync: {}", errno_text(errno)));
  return {};
}

// Set by SIGINT/SIGTERM under an interrupt_guard.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_interrupt(int) {
  g_interrupted.store(true, std::memory_order_relaxed);
}

} // namespace

interrupt_guard::interrupt_guard()
    : old_int_(std::signal(SIGINT, on_interrupt)), old_term_(std::signal(SIGTERM, on_interrupt)) {}

interrupt_guard::~interrupt_guard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

const std::atomic<bool>& interrupted() noexcept {
  return g_interrupted;
}

double peak_rss_mib() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0; // Linux reports KiB
}

bool is_memory_fs(const fs::path& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0)
    return false;
  return s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC;
}

checked<fs::path> pick_parent(const std::string& dir_option) {
  if (!dir_option.empty()) {
    if (is_memory_fs(dir_option))
      std::fprintf(stderr,
                   "sluice bench: warning: %s is tmpfs/ramfs: the figures measure memory, "
                   "not a disk\n",
                   dir_option.c_str());
    return fs::path(dir_option);
  }
  const char* tmpdir = std::getenv("TMPDIR");
  if (tmpdir != nullptr && *tmpdir != '\0') {
    if (!is_memory_fs(tmpdir))
      return fs::path(tmpdir);
    std::fprintf(stderr, "sluice bench: TMPDIR=%s is tmpfs, using /var/tmp\n", tmpdir);
  }
  if (!is_memory_fs("/var/tmp"))
    return fs::path("/var/tmp");
  return failure("/var/tmp is tmpfs: pass --dir DIR on the disk to measure");
}

checked<void> check_free_space(const fs::path& dir, std::uint64_t bytes) {
  struct statvfs s {};
  if (::statvfs(dir.c_str(), &s) != 0)
    return failure(fmt::format("statvfs {}: {}", dir.string(), errno_text(errno)));
  std::uint64_t available = static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  if (available < bytes)
    return failure(fmt::format("needs {:.2f} GB free in {}, has {:.2f} GB",
                               static_cast<double>(bytes) / 1e9, dir.string(),
                               static_cast<double>(available) / 1e9));
  return {};
}

scratch_dir::~scratch_dir() {
  std::error_code ec;
  if (!path_.empty())
    fs::remove_all(path_, ec);
}

checked<void> scratch_dir::create(const fs::path& parent) {
  std::string name = (parent / "sluice-bench-XXXXXX").string();
  if (::mkdtemp(name.data()) == nullptr)
    return failure(
        fmt::format("cannot create a directory in {}: {}", parent.string(), errno_text(errno)));
  path_ = name;
  return {};
}

void settle(const fs::path& dir, std::chrono::seconds limit) {
  const std::int64_t limit_ns = std::chrono::nanoseconds(limit).count();
  if (limit_ns <= 0)
    return;
  static int probes = 0;
  auto fd = create_file(dir / fmt::format("settle-probe-{}", ++probes));
  if (!fd)
    return;
  file f(*fd);
  std::vector<char> chunk(k_settle_chunk_bytes, 's');
  std::uint64_t offset = 0;
  const std::int64_t start = now_mono_ns();
  std::int64_t last_slow = start;
  for (;;) {
    const std::int64_t now = now_mono_ns();
    if (now - last_slow >= k_settle_quiet_ns || interrupted().load(std::memory_order_relaxed))
      return;
    if (now - start >= limit_ns) {
      if (last_slow == start) // no slow fdatasync: only the limit was shorter than the 3 s
        return;
      std::fprintf(stderr,
                   "sluice bench: the disk under %s did not settle within %lld s (fdatasyncs of "
                   "10 ms or more went on); its figures will show it\n",
                   dir.c_str(), static_cast<long long>(limit.count()));
      return;
    }
    if (offset + chunk.size() > k_settle_probe_cap)
      offset = 0;
    auto n = ::pwrite(f.fd(), chunk.data(), chunk.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(chunk.size()) || ::fdatasync(f.fd()) != 0)
      return;
    offset += chunk.size();
    const std::int64_t done = now_mono_ns();
    if (done - now >= k_settle_slow_ns)
      last_slow = done;
    std::this_thread::sleep_for(k_settle_pause);
  }
}

void add_disk_options(CLI::App& cmd, std::uint64_t& settle_seconds, std::string& dir) {
  cmd.add_option("--settle-seconds", settle_seconds,
                 "How long to wait at most for the disk to settle before measuring (0: not at all)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{3600}));
  cmd.add_option("--dir", dir,
                 "Where to create the run's temporary directory (default $TMPDIR, else /var/tmp; "
                 "never a tmpfs unless named here)");
}

checked<double> prepare_scratch(const fs::path& parent, std::uint64_t free_bytes,
                                std::uint64_t reference_bytes, std::chrono::seconds settle_limit,
                                scratch_dir& scratch) {
  if (auto space = check_free_space(parent, free_bytes + reference_bytes + k_settle_probe_cap * 2);
      !space)
    return failure(space.error());
  if (auto made = scratch.create(parent); !made)
    return failure(made.error());
  if (auto warm = warm_page_cache(scratch.path() / "warm-up", reference_bytes, interrupted());
      !warm)
    return failure("warm-up: " + warm.error());
  settle(scratch.path(), settle_limit);
  auto raw = measure_raw_write(scratch.path() / "raw-reference", reference_bytes, interrupted());
  if (!raw)
    return failure("raw reference: " + raw.error());
  return *raw;
}

checked<void> warm_page_cache(const fs::path& path, std::uint64_t total,
                              const std::atomic<bool>& stop) {
  auto fd = create_file(path);
  if (!fd)
    return failure(fd.error());
  file f(*fd);
  std::vector<char> chunk(k_raw_chunk_bytes, 'w');
  for (std::uint64_t written = 0; written < total && !stop.load(std::memory_order_relaxed);) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - written));
    if (auto r = write_all(f.fd(), chunk.data(), n); !r)
      return failure(r.error());
    written += n;
  }
  ::unlink(path.c_str());
  return {};
}

checked<double> measure_raw_write(const fs::path& path, std::uint64_t total,
                                  const std::atomic<bool>& stop) {
  auto fd = create_file(path);
  if (!fd)
    return failure(fd.error());
  file f(*fd);
  std::vector<char> chunk(k_raw_chunk_bytes, 'r');
  // The best a program can do with plain calls: one thread writes 1 MiB chunks while another
  // fdatasyncs every 10 ms (the same overlap the queue's writer and syncer have), and a last
  // fdatasync at the end.
  std::atomic<bool> writing{true};
  std::string sync_error;
  std::thread syncer([&] {
    while (writing.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (auto r = sync_data(f.fd()); !r) {
        sync_error = r.error();
        return;
      }
    }
  });
  std::int64_t start = now_mono_ns();
  std::uint64_t written = 0;
  std::string write_error;
  while (written < total && !stop.load(std::memory_order_relaxed)) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - written));
    if (auto r = write_all(f.fd(), chunk.data(), n); !r) {
      write_error = r.error();
      break;
    }
    written += n;
  }
  writing.store(false);
  syncer.join();
  if (!write_error.empty())
    return failure(write_error);
  if (!sync_error.empty())
    return failure(sync_error);
  if (auto r = sync_data(f.fd()); !r)
    return failure(r.error());
  double seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  return static_cast<double>(written) / 1e6 / seconds;
}

checked<double> measure_fsync_per_record(const fs::path& path, std::size_t bytes,
                                         const std::atomic<bool>& stop) {
  auto fd = create_file(path);
  if (!fd)
    return failure(fd.error());
  file f(*fd);
  std::vector<char> rec(bytes, 'r');
  std::int64_t start = now_mono_ns();
  int done = 0;
  while (done < k_fsync_probe_max && now_mono_ns() - start < k_fsync_probe_ns &&
         !stop.load(std::memory_order_relaxed)) {
    if (auto r = write_all(f.fd(), rec.data(), rec.size()); !r)
      return failure(r.error());
    if (auto r = sync_data(f.fd()); !r)
      return failure(r.error());
    ++done;
  }
  double seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  ::unlink(path.c_str());
  return done / seconds;
}

} // namespace sluice::cli::bench
