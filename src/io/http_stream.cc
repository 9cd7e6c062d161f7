#include "io/http_stream.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <memory>

#include "base/clock.h"
#include "base/log.h"
#include "io/base64.h"
#include "io/chunked.h"
#include "io/gzip.h"
#include "io/tls.h"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames whose promise type has its
// own operator new/delete (Asio's awaitable_frame_base); the frame is allocated and freed by the
// same pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::io {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

result<url_parts> parse_url(std::string_view url) {
  url_parts u;
  if (url.starts_with("https://")) {
    u.tls = true;
    u.port = 443;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    auto scheme = url.find("://");
    return fail(scheme != std::string_view::npos && scheme > 0 ? errc::unsupported_scheme
                                                               : errc::bad_url);
  }
  auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    u.target = std::string(url.substr(slash));
    if (u.target.front() == '?')
      u.target.insert(0, "/");
  }
  if (authority.empty())
    return fail(errc::bad_url);
  std::string_view host = authority;
  if (authority.front() == '[') { // [::1]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail(errc::bad_url);
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':')
      return fail(errc::bad_url);
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (host.empty())
    return fail(errc::bad_url);
  u.host = std::string(host);
  if (!authority.empty()) {
    authority.remove_prefix(1);
    unsigned port = 0;
    auto [p, ec] = std::from_chars(authority.data(), authority.data() + authority.size(), port);
    if (ec != std::errc() || p != authority.data() + authority.size() || port == 0 || port > 65535)
      return fail(errc::bad_url);
    u.port = static_cast<std::uint16_t>(port);
  }
  return u;
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string default_user_agent() {
#ifdef SLUICE_VERSION
  return "sluice/" SLUICE_VERSION;
#else
  return "sluice";
#endif
}

std::string build_request(const url_parts& url, const stream_request& req) {
  std::string params;
  for (const auto& [name, values] : req.params) {
    if (!params.empty())
      params += '&';
    std::string joined;
    for (const auto& v : values) {
      if (!joined.empty())
        joined += ',';
      joined += v;
    }
    params += url_encode(name) + '=' + url_encode(joined);
  }
  std::string target = url.target;
  if (!req.post && !params.empty())
    target += (target.find('?') == std::string::npos ? '?' : '&') + params;
  std::string out = (req.post ? "POST " : "GET ") + target + " HTTP/1.1\r\n";
  bool default_port = url.port == (url.tls ? 443 : 80);
  bool v6 = url.host.find(':') != std::string::npos;
  out += "Host: " + (v6 ? "[" + url.host + "]" : url.host) +
         (default_port ? "" : ":" + std::to_string(url.port)) + "\r\n";
  auto has_header = [&](std::string_view name) {
    return std::any_of(req.headers.begin(), req.headers.end(),
                       [&](const auto& h) { return lower(h.first) == name; });
  };
  if (!has_header("user-agent"))
    out +=
        "User-Agent: " + (req.user_agent.empty() ? default_user_agent() : req.user_agent) + "\r\n";
  out += "Accept: */*\r\n";
  if (req.gzip && !has_header("accept-encoding"))
    out += "Accept-Encoding: gzip\r\n";
  if (req.bearer)
    out += "Authorization: Bearer " + *req.bearer + "\r\n";
  else if (req.basic_auth)
    out += "Authorization: Basic " +
           base64_encode(req.basic_auth->first + ":" + req.basic_auth->second) + "\r\n";
  for (const auto& [k, v] : req.headers)
    out += k + ": " + v + "\r\n";
  if (req.post) {
    out += "Content-Type: application/x-www-form-urlencoded\r\n";
    out += "Content-Length: " + std::to_string(params.size()) + "\r\n\r\n" + params;
  } else {
    out += "\r\n";
  }
  return out;
}

std::optional<std::string> response_head::header(std::string_view name) const {
  auto n = lower(name);
  for (const auto& [k, v] : headers)
    if (k == n)
      return v;
  return std::nullopt;
}

