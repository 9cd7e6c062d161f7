#include "sources/dead_letter.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/json_string.h"
#include "base/log.h"

namespace sluice::sources {
dead_letter::dead_letter(const std::filesystem::path& data_dir, std::string source, counters& stats)
    : path_(data_dir / "dead-letter" / (source + ".ndjson")), source_(std::move(source)),
      stats_(stats) {}

dead_letter::~dead_letter() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool dead_letter::open_locked() {
  if (fd_ >= 0)
    return true;
  const auto dir = path_.parent_path();
  if (auto made = create_directories_durably(dir); !made) {
    errno = made.error().value();
    return false;
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return false;
  // The file's name is durable from the first line on (sync() covers only its data).
  if (auto synced = sync_dir(dir); !synced) {
    ::close(fd_);
    fd_ = -1;
    errno = synced.error().value();
    return false;
  }
  return true;
}

bool dead_letter::sync() {
  std::lock_guard lock(mu_);
  if (!dirty_)
    return true;
  if (::fdatasync(fd_) != 0) {
    stats_.dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
    SLUICE_WARN_LIMITED("source {}: fdatasync of the dead-letter file {} failed: {}", source_,
                        path_.string(), std::strerror(errno));
    return false;
  }
  dirty_ = false;
  return true;
}

bool dead_letter::reject(reason why, std::string_view record, std::uint64_t length) {
  stats_.rejected[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  // Invariant 5: nothing is set aside silently.
  SLUICE_WARN_LIMITED("source {}: record rejected ({}, {} bytes), set aside in {}", source_,
                      reason_name(why), length, path_.string());
  std::lock_guard lock(mu_);
  std::int64_t ns = now_unix_ns();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  line_.clear();
  line_.append(fmt::format(R"({{"time":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","source":)",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, (ns / 1000000) % 1000));
  append_json_string(line_, source_);
  line_.append(fmt::format(R"(,"reason":"{}","length":{},"record":)", reason_name(why), length));
  append_json_string(line_, record);
  line_.append("}\n");
  if (!open_locked()) {
    stats_.dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
    SLUICE_WARN_LIMITED("source {}: cannot open dead-letter file {}: {}", source_, path_.string(),
                        std::strerror(errno));
    return false;
  }
  std::string_view rest = line_;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      stats_.dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
      SLUICE_WARN_LIMITED("source {}: dead-letter write to {} failed: {}", source_, path_.string(),
                          std::strerror(errno));
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  dirty_ = true;
  return true;
}

} // namespace sluice::sources
