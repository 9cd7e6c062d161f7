#include "sources/http_source.h"

#include <fmt/format.h>

#include "base/log.h"
#include "io/errc.h"

// GCC 12 reports a false -Wmismatched-new-delete in Asio's coroutine frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::sources {
namespace {

io::stream_request request_of(const config::http_source& h) {
  io::stream_request r;
  r.url = h.url;
  r.post = h.method == config::http_method::post;
  r.params = h.params;
  r.headers = h.headers;
  r.basic_auth = h.basic_auth;
  r.bearer = h.bearer;
  r.user_agent = h.user_agent;
  r.gzip = h.gzip;
  r.ca_file = h.ca_file.string();
  r.client_cert = h.client_cert.string();
  r.client_key = h.client_key.string();
  r.insecure = h.insecure;
  return r;
}

} // namespace

http_source::http_source(config::source_config cfg, queue::queue& q,
                         const std::filesystem::path& data_dir,
                         std::chrono::nanoseconds stall_timeout)
    : source(std::move(cfg), q, data_dir),
      request_(request_of(std::get<config::http_source>(ctx_.cfg.settings))),
      stall_timeout_(stall_timeout),
      policy_(reconnect_settings_of(std::get<config::http_source>(ctx_.cfg.settings).reconnect)) {}

http_source::~http_source() {
  stop();
}

result<void> http_source::start(asio::io_context& /*io*/) {
  if (auto url = io::parse_url(request_.url); !url) {
    ctx_.stats.set_last_error(fmt::format("bad URL {}: {}", request_.url, url.error().message()));
    set_state(source_state::failed);
    return fail(url.error());
  }
  started_ = true;
  set_state(source_state::connecting);
  asio::co_spawn(io_, run(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
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

asio::awaitable<void> http_source::run() {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  while (!ctx_.stopping.load()) {
    set_state(source_state::connecting);
    intake in(ctx_);
    bool delivered = false;
    io::response_head head;
    auto r = co_await io::stream_once(request_, stall_timeout_, head, [&](std::string_view data) {
      if (!delivered) {
        delivered = true;
        last_status_.store(head.status);
        note_connected(policy_);
      }
      policy_.delivering();
      in.feed(data);
      // On this source's own thread: blocking here at the queue's cap stops the reads.
      if (in.framed() > 0)
        (void)in.commit();
    });
    if (head.status != 0)
      last_status_.store(head.status);
    in.drop_partial();
    if (in.framed() > 0)
      (void)in.commit();
    if (ctx_.stopping.load())
      break;
    if (!delivered)
      ctx_.stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
    auto [reason, what] = failure_of(r ? std::error_code(io::errc::ended) : r.error(), head);
    std::optional<std::chrono::nanoseconds> retry_after;
    if (head.retry_after)
      retry_after = *head.retry_after;
    auto delay = note_disconnect(policy_, reason, what, retry_after);
    if (!delay)
      co_return;
    timer.expires_after(*delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::pair<io::disconnect_reason, std::string>
http_source::failure_of(const std::error_code& why, const io::response_head& head) const {
  using io::disconnect_reason;
  const auto& url = request_.url;
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

} // namespace sluice::sources
