#include "sources/source.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"

namespace sluice::sources {

std::string_view state_name(source_state s) noexcept {
  switch (s) {
  case source_state::connecting:
    return "connecting";
  case source_state::connected:
    return "connected";
  case source_state::backing_off:
    return "backing_off";
  case source_state::stopped:
    return "stopped";
  case source_state::failed:
    return "failed";
  }
  return "unknown";
}

void source::note_connected(io::reconnect_policy& policy) {
  if (ctx_.stats.connects.fetch_add(1, std::memory_order_relaxed) > 0)
    ctx_.stats.reconnects.fetch_add(1, std::memory_order_relaxed);
  ctx_.stats.backoff_ns.store(0, std::memory_order_relaxed);
  ctx_.stats.connection_began();
  ctx_.stats.connected_at_ns.store(now_unix_ns(), std::memory_order_relaxed);
  policy.connected();
  set_state(source_state::connected);
}

std::optional<std::chrono::nanoseconds>
source::note_disconnect(io::reconnect_policy& policy, io::disconnect_reason reason,
                        const std::string& what,
                        std::optional<std::chrono::nanoseconds> retry_after) {
  ctx_.stats.count_disconnect(reason);
  ctx_.stats.backoff_ns.store(0, std::memory_order_relaxed);
  auto d = policy.failed(reason, retry_after);
  if (reason == io::disconnect_reason::fatal) {
    ctx_.stats.set_last_error(what);
    spdlog::error("source {}: {}; not retried, the source stopped", name(), what);
    set_state(source_state::failed);
    return std::nullopt;
  }
  if (d.give_up) {
    auto message = fmt::format("gave up after {} attempts: {}", d.failures, what);
    spdlog::error("source {}: {}", name(), message);
    ctx_.stats.set_last_error(std::move(message));
    set_state(source_state::failed);
    return std::nullopt;
  }
  ctx_.stats.set_last_error(what);
  ctx_.stats.backoff_ns.store(d.delay.count(), std::memory_order_relaxed);
  set_state(source_state::backing_off);
  SLUICE_WARN_LIMITED("source {}: {} ({}, attempt {}), reconnecting in {} ms", name(), what,
                      io::disconnect_reason_name(reason), d.attempt,
                      std::chrono::duration<double, std::milli>(d.delay).count());
  return d.delay;
}

} // namespace sluice::sources
