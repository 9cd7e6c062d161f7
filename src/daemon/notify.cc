#include "daemon/notify.h"

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>

#include <spdlog/spdlog.h>

namespace sluice::daemon {
namespace {

// A whole environment value as an unsigned number; nullopt for anything else, like
// sd_watchdog_enabled(3), which ignores a malformed variable rather than guessing.
std::optional<std::uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    return std::nullopt;
  std::uint64_t n = 0;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, n);
  if (ec != std::errc() || p != end)
    return std::nullopt;
  return n;
}

// Closes the socket on every path out of send().
class socket_fd {
public:
  explicit socket_fd(int fd) : fd_(fd) {}
  ~socket_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

} // namespace

notifier::notifier(std::string socket_path,
                   std::optional<std::chrono::microseconds> watchdog_timeout)
    : socket_path_(std::move(socket_path)), watchdog_timeout_(watchdog_timeout) {
  if (watchdog_timeout_ && watchdog_timeout_->count() <= 0)
    watchdog_timeout_.reset();
}

notifier notifier::from_env() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0')
    return notifier();
  if (socket[0] != '/' && socket[0] != '@') {
    spdlog::warn("NOTIFY_SOCKET={} is not a Unix socket path or abstract name; not notifying the "
                 "service manager",
                 socket);
    return notifier();
  }
  std::optional<std::chrono::microseconds> watchdog;
  if (auto usec = env_number("WATCHDOG_USEC"); usec && *usec > 0) {
    const char* pid_text = std::getenv("WATCHDOG_PID");
    auto pid = env_number("WATCHDOG_PID");
    bool ours = pid_text == nullptr || (pid && *pid == static_cast<std::uint64_t>(::getpid()));
    if (ours)
      watchdog = std::chrono::microseconds(static_cast<std::int64_t>(*usec));
  }
  return notifier(socket, watchdog);
}

result<void> notifier::send(std::string_view state) const {
  if (!enabled())
    return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string_view name = socket_path_;
  if (name.front() != '/' && name.front() != '@')
    return fail(std::make_error_code(std::errc::invalid_argument));
  // A path needs its terminating NUL inside sun_path; an abstract name is the bytes after a
  // leading NUL, with no terminator, and the address length says where it ends.
  std::size_t limit = name.front() == '@' ? sizeof(addr.sun_path) : sizeof(addr.sun_path) - 1;
  if (name.size() > limit)
    return fail(std::make_error_code(std::errc::filename_too_long));
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name.front() == '@')
    addr.sun_path[0] = '\0';
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                         (name.front() == '@' ? 0 : 1));

  socket_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    return fail_errno(errno);
  ssize_t n = -1;
  do {
    n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return fail_errno(errno);
  return {};
}

result<void> notifier::reloading() const {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
              static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

result<void> notifier::status(std::string_view text) const {
  std::string state = "STATUS=";
  state.reserve(state.size() + text.size());
  for (char c : text)
    state.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return send(state);
}

std::optional<std::chrono::microseconds> notifier::watchdog_interval() const {
  if (!enabled() || !watchdog_timeout_)
    return std::nullopt;
  return *watchdog_timeout_ / 2;
}

} // namespace sluice::daemon
