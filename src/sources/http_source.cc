#include "sources/http_source.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.h"
#include "config/tables.h"
#include "io/errc.h"
#include "sources/dedupe.h"
#include "sources/source_type.h"

// GCC 12 reports a false -Wmismatched-new-delete in Asio's coroutine frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::sources {
namespace {

// The settings but the request (url, method, params, headers, auth, user_agent, gzip, TLS): a
// change of those alone is taken without a gap.
config::option_values request_left_out(const config::option_values& v) {
  return v.without({"url", "method", "params", "headers", "auth", "user_agent", "gzip", "ca_file",
                    "client_cert", "client_key", "insecure"});
}

} // namespace

bool request_change_only(const config::source_config& before, const config::source_config& now) {
  if (before.type() != "http" || now.type() != "http" || before == now)
    return false;
  // Everything but the request, compared with the request left out.
  auto same_request = now;
  same_request.settings = request_left_out(now.settings);
  auto before_request = before;
  before_request.settings = request_left_out(before.settings);
  return same_request == before_request;
}

/// One streaming connection and its reconnections, with the request settings it was made for.
/// The live link is the source's connection; a candidate is the one a change opened, until it
/// delivers its first event.
struct http_source::link {
  link(io::stream_request r, const io::reconnect_settings& s) : req(std::move(r)), policy(s) {}

  io::stream_request req;
  io::reconnect_policy policy;
  std::shared_ptr<io::stream_stop> stop = std::make_shared<io::stream_stop>();
  std::optional<asio::steady_timer> timer; ///< the wait before the next attempt
  intake* in = nullptr;                    ///< while a connection is up
  bool announced = false;                  ///< note_connected() done for this connection
  bool retired = false;                    ///< replaced: ends without reconnecting
  bool retiring = false;                   ///< close once caught up with the new connection
  std::uint64_t duplicates = 0;            ///< the intake's when it began retiring
  std::uint64_t backfill = 0;              ///< what the next request asks for (count=-N)
};

http_source::http_source(config::source_config cfg, queue::queue& q,
                         const std::filesystem::path& data_dir,
                         std::chrono::nanoseconds stall_timeout)
    : source(std::move(cfg), q, data_dir), settings_(http_settings::of(ctx_.cfg.settings)),
      request_(settings_.request), stall_timeout_(stall_timeout) {}

http_source::~http_source() {
  stop();
}

result<void> http_source::start(asio::io_context& /*io*/) {
  if (auto url = io::parse_url(request_.url); !url) {
    ctx_.stats.set_last_error(fmt::format("bad URL {}: {}", request_.url, url.error().message()));
    set_state(source_state::failed);
    return fail(url.error());
  }
  const auto& h = settings_;
  if (!h.dedupe_field.empty() &&
      (ctx_.cfg.format == config::record_format::json || h.backfill > 0)) {
    ctx_.dedupe = std::make_unique<dedupe_window>(h.dedupe_window);
    ctx_.dedupe_field = h.dedupe_field;
    key_extractor keys(h.dedupe_field);
    auto n = seed_from_queue(*ctx_.dedupe, ctx_.queue, name(), keys,
                             h.dedupe_window * k_seed_scan_factor);
    if (!n)
      SLUICE_WARN_LIMITED("source {}: cannot refill the dedupe window from the queue ({}): events "
                          "a backfill sends again may be queued twice",
                          name(), n.error().message());
    else if (*n > 0)
      spdlog::info("source {}: dedupe window refilled with {} events from the queue", name(), *n);
  }
  started_ = true;
  set_state(source_state::connecting);
  live_ = std::make_shared<link>(request_, h.reconnect);
  live_->backfill = h.backfill;
  asio::co_spawn(io_, run(live_), asio::detached);
  thread_ = std::thread([this] {
    auto work = asio::make_work_guard(io_); // a change may come while no connection is tried
    io_.run();
  });
  return {};
}

void http_source::stop() {
  ctx_.stopping.store(true);
  // Handlers end at once; an append in flight (in the handler running now) finishes first.
  io_.stop();
  if (thread_.joinable())
    thread_.join();
  if (started_ && state() != source_state::failed)
    set_state(source_state::stopped);
}

void http_source::change_request(const config::option_values& settings) {
  asio::post(io_, [this, req = http_settings::of(settings).request]() mutable {
    request_changed(std::move(req));
  });
}

bool http_source::take_change(const config::source_config& before,
                              const config::source_config& now) {
  if (state() == source_state::failed || !before.enabled || !now.enabled ||
      !request_change_only(before, now))
    return false;
  change_request(now.settings);
  return true;
}

