#include "sources/http_source.h"

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
  return r;
}

} // namespace

http_source::http_source(config::source_config cfg, queue::queue& q,
                         const std::filesystem::path& data_dir,
                         std::chrono::nanoseconds stall_timeout)
    : source(std::move(cfg), q, data_dir),
      request_(request_of(std::get<config::http_source>(ctx_.cfg.settings))),
      stall_timeout_(stall_timeout),
      backoff_(make_backoff(std::get<config::http_source>(ctx_.cfg.settings).reconnect)) {}

http_source::~http_source() {
  stop();
}

result<void> http_source::start(asio::io_context& /*io*/) {
  if (auto url = io::parse_url(request_.url); !url) {
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
  if (started_)
    set_state(source_state::stopped);
}

asio::awaitable<void> http_source::run() {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  bool ever_connected = false;
  while (!ctx_.stopping.load()) {
    set_state(source_state::connecting);
    intake in(ctx_);
    bool delivered = false;
    io::response_head head;
    auto r = co_await io::stream_once(request_, stall_timeout_, head, [&](std::string_view data) {
      if (!delivered) {
        delivered = true;
        last_status_.store(head.status);
        set_state(source_state::connected);
        ctx_.stats.connects.fetch_add(1, std::memory_order_relaxed);
        if (ever_connected)
          ctx_.stats.reconnects.fetch_add(1, std::memory_order_relaxed);
        ever_connected = true;
        backoff_.reset();
      }
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
    auto why = r ? std::error_code(io::errc::ended) : r.error();
    if (!delivered)
      ctx_.stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
    auto delay = backoff_.next();
    if (why == io::errc::http_status)
      SLUICE_WARN_LIMITED("source {}: {} answered HTTP {}, reconnecting in {} ms", name(),
                          request_.url, head.status,
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    else
      SLUICE_WARN_LIMITED("source {}: stream {} ended: {}, reconnecting in {} ms", name(),
                          request_.url, why.message(),
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    set_state(source_state::backing_off);
    timer.expires_after(delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

} // namespace sluice::sources
