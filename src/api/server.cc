#include "api/server.h"

#include <filesystem>
#include <mutex>
#include <optional>

#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "base/host_port.h"
#include "base/json_string.h"
#include "base/log.h"
#include "io/listen.h"

namespace sluice::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

/// Replies come from other threads: they post to the server's thread while it lives.
struct lifeline {
  std::mutex m;
  bool alive = true;
};

/// A response slot a handler fills from any thread; the connection waits on `timer`.
struct reply_slot {
  std::optional<response> resp;
  asio::steady_timer* timer = nullptr;
};

/// A request's read and the timer against slow clients: which ended first.
struct read_watch {
  bool done = false;    ///< the read returned
  bool expired = false; ///< the timer fired first and cancelled the read
};

/// A token bucket: `rate` requests per second, bursts of as many.
class request_budget {
public:
  explicit request_budget(std::uint32_t rate)
      : rate_(rate), tokens_(rate), at_(std::chrono::steady_clock::now()) {}
  bool take() {
    if (rate_ == 0)
      return true;
    auto now = std::chrono::steady_clock::now();
    tokens_ =
        std::min<double>(rate_, tokens_ + std::chrono::duration<double>(now - at_).count() * rate_);
    at_ = now;
    if (tokens_ < 1)
      return false;
    tokens_ -= 1;
    return true;
  }

private:
  std::uint32_t rate_;
  double tokens_;
  std::chrono::steady_clock::time_point at_;
};

std::string json_quote(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

} // namespace

std::string address_url(std::string_view bound) {
  return bound.starts_with("unix:") ? std::string(bound) : "http://" + std::string(bound);
}

std::string_view refusal_name(refusal r) noexcept {
  switch (r) {
  case refusal::max_connections:
    return "max_connections";
  case refusal::rate_limited:
    return "rate_limited";
  case refusal::header_too_large:
    return "header_too_large";
  case refusal::body_too_large:
    return "body_too_large";
  case refusal::timeout:
    return "timeout";
  case refusal::bad_request:
    return "bad_request";
  }
  return "unknown";
}

response json_response(http::status status, std::string body, unsigned version) {
  response r{status, version};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.body() = std::move(body);
  r.body() += '\n';
  r.prepare_payload();
  return r;
}

response error_response(http::status status, std::string_view message, std::string_view detail_json,
                        unsigned version) {
  std::string body = "{\"error\":" + json_quote(message);
  if (detail_json != "null")
    body += ",\"detail\":" + std::string(detail_json);
  body += "}";
  return json_response(status, std::move(body), version);
}

struct server::impl {
  impl(server_options o, handler h, server_stats& s)
      : opts(std::move(o)), on_request(std::move(h)), stats(s) {}

  server_options opts;
  handler on_request;
  server_stats& stats;
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<local::acceptor>> local_acceptors;
  std::vector<std::string> unix_paths;
  std::shared_ptr<lifeline> life = std::make_shared<lifeline>();
  std::thread thread;
  bool started = false;
  bool stopped = false;

  void count(refusal r) {
    stats.refused[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }

  template <class Acceptor> awaitable<void> accept_loop(Acceptor& acceptor, bool is_local) {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        co_return;
      if (ec) {
        // EMFILE and the like: the connection waits in the backlog; try again shortly.
        SLUICE_WARN_LIMITED("api: accept failed: {}", ec.message());
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      stats.connections.fetch_add(1, std::memory_order_relaxed);
      bool trusted = is_local;
      if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) {
        boost::system::error_code pe;
        auto peer = socket.remote_endpoint(pe);
        trusted = !pe && peer.address().is_loopback();
      }
      using stream_t = beast::basic_stream<typename Acceptor::protocol_type>;
      if (stats.open_connections.load() >= opts.max_connections) {
        count(refusal::max_connections);
        SLUICE_WARN_LIMITED("api: {} connections held (max_connections): refusing one more",
                            opts.max_connections);
        asio::co_spawn(io, refuse(stream_t(std::move(socket))), asio::detached);
        continue;
      }
      asio::co_spawn(io, serve(stream_t(std::move(socket)), trusted), asio::detached);
    }
  }

