#include "firehose/pipe_stream.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <unistd.h>

namespace sluice::firehose {
namespace {

constexpr std::size_t k_write_bytes = 1u << 20;
constexpr std::uint64_t k_scan_slice = 1u << 16;
constexpr std::chrono::milliseconds k_starved_wait{20};

// Writes all of `s`; false with errno set on an error, or when stopped during an interruption.
bool write_all(int fd, std::string_view s, const std::function<bool()>& stop) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) {
      if (stop())
        return true; // the caller sees stop() and ends
      continue;
    }
    if (n < 0)
      return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace

result<std::uint64_t> write_stream(int fd, const pipe_options& options,
                                   const std::function<bool()>& stop) {
  using clock = std::chrono::steady_clock;
  generator gen(options.stream, options.filter);
  std::string buf;
  buf.reserve(k_write_bytes + (2u << 20));
  std::uint64_t sent = 0;
  const auto start = clock::now();
  while (!stop() && (options.count == 0 || sent < options.count)) {
    std::uint64_t allowed = options.count == 0 ? UINT64_MAX : options.count - sent;
    if (options.rate != 0) {
      double elapsed = std::chrono::duration<double>(clock::now() - start).count();
      auto due = static_cast<std::uint64_t>(elapsed * static_cast<double>(options.rate)) + 1;
      if (due <= sent) {
        // Pacing, not synchronisation: the next rank is due then.
        std::this_thread::sleep_until(
            start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(sent) / static_cast<double>(options.rate))));
        continue;
      }
      allowed = std::min(allowed, due - sent);
    }
    buf.clear();
    std::uint64_t n = 0;
    std::uint64_t budget = k_scan_slice;
    while (n < allowed && buf.size() < k_write_bytes && gen.append_next(buf, budget))
      ++n;
    if (n == 0) {
      std::this_thread::sleep_for(k_starved_wait); // a filter that matches little
      continue;
    }
    if (!write_all(fd, buf, stop))
      return fail_errno(errno);
    sent += n;
  }
  return sent;
}

} // namespace sluice::firehose