bool http_source::reconnect_in_place() {
  if (state() == source_state::failed)
    return false;
  change_request(ctx_.cfg.settings);
  return true;
}

void http_source::request_changed(io::stream_request req) {
  pending_ = std::move(req);
  if (debouncing_)
    return;
  debouncing_ = true;
  debounce_.expires_after(settings_.change_debounce);
  debounce_.async_wait([this](const boost::system::error_code& ec) {
    debouncing_ = false;
    if (ec || ctx_.stopping.load() || !pending_)
      return;
    auto next = std::move(*pending_);
    pending_.reset();
    start_candidate(std::move(next));
  });
}

void http_source::start_candidate(io::stream_request req) {
  if (candidate_) { // an earlier change not yet delivering: superseded
    candidate_->retired = true;
    candidate_->stop->close();
    if (candidate_->timer)
      candidate_->timer->cancel();
  }
  candidate_ = std::make_shared<link>(std::move(req), settings_.reconnect);
  candidate_->backfill = settings_.backfill;
  spdlog::info("source {}: request changed, opening a connection with the new settings", name());
  asio::co_spawn(io_, run(candidate_), asio::detached);
}

void http_source::make_live(const std::shared_ptr<link>& c) {
  live_ = c;
  candidate_.reset();
  request_ = c->req;
  ctx_.stats.switches.fetch_add(1, std::memory_order_relaxed);
}

void http_source::promote(const std::shared_ptr<link>& c) {
  auto old = live_;
  make_live(c);
  last_status_.store(200);
  c->announced = true;
  note_connected(c->policy);
  spdlog::info("source {}: the connection with the new settings delivers; switched to it", name());
  if (old)
    retire(old);
}

void http_source::retire(const std::shared_ptr<link>& l) {
  l->retired = true;
  if (l->timer)
    l->timer->cancel();
  if (l->in == nullptr) { // not connected
    l->stop->close();
    return;
  }
  // What the old connection holds in flight was sent before the new one began: it goes on
  // until it delivers an event the new one already delivered (a duplicate by id), then closes at a
  // line boundary; at the latest after k_overlap_limit (streams with nothing in common).
  l->retiring = true;
  l->duplicates = l->in->id_duplicates();
  asio::co_spawn(
      io_,
      [l]() -> asio::awaitable<void> {
        asio::steady_timer t(co_await asio::this_coro::executor, k_overlap_limit);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!l->stop->closed())
          l->stop->close();
      },
      asio::detached);
}

