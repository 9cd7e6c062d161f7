#include "sources/fd_source.h"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <unistd.h>
#include <vector>

#include "base/log.h"
#include "config/tables.h"
#include "sources/source_type.h"

namespace sluice::sources {

fd_source::fd_source(config::source_config cfg, queue::queue& q,
                     const std::filesystem::path& data_dir, int fd)
    : source(std::move(cfg), q, data_dir), fd_(fd) {}

fd_source::~fd_source() {
  stop();
}

result<void> fd_source::start(asio::io_context& /*io*/) {
  set_state(source_state::connected);
  thread_ = std::thread([this] { run(); });
  return {};
}

void fd_source::stop() {
  ctx_.stopping.store(true);
  wait();
}

void fd_source::wait() {
  if (thread_.joinable())
    thread_.join();
}

void fd_source::run() {
  intake in(ctx_);
  std::vector<char> buf(64 * 1024);
  for (;;) {
    if (ctx_.stopping.load())
      break;
    // Wait in slices, so stop() is seen within 100 ms even when no input comes.
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, 100);
    if (ready == 0 || (ready < 0 && errno == EINTR))
      continue;
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      SLUICE_WARN_LIMITED("source {}: read failed: {}", name(), std::strerror(errno));
      in.drop_partial();
      (void)in.commit();
      set_state(source_state::failed);
      return;
    }
    if (n == 0)
      in.finish();
    else
      in.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (!in.commit() && ctx_.stopping.load())
      break;
    if (n == 0)
      break;
  }
  set_state(source_state::stopped);
}

extern const source_type stdin_type{
    .name = "stdin",
    .options = &config::stdin_source_options,
    .make = [](const config::source_config& cfg, queue::queue& q,
               const std::filesystem::path& data_dir) -> result<std::unique_ptr<source>> {
      return std::make_unique<fd_source>(cfg, q, data_dir, 0);
    },
};

} // namespace sluice::sources
