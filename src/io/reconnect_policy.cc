#include "io/reconnect_policy.h"

#include <algorithm>
#include <memory>
#include <random>

namespace sluice::io {

using std::chrono::nanoseconds;

std::string_view disconnect_reason_name(disconnect_reason r) noexcept {
  switch (r) {
  case disconnect_reason::network:
    return "network";
  case disconnect_reason::http_error:
    return "http_error";
  case disconnect_reason::rate_limited:
    return "rate_limited";
  case disconnect_reason::fatal:
    return "fatal";
  case disconnect_reason::stall:
    return "stall";
  }
  return "unknown";
}

disconnect_reason reason_of_status(int status) noexcept {
  if (status == 420 || status == 429)
    return disconnect_reason::rate_limited;
  if (!fatal_status_hint(status).empty())
    return disconnect_reason::fatal;
  return disconnect_reason::http_error;
}

std::string_view fatal_status_hint(int status) noexcept {
  switch (status) {
  case 401:
    return "check auth";
  case 403:
    return "the account may not use this endpoint";
  case 404:
    return "check the URL";
  case 406:
    return "check params / Accept";
  case 413:
    return "too many track terms";
  case 416:
    return "check params";
  default:
    return {};
  }
}

reconnect_policy::reconnect_policy(reconnect_settings settings, clock_fn now, random_fn random)
    : s_(settings), now_(std::move(now)), random_(std::move(random)) {
  if (!now_)
    now_ = [] { return std::chrono::steady_clock::now(); };
  if (!random_) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
}

reconnect_policy::cls reconnect_policy::class_of(disconnect_reason r) noexcept {
  switch (r) {
  case disconnect_reason::http_error:
    return http_cls;
  case disconnect_reason::rate_limited:
    return rate_cls;
  default:
    return network_cls;
  }
}

void reconnect_policy::connected() {
  up_since_ = now_();
  delivered_ = false;
}

void reconnect_policy::delivering() {
  delivered_ = true;
  check_stable();
}

void reconnect_policy::check_stable() {
  if (up_since_ && delivered_ && now_() - *up_since_ >= s_.stable_after) {
    reset();
    // Still up: later failures count from zero, and no second reset for this connection.
    up_since_.reset();
  }
}

void reconnect_policy::reset() noexcept {
  attempts_.fill(0);
  failures_ = 0;
}

std::uint64_t reconnect_policy::attempts(disconnect_reason reason) const noexcept {
  return attempts_[class_of(reason)];
}

nanoseconds reconnect_policy::base_delay(disconnect_reason reason,
                                         std::uint64_t attempt) const noexcept {
  attempt = std::max<std::uint64_t>(attempt, 1);
  if (class_of(reason) == network_cls) {
    auto max = std::max(s_.network_initial, s_.network_max);
    auto room = max - s_.network_initial;
    // initial + step * (attempt - 1), without overflowing on a long outage.
    if (s_.network_step.count() <= 0)
      return s_.network_initial;
    if (attempt - 1 > static_cast<std::uint64_t>(room / s_.network_step))
      return max;
    return std::min(max,
                    s_.network_initial + s_.network_step * static_cast<std::int64_t>(attempt - 1));
  }
  bool http = class_of(reason) == http_cls;
  nanoseconds d = http ? s_.http_initial : s_.rate_limit_initial;
  nanoseconds max = std::max(d, http ? s_.http_max : s_.rate_limit_max);
  for (std::uint64_t i = 1; i < attempt && d < max && d.count() > 0; ++i)
    d *= 2;
  return std::min(d, max);
}

reconnect_policy::decision reconnect_policy::failed(disconnect_reason reason,
                                                    std::optional<nanoseconds> retry_after) {
  check_stable();
  up_since_.reset();
  delivered_ = false;
  decision out;
  out.attempt = ++attempts_[class_of(reason)];
  out.failures = ++failures_;
  if (reason == disconnect_reason::fatal || (s_.max_retries && failures_ >= *s_.max_retries)) {
    out.give_up = true;
    return out;
  }
  auto d = base_delay(reason, out.attempt);
  if (s_.jitter_percent > 0 && d.count() > 0) {
    double share = std::min(s_.jitter_percent, 100u) / 100.0 * random_();
    d -= nanoseconds(static_cast<std::int64_t>(static_cast<double>(d.count()) * share));
  }
  if (retry_after && *retry_after > d)
    d = *retry_after;
  out.delay = d;
  return out;
}

} // namespace sluice::io