asio::awaitable<void> http_source::run(std::shared_ptr<link> l) {
  l->timer.emplace(co_await asio::this_coro::executor);
  while (!ctx_.stopping.load() && !l->retired) {
    if (l == live_)
      set_state(source_state::connecting);
    intake in(ctx_);
    l->in = &in;
    l->announced = false;
    bool delivered = false;
    io::response_head head;
    io::stream_request request = l->req;
    if (l->backfill > 0 && std::none_of(request.params.begin(), request.params.end(),
                                        [](const auto& p) { return p.first == "count"; }))
      request.params.emplace_back("count",
                                  std::vector<std::string>{"-" + std::to_string(l->backfill)});
    auto r = co_await io::stream_once(
        request, stall_timeout_, head,
        [&](std::string_view data) {
          if (!delivered) {
            delivered = true;
            l->policy.connected();
          }
          if (l == live_ && !l->announced) {
            l->announced = true;
            last_status_.store(head.status);
            note_connected(l->policy);
          }
          l->policy.delivering();
          in.feed(data);
          if (l == candidate_ && in.framed() > 0)
            promote(l);
          // An event the new connection delivered, known by its id: a notice whose text the
          // new one happened to send too (a delete, a limit) is not where the new one began.
          if (l->retiring && in.id_duplicates() > l->duplicates && !in.has_partial())
            l->stop->close();
        },
        l->stop,
        [&] {
          // Once per read, on this source's own thread: blocking here at the queue's cap stops
          // the reads.
          if (in.framed() > 0)
            (void)in.commit();
        });
    l->in = nullptr;
    if (head.status != 0 && l == live_)
      last_status_.store(head.status);
    in.drop_partial();
    if (in.framed() > 0)
      (void)in.commit();
    if (ctx_.stopping.load() || l->retired)
      break;
    if (!delivered)
      ctx_.stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
    else
      adjust_backfill(*l, in);
    auto [reason, what] =
        failure_of(l->req.url, r ? std::error_code(io::errc::ended) : r.error(), head);
    std::optional<std::chrono::nanoseconds> retry_after;
    if (head.retry_after)
      retry_after = *head.retry_after;

    if (l == candidate_) {
      // The new settings' connection failed before its first event: the live one goes on.
      // The error is set before the count, so whoever sees the count sees why.
      auto d = l->policy.failed(reason, retry_after);
      if (reason == io::disconnect_reason::fatal || d.give_up) {
        auto message =
            fmt::format("the new request settings failed ({}); streaming goes on with "
                        "the previous ones",
                        reason == io::disconnect_reason::fatal
                            ? what
                            : fmt::format("gave up after {} attempts: {}", d.failures, what));
        spdlog::error("source {}: {}", name(), message);
        ctx_.stats.set_last_error(std::move(message));
        ctx_.stats.count_disconnect(reason);
        candidate_.reset();
        break;
      }
      ctx_.stats.set_last_error(what);
      ctx_.stats.count_disconnect(reason);
      SLUICE_WARN_LIMITED("source {}: connection with the new settings: {} ({}, attempt {}), "
                          "retrying in {} ms",
                          name(), what, io::disconnect_reason_name(reason), d.attempt,
                          std::chrono::duration<double, std::milli>(d.delay).count());
      l->timer->expires_after(d.delay);
    } else if (l == live_ && candidate_) {
      // The live connection ended while the new one is being set up: the new one takes over.
      ctx_.stats.count_disconnect(reason);
      ctx_.stats.set_last_error(what);
      SLUICE_WARN_LIMITED("source {}: {} ({}); the connection with the new settings takes over",
                          name(), what, io::disconnect_reason_name(reason));
      make_live(candidate_);
      set_state(source_state::connecting);
      break;
    } else {
      auto delay = note_disconnect(l->policy, reason, what, retry_after);
      if (!delay) {
        live_.reset();
        break;
      }
      l->timer->expires_after(*delay);
    }
    boost::system::error_code ec;
    co_await l->timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  l->timer.reset();
}

void http_source::adjust_backfill(link& l, const intake& in) {
  const std::uint64_t configured = settings_.backfill;
  if (configured == 0)
    return;
  if (in.added() > 0) {
    if (l.backfill < configured)
      spdlog::info("source {}: a connection brought new events again; the backfill is back to {}",
                   name(), configured);
    l.backfill = configured;
    return;
  }
  if (in.duplicates() == 0 || l.backfill == 0)
    return; // nothing came but keep-alives, or no backfill was asked for
  ctx_.stats.backfill_stalls.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t next = l.backfill / 2;
  SLUICE_WARN_LIMITED("source {}: the connection ended having brought nothing new ({} events, "
                      "all already queued): the backfill of {} is larger than what the server "
                      "sends per connection; the next request asks for {}",
                      name(), in.duplicates(), l.backfill, next);
  l.backfill = next;
}

std::pair<io::disconnect_reason, std::string>
http_source::failure_of(const std::string& url, const std::error_code& why,
                        const io::response_head& head) const {
  using io::disconnect_reason;
  if (why == io::errc::http_status) {
    auto reason = io::reason_of_status(head.status);
    if (reason == disconnect_reason::fatal)
      return {reason, fmt::format("HTTP {} from {}: {}", head.status, url,
                                  io::fatal_status_hint(head.status))};
    return {reason, fmt::format("HTTP {} from {}", head.status, url)};
  }
  if (why == io::errc::stalled)
    return {
        disconnect_reason::stall,
        fmt::format("stream {} stalled: no byte for {} ms", url,
                    std::chrono::duration_cast<std::chrono::milliseconds>(stall_timeout_).count())};
  if (why == io::errc::tls_config)
    return {disconnect_reason::fatal,
            fmt::format("cannot set up TLS for {}: {}: check ca_file, client_cert and client_key",
                        url, head.failure.empty() ? why.message() : head.failure)};
  if (why == io::errc::ended)
    return {disconnect_reason::network, fmt::format("stream {} ended", url)};
  return {disconnect_reason::network,
          fmt::format("stream {}: {}", url, head.failure.empty() ? why.message() : head.failure)};
}

extern const source_type http_type{
    .name = "http",
    .options = &config::http_source_options,
    .make = [](const config::source_config& cfg, queue::queue& q,
               const std::filesystem::path& data_dir) -> result<std::unique_ptr<source>> {
      return std::make_unique<http_source>(cfg, q, data_dir,
                                           cfg.settings.duration("stall_timeout"));
    },
};

} // namespace sluice::sources
