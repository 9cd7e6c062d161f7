#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <poll.h>
#include <random>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "daemon/notify.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

using std::chrono::microseconds;

// Long enough for any loaded machine; a datagram that is sent has arrived before send() returns.
constexpr int k_recv_timeout_ms = 5000;

using sluice::testing::temp_dir;

// Restores the variables the notifier reads, whatever a test set.
class env_guard {
public:
  env_guard() {
    for (int i = 0; i < 3; ++i)
      if (const char* v = std::getenv(k_names[i]))
        saved_[i] = v;
    for (const char* name : k_names)
      ::unsetenv(name);
  }
  ~env_guard() {
    for (int i = 0; i < 3; ++i) {
      if (saved_[i])
        ::setenv(k_names[i], saved_[i]->c_str(), 1);
      else
        ::unsetenv(k_names[i]);
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

private:
  static constexpr const char* k_names[3] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};
  std::optional<std::string> saved_[3];
};

// The service manager's end: a datagram socket bound to a path or, with a leading '@', to an
// abstract name.
class receiver {
public:
  explicit receiver(std::string address) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      std::abort();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address_.size() >= sizeof(addr.sun_path))
      std::abort();
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    std::size_t len = offsetof(sockaddr_un, sun_path) + address_.size();
    if (address_[0] == '@')
      addr.sun_path[0] = '\0';
    else
      len += 1;
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), static_cast<socklen_t>(len)) != 0)
      std::abort();
  }
  ~receiver() { ::close(fd_); }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;

  const std::string& address() const { return address_; }

  /// The next datagram, or nullopt when none arrives within `timeout_ms`.
  std::optional<std::string> next(int timeout_ms = k_recv_timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1)
      return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0)
      return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  /// True when nothing is queued. Sending is synchronous, so nothing can still be on its way.
  bool empty() { return !next(0).has_value(); }

private:
  std::string address_;
  int fd_ = -1;
};

std::string unique_abstract_name() {
  std::random_device rd;
  return "@sluice-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// Sends the whole life cycle and checks each datagram, in order.
void expect_life_cycle(const notifier& n, receiver& r) {
  ASSERT_TRUE(n.enabled());
  ASSERT_TRUE(n.ready().has_value());
  ASSERT_TRUE(n.status("collecting 980/s").has_value());
  std::uint64_t before = monotonic_usec();
  ASSERT_TRUE(n.reloading().has_value());
  std::uint64_t after = monotonic_usec();
  ASSERT_TRUE(n.watchdog().has_value());
  ASSERT_TRUE(n.stopping().has_value());

  EXPECT_EQ(r.next(), "READY=1");
  EXPECT_EQ(r.next(), "STATUS=collecting 980/s");
  auto reload = r.next();
  ASSERT_TRUE(reload.has_value());
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(reload->substr(0, prefix.size()), prefix);
  std::string digits = reload->substr(prefix.size());
  ASSERT_FALSE(digits.empty());
  EXPECT_EQ(digits.find_first_not_of("0123456789"), std::string::npos) << *reload;
  std::uint64_t stamp = std::stoull(digits);
  EXPECT_LE(before, stamp);
  EXPECT_LE(stamp, after);
  EXPECT_EQ(r.next(), "WATCHDOG=1");
  EXPECT_EQ(r.next(), "STOPPING=1");
  EXPECT_TRUE(r.empty());
}

TEST(notify, sends_each_state_as_one_datagram_to_a_path) {
  temp_dir dir("notify");
  receiver r((dir / "notify.sock").string());
  notifier n(r.address());
  expect_life_cycle(n, r);
}

TEST(notify, sends_to_an_abstract_socket_name) {
  receiver r(unique_abstract_name());
  notifier n(r.address());
  expect_life_cycle(n, r);
}

TEST(notify, from_env_uses_notify_socket_path) {
  env_guard env;
  temp_dir dir("notify");
  receiver r((dir / "notify.sock").string());
  ::setenv("NOTIFY_SOCKET", r.address().c_str(), 1);
  notifier n = notifier::from_env();
  EXPECT_EQ(n.socket_path(), r.address());
  expect_life_cycle(n, r);
}

TEST(notify, from_env_uses_abstract_notify_socket) {
  env_guard env;
  receiver r(unique_abstract_name());
  ::setenv("NOTIFY_SOCKET", r.address().c_str(), 1);
  notifier n = notifier::from_env();
  expect_life_cycle(n, r);
}

TEST(notify, status_line_breaks_become_spaces) {
  temp_dir dir("notify");
  receiver r((dir / "notify.sock").string());
  notifier n(r.address());
  ASSERT_TRUE(n.status("two\nlines\r").has_value());
  EXPECT_EQ(r.next(), "STATUS=two lines ");
  EXPECT_TRUE(r.empty());
}

TEST(notify, disabled_notifier_sends_nothing_and_succeeds) {
  env_guard env;
  temp_dir dir("notify");
  receiver r((dir / "notify.sock").string());
  for (const notifier& n : {notifier(), notifier(""), notifier::from_env()}) {
    EXPECT_FALSE(n.enabled());
    EXPECT_TRUE(n.ready().has_value());
    EXPECT_TRUE(n.reloading().has_value());
    EXPECT_TRUE(n.status("x").has_value());
    EXPECT_TRUE(n.watchdog().has_value());
    EXPECT_TRUE(n.stopping().has_value());
    EXPECT_TRUE(n.send("READY=1").has_value());
    EXPECT_FALSE(n.watchdog_interval().has_value());
  }
  EXPECT_TRUE(r.empty());
}

TEST(notify, from_env_ignores_unusable_socket_address) {
  env_guard env;
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_FALSE(notifier::from_env().enabled());
}

TEST(notify, send_without_listener_fails) {
  temp_dir dir("notify");
  notifier n((dir / "nobody.sock").string());
  auto r = n.ready();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::error_code(ENOENT, std::system_category()));
}