result<response_head> parse_response_head(std::string_view head) {
  response_head r;
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12)
    return fail(errc::protocol);
  auto code = status_line.substr(9, 3);
  auto [p, ec] = std::from_chars(code.data(), code.data() + 3, r.status);
  if (ec != std::errc() || p != code.data() + 3)
    return fail(errc::protocol);
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    if (line.empty())
      break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail(errc::protocol);
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
      value.remove_suffix(1);
    r.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  }
  if (auto te = r.header("transfer-encoding"))
    r.chunked = lower(*te).find("chunked") != std::string::npos;
  if (auto ce = r.header("content-encoding"))
    r.gzip = lower(*ce) == "gzip" || lower(*ce) == "x-gzip";
  if (auto ra = r.header("retry-after")) {
    std::uint32_t secs = 0;
    auto [q, e] = std::from_chars(ra->data(), ra->data() + ra->size(), secs);
    if (e == std::errc() && q == ra->data() + ra->size())
      r.retry_after = std::chrono::seconds(secs);
  }
  if (auto cl = r.header("content-length")) {
    std::uint64_t n = 0;
    auto [q, e] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (e != std::errc())
      return fail(errc::protocol);
    r.content_length = n;
  }
  return r;
}

namespace {

// One socket read of a stream body: a few firehose chunks, handed on as one batch.
constexpr std::size_t k_read_bytes = 256 * 1024;

namespace ssl = asio::ssl;

// What the stall watchdog and the reading side share.
struct watch {
  std::int64_t last_byte = now_mono_ns();
  bool stalled = false;
  bool done = false;
  const stream_stop* stop = nullptr;
};

// The error a failed read or write stands for.
result<void> read_error(const boost::system::error_code& e, const watch& w, bool tls,
                        const url_parts& url, response_head& head) {
  if (w.stalled)
    return fail(errc::stalled);
  if (w.stop != nullptr && w.stop->closed())
    return fail(errc::closed);
  // A TLS peer that closes without close_notify ended the stream as a plain one does with EOF.
  if (e == asio::error::eof || e == ssl::error::stream_truncated)
    return fail(errc::ended);
  if (tls && e.category() == asio::error::get_ssl_category()) {
    head.failure = "TLS with " + url.host + ": " + e.message();
    return fail(errc::tls);
  }
  return fail(std::error_code(e.value(), std::system_category()));
}

// Sends the request on `s` (a TCP socket or a TLS stream over one), reads the head and streams
// the body through the chunked and gzip decoders to on_data.
template <class Stream>
asio::awaitable<result<void>> exchange(Stream& s, const url_parts& url, const stream_request& req,
                                       watch& w, response_head& head,
                                       const std::function<void(std::string_view)>& on_data,
                                       const std::function<void()>& on_read_end) {
  boost::system::error_code ec;
  auto request = build_request(url, req);
  co_await asio::async_write(s, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return read_error(ec, w, url.tls, url, head);

  std::string buf;
  std::size_t head_end = std::string::npos;
  std::vector<char> chunk(k_read_bytes);
  while (head_end == std::string::npos) {
    auto n = co_await s.async_read_some(asio::buffer(chunk),
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return read_error(ec, w, url.tls, url, head);
    w.last_byte = now_mono_ns();
    buf.append(chunk.data(), n);
    head_end = buf.find("\r\n\r\n");
    if (head_end == std::string::npos && buf.size() > 64 * 1024)
      co_return fail(errc::protocol);
  }
  auto parsed = parse_response_head(std::string_view(buf).substr(0, head_end + 2));
  if (!parsed)
    co_return fail(parsed.error());
  head = std::move(*parsed);
  if (head.status != 200)
    co_return fail(errc::http_status);

  std::optional<gzip_decoder> inflater;
  if (head.gzip)
    inflater.emplace();
  bool gzip_failed = false;
  // A close from inside on_data ends the stream there: nothing more of the chunk is handed on.
  auto closed = [&] { return w.stop != nullptr && w.stop->closed(); };
  auto until_closed = [&](std::string_view bytes) {
    if (!closed())
      on_data(bytes);
  };
  auto decoded = [&](std::string_view bytes) {
    if (!inflater) {
      until_closed(bytes);
    } else if (!gzip_failed && !inflater->feed(bytes, until_closed)) {
      gzip_failed = true;
      head.failure = inflater->error();
    }
  };
  chunked_decoder decoder;
  std::uint64_t body_left = head.content_length.value_or(~0ull);
  auto deliver = [&](std::string_view bytes) -> result<void> {
    if (head.chunked) {
      if (!decoder.feed(bytes, decoded))
        return fail(errc::protocol);
    } else {
      bytes = bytes.substr(
          0, static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), body_left)));
      body_left -= bytes.size();
      if (!bytes.empty())
        decoded(bytes);
    }
    if (gzip_failed)
      return fail(errc::gzip);
    if (closed())
      return fail(errc::closed);
    return {};
  };
  auto delivered = [&](std::string_view bytes) -> result<void> {
    auto r = deliver(bytes);
    if (r && on_read_end && !closed())
      on_read_end();
    return r;
  };
  if (auto r = delivered(std::string_view(buf).substr(head_end + 4)); !r)
    co_return r;
  buf.clear();
  buf.shrink_to_fit();
  for (;;) {
    if (decoder.done() || body_left == 0)
      co_return fail(errc::ended);
    auto n = co_await s.async_read_some(asio::buffer(chunk),
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return read_error(ec, w, url.tls, url, head);
    w.last_byte = now_mono_ns();
    if (auto r = delivered(std::string_view(chunk.data(), n)); !r)
      co_return r;
  }
}

} // namespace

