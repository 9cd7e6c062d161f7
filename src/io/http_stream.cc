#include "io/http_stream.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <memory>

#include "base/clock.h"
#include "io/chunked.h"

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

std::string base64(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto v = (static_cast<unsigned char>(in[i]) << 16) |
             (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    auto v = static_cast<unsigned char>(in[i]) << 16;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    auto v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

} // namespace

result<url_parts> parse_url(std::string_view url) {
  url_parts u;
  if (url.starts_with("https://"))
    return fail(errc::unsupported_scheme);
  if (!url.starts_with("http://"))
    return fail(errc::bad_url);
  url.remove_prefix(7);
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
  out += "Host: " + url.host + (url.port == 80 ? "" : ":" + std::to_string(url.port)) + "\r\n";
  out += "User-Agent: " + req.user_agent + "\r\n";
  out += "Accept: */*\r\n";
  if (req.bearer)
    out += "Authorization: Bearer " + *req.bearer + "\r\n";
  else if (req.basic_auth)
    out += "Authorization: Basic " + base64(req.basic_auth->first + ":" + req.basic_auth->second) +
           "\r\n";
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
  if (auto cl = r.header("content-length")) {
    std::uint64_t n = 0;
    auto [q, e] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (e != std::errc())
      return fail(errc::protocol);
    r.content_length = n;
  }
  return r;
}

asio::awaitable<result<void>> stream_once(const stream_request& req,
                                          std::chrono::nanoseconds stall_timeout,
                                          response_head& head,
                                          std::function<void(std::string_view)> on_data) {
  auto url = parse_url(req.url);
  if (!url)
    co_return fail(url.error());
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(url->host, std::to_string(url->port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return fail(std::error_code(ec.value(), std::system_category()));
  auto socket = std::make_shared<tcp::socket>(ex);
  // A watchdog closes the socket when no byte arrived for stall_timeout.
  auto last_byte = std::make_shared<std::int64_t>(now_mono_ns());
  auto stalled = std::make_shared<bool>(false);
  auto done = std::make_shared<bool>(false);
  auto timer = std::make_shared<asio::steady_timer>(ex);
  asio::co_spawn(
      ex,
      [=]() -> asio::awaitable<void> {
        auto slice =
            std::max<std::chrono::nanoseconds>(stall_timeout / 4, std::chrono::milliseconds(10));
        while (!*done) {
          timer->expires_after(slice);
          boost::system::error_code tec;
          co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, tec));
          if (*done)
            break;
          if (now_mono_ns() - *last_byte > stall_timeout.count()) {
            *stalled = true;
            boost::system::error_code ignored;
            socket->close(ignored);
            break;
          }
        }
      },
      asio::detached);
  struct finish {
    std::shared_ptr<bool> done;
    std::shared_ptr<asio::steady_timer> timer;
    ~finish() {
      *done = true;
      timer->cancel();
    }
  } guard{done, timer};
  auto net_error = [&](const boost::system::error_code& e) -> result<void> {
    if (*stalled)
      return fail(errc::stalled);
    if (e == asio::error::eof)
      return fail(errc::ended);
    return fail(std::error_code(e.value(), std::system_category()));
  };

  co_await asio::async_connect(*socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return net_error(ec);
  *last_byte = now_mono_ns();
  auto request = build_request(*url, req);
  co_await asio::async_write(*socket, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return net_error(ec);

  std::string buf;
  std::size_t head_end = std::string::npos;
  std::array<char, 64 * 1024> chunk{};
  while (head_end == std::string::npos) {
    auto n = co_await socket->async_read_some(asio::buffer(chunk),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return net_error(ec);
    *last_byte = now_mono_ns();
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

  chunked_decoder decoder;
  std::uint64_t body_left = head.content_length.value_or(~0ull);
  auto deliver = [&](std::string_view bytes) -> bool {
    if (head.chunked)
      return decoder.feed(bytes, on_data);
    bytes =
        bytes.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), body_left)));
    body_left -= bytes.size();
    if (!bytes.empty())
      on_data(bytes);
    return true;
  };
  if (!deliver(std::string_view(buf).substr(head_end + 4)))
    co_return fail(errc::protocol);
  buf.clear();
  buf.shrink_to_fit();
  for (;;) {
    if (decoder.done() || body_left == 0)
      co_return fail(errc::ended);
    auto n = co_await socket->async_read_some(asio::buffer(chunk),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return net_error(ec);
    *last_byte = now_mono_ns();
    if (!deliver(std::string_view(chunk.data(), n)))
      co_return fail(errc::protocol);
  }
}

} // namespace sluice::io
