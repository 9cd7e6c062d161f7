#include "cli/api_client.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/host_port.h"
#include "io/asio.h"

// As io/asio.h does for Asio: GCC 12's false -Wnull-dereference inside Asio's scheduler, which
// Beast's headers instantiate too.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#pragma GCC diagnostic pop

namespace sluice::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using generic_stream = beast::basic_stream<asio::generic::stream_protocol>;
using clock = std::chrono::steady_clock;

constexpr std::uint64_t k_body_limit = 64ull << 20;

// "Connection refused" -> "connection refused": the message goes inside a sentence.
std::string plain(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out)
    return "no answer in time";
  if (ec == http::error::end_of_stream || ec == asio::error::eof)
    return "the connection was closed before a reply";
  std::string m = ec.message();
  if (!m.empty())
    m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

std::error_code to_std(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout)
    return std::make_error_code(std::errc::timed_out);
  return ec; // boost::system::error_code converts to std::error_code
}

// Starts one asynchronous operation with `start(handler)` and runs `ioc` until it completed; its
// error. The stream's own deadline (basic_stream::expires_at) bounds the wait.
template <class Start> boost::system::error_code run_op(asio::io_context& ioc, Start start) {
  boost::system::error_code result = asio::error::would_block;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// The endpoints to try for `e`, in order. Waits for name resolution up to `deadline`.
result<std::vector<asio::generic::stream_protocol::endpoint>>
endpoints_of(asio::io_context& ioc, const api_endpoint& e, clock::time_point deadline,
             std::string& error) {
  std::vector<asio::generic::stream_protocol::endpoint> out;
  if (!e.socket_path.empty()) {
    out.emplace_back(asio::local::stream_protocol::endpoint(e.socket_path));
    return out;
  }
  asio::ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec = asio::error::would_block;
  resolver.async_resolve(
      e.host, std::to_string(e.port),
      [&](boost::system::error_code r, asio::ip::tcp::resolver::results_type rs) {
        ec = r;
        for (const auto& entry : rs)
          out.emplace_back(entry.endpoint());
      });
  ioc.restart();
  ioc.run_until(deadline);
  if (ec == asio::error::would_block) {
    resolver.cancel();
    ioc.restart();
    ioc.run();
    error = fmt::format("cannot resolve {}: no answer in time", e.host);
    return fail(std::make_error_code(std::errc::timed_out));
  }
  if (ec) {
    error = fmt::format("cannot resolve {}: {}", e.host, plain(ec));
    return fail(to_std(ec));
  }
  return out;
}

} // namespace

std::optional<api_endpoint> parse_api_url(std::string_view url, std::string& error) {
  api_endpoint e;
  e.url = std::string(url);
  if (url.starts_with("unix:")) {
    auto path = url.substr(5);
    if (path.starts_with("//")) // unix:///run/sluice.sock
      path.remove_prefix(2);
    if (path.empty()) {
      error = fmt::format("'{}' names no socket (unix:/path/to/socket)", url);
      return std::nullopt;
    }
    e.socket_path = std::string(path);
    return e;
  }
  if (!url.starts_with("http://")) {
    error = fmt::format("'{}' is not an http:// or unix: URL (https is not supported)", url);
    return std::nullopt;
  }
  auto rest = url.substr(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      error = fmt::format("'{}': the API has no path prefix; give http://HOST:PORT", url);
      return std::nullopt;
    }
    rest = rest.substr(0, slash);
  }
  bool has_port = rest.rfind(':') != std::string_view::npos &&
                  (rest.front() != '[' || rest.rfind(':') > rest.rfind(']'));
  std::string with_port = has_port ? std::string(rest) : std::string(rest) + ":80";
  auto hp = parse_host_port(with_port);
  if (!hp || hp->port == 0) {
    error = fmt::format("'{}' is not a valid http://HOST:PORT", url);
    return std::nullopt;
  }
  e.host = hp->host;
  e.port = hp->port;
  return e;
}

std::string default_token_file() {
  if (const char* env = std::getenv("SLUICE_TOKEN_FILE"); env != nullptr && *env != '\0')
    return env;
  std::error_code ec;
  if (std::filesystem::exists("sluice-data/api.token", ec))
    return "sluice-data/api.token";
  return "";
}

result<std::string> read_token_file(const std::string& path, std::string& error) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) {
    int e = errno;
    error = fmt::format("cannot read the token file {}: {}", path, std::strerror(e));
    return fail_errno(e);
  }
  std::string token;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;)
    token.append(buf, n);
  if (std::ferror(f.get()) != 0) {
    error = fmt::format("cannot read the token file {}", path);
    return fail(std::make_error_code(std::errc::io_error));
  }
  token.erase(token.find_last_not_of(" \t\r\n\f\v") + 1);
  if (token.empty()) {
    error = fmt::format("the token file {} is empty", path);
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  return token;
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~')
      out += c;
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

api_client::api_client(api_endpoint endpoint, std::string token, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), token_(std::move(token)), timeout_(timeout) {}

api_client api_client::with_timeout(std::chrono::milliseconds timeout) const {
  return api_client(endpoint_, token_, timeout);
}

result<api_reply> api_client::send(std::string_view method, std::string_view target,
                                   std::string_view body, std::string& error) const {
  // Asio throws for what the user can cause too (a Unix socket path longer than sun_path).
  try {
    return send_once(method, target, body, error);
  } catch (const std::exception& e) {
    error = e.what();
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
}

result<api_reply> api_client::send_once(std::string_view method, std::string_view target,
                                        std::string_view body, std::string& error) const {
  auto deadline = clock::now() + timeout_;
  asio::io_context ioc;
  auto endpoints = endpoints_of(ioc, endpoint_, deadline, error);
  if (!endpoints)
    return fail(endpoints.error());

  generic_stream stream(ioc);
  boost::system::error_code ec = asio::error::host_not_found;
  for (const auto& ep : *endpoints) {
    stream.expires_at(deadline);
    ec = run_op(ioc, [&](auto handler) { stream.async_connect(ep, std::move(handler)); });
    if (!ec)
      break;
    stream.close();
  }
  if (ec) {
    error = plain(ec);
    return fail(to_std(ec));
  }

  http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
  req.set(http::field::host, endpoint_.socket_path.empty()
                                 ? fmt::format("{}:{}", endpoint_.host, endpoint_.port)
                                 : std::string("localhost"));
  req.set(http::field::user_agent, "sluice-ctl/" SLUICE_VERSION);
  req.set(http::field::accept, "application/json");
  if (!token_.empty())
    req.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.keep_alive(false);
  req.prepare_payload();

  stream.expires_at(deadline);
  ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
  if (ec) {
    error = fmt::format("sending the request failed: {}", plain(ec));
    return fail(to_std(ec));
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(k_body_limit);
  stream.expires_at(deadline);
  ec = run_op(ioc,
              [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec) {
    error = plain(ec);
    return fail(to_std(ec));
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  api_reply reply;
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  return reply;
}

} // namespace sluice::cli