  template <class Stream> awaitable<void> refuse(Stream stream) {
    auto r = error_response(http::status::service_unavailable,
                            "too many connections: the API holds max_connections already");
    r.keep_alive(false);
    stream.expires_after(std::chrono::seconds(2));
    boost::system::error_code ec;
    co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
    stream.socket().shutdown(asio::socket_base::shutdown_both, ec);
  }

  template <class Stream> awaitable<void> serve(Stream stream, bool trusted) {
    stats.open_connections.fetch_add(1, std::memory_order_relaxed);
    struct release {
      std::atomic<std::uint64_t>& n;
      ~release() { n.fetch_sub(1, std::memory_order_relaxed); }
    } held{stats.open_connections};
    beast::flat_buffer buffer;
    request_budget budget(opts.request_rate);
    boost::system::error_code ec;
    for (;;) {
      // Idle until the first byte of a request; then the whole request within request_timeout.
      if (buffer.size() == 0) {
        stream.expires_after(opts.idle_timeout);
        auto n = co_await stream.async_read_some(buffer.prepare(4096),
                                                 asio::redirect_error(use_awaitable, ec));
        if (ec)
          co_return; // idle timeout, the peer closed, or the server stopped
        buffer.commit(n);
      }
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(
          opts.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
      parser.body_limit(opts.max_body_bytes);
      // The stream's own timeout would close the socket, leaving no way to say 408: a timer of
      // ours cancels the read instead. `watch` outlives this frame for a handler still queued.
      auto watch = std::make_shared<read_watch>();
      asio::steady_timer deadline(stream.get_executor(), opts.request_timeout);
      deadline.async_wait([watch, sock = &stream.socket()](boost::system::error_code e) {
        if (e || watch->done)
          return;
        watch->expired = true;
        boost::system::error_code ignored;
        sock->cancel(ignored);
      });
      stream.expires_never();
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      watch->done = true;
      deadline.cancel();
      if (ec && watch->expired)
        ec = beast::error::timeout;
      if (ec) {
        std::optional<response> r;
        if (ec == http::error::header_limit) {
          count(refusal::header_too_large);
          r = error_response(http::status::request_header_fields_too_large,
                             "request header too large",
                             fmt::format("{{\"max_header_bytes\":{}}}", opts.max_header_bytes));
        } else if (ec == http::error::body_limit) {
          count(refusal::body_too_large);
          r = error_response(http::status::payload_too_large, "request body too large",
                             fmt::format("{{\"max_body_bytes\":{}}}", opts.max_body_bytes));
        } else if (ec == beast::error::timeout) {
          count(refusal::timeout);
          SLUICE_WARN_LIMITED("api: a request did not arrive whole within request_timeout; "
                              "closing its connection");
          r = error_response(http::status::request_timeout,
                             "the request did not arrive whole in time");
        } else if (ec != http::error::end_of_stream && ec != asio::error::eof &&
                   ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
          count(refusal::bad_request);
          r = error_response(http::status::bad_request, "malformed HTTP request",
                             json_quote(ec.message()));
        }
        if (r) {
          r->keep_alive(false);
          stream.expires_after(std::chrono::seconds(2));
          co_await http::async_write(stream, *r, asio::redirect_error(use_awaitable, ec));
        }
        stream.socket().shutdown(asio::socket_base::shutdown_both, ec);
        co_return;
      }
      exchange ex{parser.release(), trusted};
      response r;
      if (!budget.take()) {
        count(refusal::rate_limited);
        SLUICE_WARN_LIMITED("api: a connection passed request_rate ({}/s); answering 429",
                            opts.request_rate);
        r = error_response(http::status::too_many_requests, "too many requests on this connection",
                           fmt::format("{{\"request_rate\":{}}}", opts.request_rate),
                           ex.req.version());
        r.set(http::field::retry_after, "1");
      } else {
        stats.requests.fetch_add(1, std::memory_order_relaxed);
        r = co_await handle(ex);
      }
      r.version(ex.req.version());
      r.keep_alive(ex.req.keep_alive());
      stream.expires_after(opts.request_timeout);
      if (ex.req.method() == http::verb::head) {
        // The header (with the length the body would have), without the body.
        http::response_serializer<http::string_body> header_only{r};
        co_await http::async_write_header(stream, header_only,
                                          asio::redirect_error(use_awaitable, ec));
      } else {
        co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
      }
      if (ec || !r.keep_alive()) {
        stream.socket().shutdown(asio::socket_base::shutdown_both, ec);
        co_return;
      }
    }
  }

  awaitable<response> handle(exchange& ex) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, asio::steady_timer::time_point::max());
    auto slot = std::make_shared<reply_slot>();
    slot->timer = &timer;
    auto life_now = life;
    on_request(ex, [slot, life_now, executor](response r) {
      std::lock_guard lock(life_now->m);
      if (!life_now->alive)
        return;
      // Runs on the server's thread while the connection waits on the timer, so it lives.
      asio::post(executor, [slot, r = std::move(r)]() mutable {
        slot->resp = std::move(r);
        slot->timer->cancel();
      });
    });
    boost::system::error_code ec;
    while (!slot->resp)
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    co_return std::move(*slot->resp);
  }
};

