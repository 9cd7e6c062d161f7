#include "daemon/memory.h"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <unistd.h>

namespace sluice::daemon {

std::uint64_t resident_bytes() {
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[256];
  ssize_t n = -1;
  do {
    n = ::read(fd, buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0)
    return 0;
  // "size resident shared text lib data dt", in pages.
  const char* p = buf;
  const char* end = buf + n;
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  auto r1 = std::from_chars(p, end, size);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != ' ')
    return 0;
  auto r2 = std::from_chars(r1.ptr + 1, end, resident);
  if (r2.ec != std::errc())
    return 0;
  long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0)
    return 0;
  return resident * static_cast<std::uint64_t>(page);
}

std::uint64_t memory_check::threshold_bytes() const {
  std::uint64_t pct = threshold_percent > 0 ? static_cast<std::uint64_t>(threshold_percent) : 0;
  // (q·100 + r)·pct / 100 = q·pct + r·pct / 100 exactly, since q·pct is whole.
  return limit / 100 * pct + limit % 100 * pct / 100;
}

} // namespace sluice::daemon