void stream_stop::close() {
  closed_ = true;
  if (closer_)
    closer_();
}

asio::awaitable<result<void>>
stream_once(const stream_request& req, std::chrono::nanoseconds stall_timeout, response_head& head,
            std::function<void(std::string_view)> on_data, std::shared_ptr<stream_stop> stop,
            std::function<void()> on_read_end) {
  head = response_head{};
  if (stop && stop->closed())
    co_return fail(errc::closed);
  auto url = parse_url(req.url);
  if (!url)
    co_return fail(url.error());
  std::shared_ptr<ssl::context> tls_ctx;
  if (url->tls) {
    tls_client_options o{req.ca_file, req.client_cert, req.client_key, req.insecure};
    auto ctx = make_client_context(o, head.failure);
    if (!ctx)
      co_return fail(ctx.error());
    tls_ctx = std::move(*ctx);
  }
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(url->host, std::to_string(url->port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (stop && stop->closed())
    co_return fail(errc::closed);
  if (ec)
    co_return fail(std::error_code(ec.value(), std::system_category()));
  auto socket = std::make_shared<tcp::socket>(ex);
  if (stop)
    stop->set_closer([socket] {
      boost::system::error_code ignored;
      socket->close(ignored);
    });
  // A watchdog closes the socket when no byte arrived for stall_timeout.
  auto w = std::make_shared<watch>();
  w->stop = stop.get();
  auto timer = std::make_shared<asio::steady_timer>(ex);
  asio::co_spawn(
      ex,
      [=]() -> asio::awaitable<void> {
        auto slice =
            std::max<std::chrono::nanoseconds>(stall_timeout / 4, std::chrono::milliseconds(10));
        while (!w->done) {
          timer->expires_after(slice);
          boost::system::error_code tec;
          co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, tec));
          if (w->done)
            break;
          if (now_mono_ns() - w->last_byte > stall_timeout.count()) {
            w->stalled = true;
            boost::system::error_code ignored;
            socket->close(ignored);
            break;
          }
        }
      },
      asio::detached);
  struct finish {
    std::shared_ptr<watch> w;
    std::shared_ptr<asio::steady_timer> timer;
    std::shared_ptr<stream_stop> stop;
    ~finish() {
      w->done = true;
      timer->cancel();
      if (stop)
        stop->set_closer(nullptr);
    }
  } guard{w, timer, stop};

  co_await asio::async_connect(*socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return read_error(ec, *w, false, *url, head);
  w->last_byte = now_mono_ns();
  if (!url->tls)
    co_return co_await exchange(*socket, *url, req, *w, head, on_data, on_read_end);

  if (req.insecure)
    SLUICE_WARN_LIMITED("http: connecting to {} with TLS verification off (insecure = true): "
                        "anyone on the path can read and alter the stream",
                        url->host);
  ssl::stream<tcp::socket&> tls(*socket, *tls_ctx);
  if (!prepare_client_ssl(tls.native_handle(), url->host, !req.insecure, head.failure))
    co_return fail(errc::tls_config);
  co_await tls.async_handshake(ssl::stream_base::client,
                               asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (w->stalled)
      co_return fail(errc::stalled);
    if (stop && stop->closed())
      co_return fail(errc::closed);
    if (ec.category() != asio::error::get_ssl_category() && ec != asio::error::eof)
      co_return fail(std::error_code(ec.value(), std::system_category()));
    head.failure = describe_handshake_error(ec, tls.native_handle(), url->host);
    co_return fail(errc::tls);
  }
  w->last_byte = now_mono_ns();
  co_return co_await exchange(tls, *url, req, *w, head, on_data, on_read_end);
}

} // namespace sluice::io
