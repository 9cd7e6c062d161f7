#include "io/redis_link.h"

#include "base/log.h"
#include "io/errc.h"

namespace sluice::io::redis {
namespace {

reconnect_settings link_backoff() {
  reconnect_settings s;
  s.network_initial = std::chrono::milliseconds(250);
  s.network_step = std::chrono::milliseconds(250);
  s.network_max = std::chrono::seconds(5);
  s.stable_after = std::chrono::seconds(10);
  return s;
}

} // namespace

link::link(endpoint at, std::chrono::milliseconds timeout, std::string what,
           std::atomic<std::uint64_t>* reconnects)
    : at_(std::move(at)), timeout_(timeout), what_(std::move(what)), policy_(link_backoff()),
      reconnect_counter_(reconnects) {}

result<connection*> link::get() {
  if (conn_ && !conn_->broken()) {
    policy_.delivering();
    return &*conn_;
  }
  conn_.reset();
  if (std::chrono::steady_clock::now() < next_attempt_)
    return fail(errc::backing_off);
  auto c = connection::open(at_, timeout_);
  if (!c) {
    ++connect_failures_;
    auto d = policy_.failed(disconnect_reason::network);
    next_attempt_ = std::chrono::steady_clock::now() + d.delay;
    SLUICE_WARN_LIMITED("{}: cannot connect to Redis at {}: {}; retrying in {} ms", what_,
                        describe(at_), c.error().message(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(d.delay).count());
    return fail(c.error());
  }
  if (ever_connected_) {
    ++reconnects_;
    if (reconnect_counter_ != nullptr)
      reconnect_counter_->fetch_add(1, std::memory_order_relaxed);
    spdlog::info("{}: reconnected to Redis at {}", what_, describe(at_));
  }
  ever_connected_ = true;
  policy_.connected();
  conn_.emplace(std::move(*c));
  return &*conn_;
}

void link::lost(std::error_code why) {
  if (!conn_)
    return;
  conn_.reset();
  auto d = policy_.failed(disconnect_reason::network);
  next_attempt_ = std::chrono::steady_clock::now() + d.delay;
  SLUICE_WARN_LIMITED("{}: lost the connection to Redis at {}: {}; reconnecting in {} ms", what_,
                      describe(at_), why.message(),
                      std::chrono::duration_cast<std::chrono::milliseconds>(d.delay).count());
}

std::chrono::milliseconds link::backoff_left() const {
  auto left = next_attempt_ - std::chrono::steady_clock::now();
  if (conn_ || left.count() <= 0)
    return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

} // namespace sluice::io::redis