TEST(notify, path_too_long_for_sockaddr_fails) {
  notifier n("/" + std::string(200, 'x'));
  auto r = n.ready();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::make_error_code(std::errc::filename_too_long));
}

TEST(notify, watchdog_interval_is_half_of_watchdog_usec) {
  env_guard env;
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  auto interval = notifier::from_env().watchdog_interval();
  ASSERT_TRUE(interval.has_value());
  EXPECT_EQ(*interval, std::chrono::seconds(1));

  EXPECT_EQ(notifier("/run/systemd/notify", microseconds(30000000)).watchdog_interval(),
            std::chrono::seconds(15));
  EXPECT_FALSE(notifier("/run/systemd/notify").watchdog_interval().has_value());
}

TEST(notify, watchdog_pid_of_this_process_enables_watchdog) {
  env_guard env;
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(notifier::from_env().watchdog_interval(), std::chrono::seconds(1));
}

TEST(notify, watchdog_pid_of_another_process_disables_watchdog) {
  env_guard env;
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  notifier n = notifier::from_env();
  EXPECT_TRUE(n.enabled());
  EXPECT_FALSE(n.watchdog_interval().has_value());
}

TEST(notify, malformed_watchdog_variables_disable_watchdog) {
  env_guard env;
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  for (const char* usec : {"", "0", "abc", "2000000x", "-5"}) {
    ::setenv("WATCHDOG_USEC", usec, 1);
    EXPECT_FALSE(notifier::from_env().watchdog_interval().has_value()) << usec;
  }
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", "not-a-pid", 1);
  EXPECT_FALSE(notifier::from_env().watchdog_interval().has_value());
}

TEST(notify, watchdog_without_notify_socket_is_off) {
  env_guard env;
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  notifier n = notifier::from_env();
  EXPECT_FALSE(n.enabled());
  EXPECT_FALSE(n.watchdog_interval().has_value());
}

} // namespace
} // namespace sluice::daemon
