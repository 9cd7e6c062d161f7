#include "sources/dead_letter.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/log.h"

namespace sluice::sources {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) noexcept {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
      return 0; // overlong, surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
      return 0; // overlong, above U+10FFFF
    return 4;
  }
  return 0;
}

} // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  while (!text.empty()) {
    auto c = static_cast<unsigned char>(text[0]);
    std::size_t n = utf8_sequence(text);
    if (n == 0) {
      out.append("\\ufffd");
      n = 1;
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c < 0x20 || c == 0x7F) {
      out.append(fmt::format("\\u{:04x}", c));
    } else {
      out.append(text.substr(0, n));
    }
    text.remove_prefix(n);
  }
  out.push_back('"');
}

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
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return fd_ >= 0;
}

void dead_letter::reject(reason why, std::string_view record, std::uint64_t length) {
  stats_.rejected[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
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
    return;
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
      return;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

} // namespace sluice::sources