server::server(server_options opts, handler h)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(h), stats_)) {}

server::~server() {
  stop();
}

result<std::vector<std::string>> server::start(std::string& error) {
  auto& m = *impl_;
  std::vector<std::string> bound;
  boost::system::error_code ec;
  for (const auto& address : m.opts.listen) {
    if (address.starts_with("unix:")) {
      std::string path = address.substr(5);
      auto a = std::make_unique<local::acceptor>(m.io);
      if (ec = io::listen_on(*a, path); ec) {
        error = ec == asio::error::address_in_use
                    ? fmt::format("api.listen {}: another process serves that socket", address)
                    : fmt::format("api.listen {}: cannot listen: {}", address, ec.message());
        return fail(ec);
      }
      m.unix_paths.push_back(path);
      m.local_acceptors.push_back(std::move(a));
      bound.push_back(address);
      continue;
    }
    auto hp = parse_host_port(address);
    if (!hp) {
      error = fmt::format("api.listen {}: expected HOST:PORT or unix:PATH", address);
      return fail(std::make_error_code(std::errc::invalid_argument));
    }
    auto host = hp->host == "localhost" ? std::string("127.0.0.1") : hp->host;
    auto ip = asio::ip::make_address(host, ec);
    if (ec) {
      error = fmt::format("api.listen {}: {} is not an IP address", address, hp->host);
      return fail(ec);
    }
    auto a = std::make_unique<tcp::acceptor>(m.io);
    if (ec = io::listen_on(*a, tcp::endpoint(ip, hp->port)); ec) {
      error = fmt::format("api.listen {}: cannot listen: {}", address, ec.message());
      return fail(ec);
    }
    bound.push_back(io::endpoint_text(a->local_endpoint()));
    m.tcp_acceptors.push_back(std::move(a));
  }
  for (auto& a : m.tcp_acceptors)
    asio::co_spawn(m.io, m.accept_loop(*a, false), asio::detached);
  for (auto& a : m.local_acceptors)
    asio::co_spawn(m.io, m.accept_loop(*a, true), asio::detached);
  m.started = true;
  m.thread = std::thread([&m] { m.io.run(); });
  return bound;
}

void server::stop() {
  auto& m = *impl_;
  if (m.stopped)
    return;
  m.stopped = true;
  {
    std::lock_guard lock(m.life->m);
    m.life->alive = false;
  }
  m.io.stop();
  if (m.thread.joinable())
    m.thread.join();
  boost::system::error_code ec;
  for (auto& a : m.tcp_acceptors)
    a->close(ec);
  for (auto& a : m.local_acceptors)
    a->close(ec);
  for (const auto& p : m.unix_paths)
    std::filesystem::remove(p, ec);
}

} // namespace sluice::api
