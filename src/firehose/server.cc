#include "firehose/server.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <list>
#include <mutex>
#include <openssl/ssl.h>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "firehose/http_request.h"
#include "io/asio.h"
#include "io/base64.h"
#include "io/errc.h"
#include "io/gzip.h"
#include "io/listen.h"
#include "io/tls.h"

namespace sluice::firehose {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using stream_socket = asio::generic::stream_protocol::socket;
using tls_stream = asio::ssl::stream<stream_socket>;
using clock = std::chrono::steady_clock;

constexpr std::string_view k_stream_path = "/1.1/statuses/filter.json";
constexpr std::size_t k_max_head = 64 * 1024;
constexpr std::size_t k_max_body = 64 * 1024;
constexpr std::size_t k_batch_bytes = 64 * 1024; // one write (one chunk) at most, roughly
constexpr std::uint64_t k_batch_events = 4096;
constexpr std::uint64_t k_scan_slice = 1u << 16;        // raw tweets a filter may skip per step
constexpr std::chrono::milliseconds k_starved_wait{20}; // a filter found nothing in a slice
constexpr std::size_t k_chunk_room = 10;                // in front of a batch: its chunk size line

auto on_error(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

std::string_view reason_phrase(unsigned status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 413:
    return "Payload Too Large";
  case 416:
    return "Range Unacceptable";
  case 420:
    return "Enhance Your Calm";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Error";
  }
}

// Moves an accepted socket of any protocol into the one socket type the sessions use.
template <class Socket> stream_socket to_generic(Socket s, int family, int protocol) {
  auto exec = s.get_executor();
  return stream_socket(exec, asio::generic::stream_protocol(family, protocol), s.release());
}

// Half-closes a connection after its last bytes. TLS: without close_notify, whose exchange could
// wait on the client; a client that read the whole response does not need it.
void shutdown_send(stream_socket& s) {
  error_code ec;
  s.shutdown(asio::socket_base::shutdown_send, ec);
}
void shutdown_send(tls_stream& s) {
  error_code ec;
  s.lowest_layer().shutdown(asio::socket_base::shutdown_send, ec);
}

// "track=a,b count=-5": the decoded parameters, for the request log.
std::string describe(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty())
      out += ' ';
    out += k + '=' + v;
  }
  return out.empty() ? "(no parameters)" : out;
}

// Makes `ctx` ask every client for a certificate and fail the handshake unless one comes that
// verifies against the PEM CA certificates in `ca_file`.
result<void> require_client_cert(asio::ssl::context& ctx, const std::string& ca_file,
                                 std::string& why) {
  error_code ec;
  ctx.load_verify_file(ca_file, ec);
  if (ec) {
    why = "client CA " + ca_file + ": " + ec.message();
    return fail(io::errc::tls_config);
  }
  ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  // The CertificateRequest names the trusted CAs, so a client holding several certificates can
  // choose the right one.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str()))
    SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
  // With peer verification on, OpenSSL refuses to resume a session (a client reconnecting with a
  // ticket) unless the context has a session id context.
  static constexpr unsigned char k_session_context[] = "sluice-firehose";
  SSL_CTX_set_session_id_context(ctx.native_handle(), k_session_context,
                                 sizeof k_session_context - 1);
  return {};
}

// "127.0.0.1:40312", "[::1]:40312": a client, for the log.
std::string peer_name(const tcp::endpoint& ep) {
  auto addr = ep.address();
  if (addr.is_v6())
    return fmt::format("[{}]:{}", addr.to_string(), ep.port());
  return fmt::format("{}:{}", addr.to_string(), ep.port());
}

result<asio::ip::address> parse_host(const std::string& host) {
  error_code ec;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec)
    return fail(std::make_error_code(std::errc::invalid_argument));
  return addr;
}

} // namespace

struct server::impl {
  explicit impl(server_options o) : opts(std::move(o)) {}

  // What connections share: the resume point, the status countdown, counters.
  struct shared_state {
    std::uint64_t stream_requests = 0;
    server_stats stats;
    std::string cache_key; // the filter of cache_pos
    std::optional<stream_position> cache_pos;
  };

  result<std::uint16_t> listen_ip(const std::string& host, std::uint16_t port, bool http);
  awaitable<void> accept_ip(tcp::acceptor& a, bool http);
  awaitable<void> accept_unix(asio::local::stream_protocol::acceptor& a);
  awaitable<void> serve_https(stream_socket sock, std::string peer);
  template <class Stream> awaitable<void> serve_http(Stream& sock);
  awaitable<void> serve_raw(stream_socket sock) {
    co_await stream_events(sock, false, nullptr, opts.raw_filter, 0);
  }
  template <class Stream>
  awaitable<void> stream_events(Stream& sock, bool chunked, io::gzip_encoder* gzip,
                                const stream_filter& filter, std::uint64_t backfill);
  template <class Stream> awaitable<void> respond_error(Stream& sock, unsigned status);
  bool authorized(const http_request& req) const;

  // The first rank of a new connection, and where its generator may start scanning from.
  std::uint64_t first_rank(generator& gen, const std::string& key, std::uint64_t backfill);
  void note_sent(const generator& gen, const std::string& key, std::uint64_t n);

  server_options opts;
  std::optional<asio::io_context> ctx{std::in_place};
  std::list<tcp::acceptor> http_acceptors;
  std::list<tcp::acceptor> tcp_acceptors;
  std::list<asio::local::stream_protocol::acceptor> unix_acceptors;
  std::vector<std::string> unix_paths;
  std::vector<std::thread> threads;
  std::shared_ptr<asio::ssl::context> tls; // set: the HTTP listeners speak HTTPS
  mutable std::mutex mu;
  shared_state shared; // guarded by mu
};

result<std::uint16_t> server::impl::listen_ip(const std::string& host, std::uint16_t port,
                                              bool http) {
  auto addr = parse_host(host);
  if (!addr)
    return fail(addr.error());
  if (http && !opts.tls_cert.empty() && !tls) {
    std::string why;
    auto made = io::make_server_context(opts.tls_cert, opts.tls_key, why);
    if (made && !opts.tls_client_ca.empty()) {
      if (auto required = require_client_cert(**made, opts.tls_client_ca, why); !required)
        made = fail(required.error());
    }
    if (!made) {
      spdlog::error("firehose: TLS: {}", why);
      return fail(made.error());
    }
    tls = std::move(*made);
  }
  tcp::acceptor a(*ctx);
  if (auto ec = io::listen_on(a, tcp::endpoint(*addr, port)); ec)
    return fail(std::error_code(ec.value(), std::system_category()));
  auto bound = a.local_endpoint().port();
  (http ? http_acceptors : tcp_acceptors).push_back(std::move(a));
  return bound;
}

awaitable<void> server::impl::accept_ip(tcp::acceptor& a, bool http) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await a.async_accept(on_error(ec));
    if (ec == asio::error::operation_aborted || !a.is_open())
      co_return;
    if (ec) {
      SLUICE_WARN_LIMITED("firehose: accept: {}", ec.message());
      asio::steady_timer pause(a.get_executor(), k_starved_wait); // EMFILE: do not spin
      co_await pause.async_wait(on_error(ec));
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    std::string peer = http && tls ? peer_name(s.remote_endpoint(ec)) : std::string();
    auto proto = s.local_endpoint(ec).protocol();
    auto g = to_generic(std::move(s), proto.family(), proto.protocol());
    {
      std::lock_guard lock(mu);
      ++shared.stats.connections;
    }
    if (http && tls) {
      asio::co_spawn(a.get_executor(), serve_https(std::move(g), std::move(peer)), asio::detached);
    } else if (http) {
      asio::co_spawn(
          a.get_executor(),
          [this, s = std::move(g)]() mutable -> awaitable<void> { co_await serve_http(s); },
          asio::detached);
    } else {
      asio::co_spawn(a.get_executor(), serve_raw(std::move(g)), asio::detached);
    }
  }
}

awaitable<void> server::impl::accept_unix(asio::local::stream_protocol::acceptor& a) {
  for (;;) {
    error_code ec;
    auto s = co_await a.async_accept(on_error(ec));
    if (ec == asio::error::operation_aborted || !a.is_open())
      co_return;
    if (ec) {
      SLUICE_WARN_LIMITED("firehose: accept: {}", ec.message());
      asio::steady_timer pause(a.get_executor(), k_starved_wait);
      co_await pause.async_wait(on_error(ec));
      continue;
    }
    {
      std::lock_guard lock(mu);
      ++shared.stats.connections;
    }
    asio::co_spawn(a.get_executor(), serve_raw(to_generic(std::move(s), AF_UNIX, 0)),
                   asio::detached);
  }
}

template <class Stream> awaitable<void> server::impl::respond_error(Stream& sock, unsigned status) {
  auto reason = reason_phrase(status);
  auto body = fmt::format(R"({{"errors":[{{"code":{},"message":"{}"}}]}})", status, reason);
  std::string extra;
  if (status == 401)
    extra += opts.require_bearer.empty() ? "WWW-Authenticate: Basic realm=\"firehose\"\r\n"
                                         : "WWW-Authenticate: Bearer\r\n";
  if (status == opts.status && opts.retry_after)
    extra += fmt::format("Retry-After: {}\r\n", *opts.retry_after);
  auto msg = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\n"
                         "Content-Length: {}\r\n{}Connection: close\r\n\r\n{}",
                         status, reason, body.size(), extra, body);
  error_code ec;
  co_await asio::async_write(sock, asio::buffer(msg), on_error(ec));
  shutdown_send(sock);
}

bool server::impl::authorized(const http_request& req) const {
  if (!opts.require_bearer.empty() && req.authorization != "Bearer " + opts.require_bearer)
    return false;
  if (opts.require_basic.empty())
    return true;
  constexpr std::string_view scheme = "Basic ";
  if (!req.authorization.starts_with(scheme))
    return false;
  auto credentials = io::base64_decode(std::string_view(req.authorization).substr(scheme.size()));
  return credentials && *credentials == opts.require_basic;
}

awaitable<void> server::impl::serve_https(stream_socket sock, std::string peer) {
  tls_stream s(std::move(sock), *tls);
  error_code ec;
  co_await s.async_handshake(asio::ssl::stream_base::server, on_error(ec));
  if (ec) {
    // A client that rejects the certificate, or (tls_client_ca) has none or an untrusted one,
    // ends here: expected in tests, so not a warning. E.g. "TLS handshake with 127.0.0.1:40312:
    // certificate verify failed: self-signed certificate". Returning closes the connection.
    spdlog::info("firehose: {}", io::describe_handshake_error(ec, s.native_handle(), peer));
    co_return;
  }
  co_await serve_http(s);
}

template <class Stream> awaitable<void> server::impl::serve_http(Stream& sock) {
  std::string in;
  error_code ec;
  std::size_t head_end = co_await asio::async_read_until(
      sock, asio::dynamic_buffer(in, k_max_head + k_max_body), "\r\n\r\n", on_error(ec));
  if (ec || head_end > k_max_head) {
    if (ec == asio::error::not_found || head_end > k_max_head)
      co_await respond_error(sock, 431);
    co_return;
  }
  auto req = parse_request_head(std::string_view(in).substr(0, head_end));
  if (!req) {
    spdlog::info("firehose: malformed request: 400");
    co_await respond_error(sock, 400);
    co_return;
  }
  std::vector<std::pair<std::string, std::string>> params;
  parse_form(req->query, params);
  auto early = [&](unsigned status) {
    spdlog::info("firehose: {} {} {} -> {}", req->method, req->path, describe(params), status);
    return respond_error(sock, status);
  };
  if (req->path != k_stream_path) {
    co_await early(404);
    co_return;
  }
  if (req->method != "GET" && req->method != "POST") {
    co_await early(405);
    co_return;
  }
  if (req->content_length > k_max_body) {
    co_await early(413);
    co_return;
  }
  if (req->content_length > 0) {
    std::size_t have = in.size() - head_end;
    if (have < req->content_length) {
      co_await asio::async_read(sock, asio::dynamic_buffer(in),
                                asio::transfer_exactly(req->content_length - have), on_error(ec));
      if (ec)
        co_return;
    }
    parse_form(std::string_view(in).substr(head_end, req->content_length), params);
  }
  if (!authorized(*req)) {
    co_await early(401);
    co_return;
  }
  auto sr = parse_stream_request(params);
  if (!sr) {
    co_await early(406);
    co_return;
  }
  bool refuse = false;
  {
    std::lock_guard lock(mu);
    ++shared.stream_requests;
    refuse =
        opts.status != 0 && (opts.status_first == 0 || shared.stream_requests <= opts.status_first);
  }
  if (refuse) {
    co_await early(opts.status);
    co_return;
  }
  bool gzip = opts.gzip && req->accepts_gzip;
  spdlog::info("firehose: {} {} {} -> 200{}", req->method, req->path, describe(params),
               gzip ? " gzip" : "");
  auto head = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{}"
                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                          gzip ? "Content-Encoding: gzip\r\n" : "");
  co_await asio::async_write(sock, asio::buffer(head), on_error(ec));
  if (ec)
    co_return;
  std::optional<io::gzip_encoder> encoder;
  if (gzip)
    encoder.emplace();
  co_await stream_events(sock, true, encoder ? &*encoder : nullptr, sr->filter, sr->backfill);
}

std::uint64_t server::impl::first_rank(generator& gen, const std::string& key,
                                       std::uint64_t backfill) {
  std::lock_guard lock(mu);
  std::uint64_t first = opts.resume ? shared.stats.highest_rank + 1 : 1;
  first = first > backfill ? first - backfill : 1;
  if (shared.cache_pos && shared.cache_key == key && shared.cache_pos->rank <= first)
    gen.restore(*shared.cache_pos);
  return first;
}

void server::impl::note_sent(const generator& gen, const std::string& key, std::uint64_t n) {
  std::lock_guard lock(mu);
  auto& st = shared.stats;
  st.ranks_sent += n;
  if (gen.next_rank() - 1 >= st.highest_rank) {
    st.highest_rank = gen.next_rank() - 1;
    if (shared.cache_key != key)
      shared.cache_key = key;
    shared.cache_pos = gen.position();
  }
}

// One connection's stream, HTTP (chunked) or plain. Ends the connection by returning: at the
// end of the stream (--count, gracefully), after --disconnect-every ranks (abruptly), when the
// client goes away, or never for a stalled connection until the client closes it.
// With `gzip`, every batch and keep-alive is compressed and flushed before it is framed.
template <class Stream>
awaitable<void> server::impl::stream_events(Stream& sock, bool chunked, io::gzip_encoder* gzip,
                                            const stream_filter& filter, std::uint64_t backfill) {
  error_code ec;
  generator gen(opts.stream, filter);
  const std::string key = filter.key();
  const std::uint64_t first = first_rank(gen, key, backfill);
  for (;;) { // a filter may need a long scan to reach the first rank: in slices
    std::uint64_t budget = k_scan_slice;
    if (gen.seek(first, budget))
      break;
    co_await asio::post(sock.get_executor(), asio::use_awaitable);
  }

  asio::steady_timer timer(sock.get_executor());
  std::string buf;
  buf.reserve(k_batch_bytes + (2u << 20));
  std::string zbuf; // gzip: the compressed batch

  // Frames buf (a batch after k_chunk_room bytes of room when chunked) and returns what to write:
  // compressed first with gzip, then in one chunk.
  auto frame = [&]() -> std::string_view {
    if (gzip) {
      zbuf.assign(k_chunk_room, ' ');
      gzip->compress(std::string_view(buf).substr(k_chunk_room), zbuf);
      buf.swap(zbuf);
    }
    if (!chunked)
      return buf;
    char head[k_chunk_room];
    auto len = fmt::format_to_n(head, sizeof head, "{:x}\r\n", buf.size() - k_chunk_room).size;
    std::copy(head, head + len, buf.data() + k_chunk_room - len);
    buf += "\r\n";
    return std::string_view(buf).substr(k_chunk_room - len);
  };
  std::string ka_buf; // the keep-alive line, framed (and compressed) once per write
  auto keep_alive = [&]() -> std::string_view {
    if (!chunked)
      return "\n";
    if (!gzip)
      return "2\r\n\r\n\r\n";
    buf.assign(k_chunk_room, ' ');
    buf += "\r\n";
    auto out = frame();
    ka_buf.assign(out);
    return ka_buf;
  };
  std::uint64_t sent = 0; // ranks on this connection
  const auto start = clock::now();
  auto last_write = start;

  // Waits until `until`; writes a keep-alive first when the silence reaches opts.keep_alive.
  auto idle_until = [&](clock::time_point until) -> awaitable<bool> {
    auto ka = last_write + opts.keep_alive;
    timer.expires_at(std::min(until, ka));
    co_await timer.async_wait(on_error(ec));
    if (clock::now() >= ka) {
      co_await asio::async_write(sock, asio::buffer(keep_alive()), on_error(ec));
      if (ec)
        co_return false;
      last_write = clock::now();
    }
    co_return true;
  };

  for (;;) {
    const std::uint64_t rank = gen.next_rank();
    if (opts.count != 0 && rank > opts.count) {
      std::string end;
      if (gzip) {
        std::string tail;
        gzip->finish(tail);
        end = fmt::format("{:x}\r\n{}\r\n", tail.size(), tail);
      }
      if (chunked) {
        end += "0\r\n\r\n";
        co_await asio::async_write(sock, asio::buffer(end), on_error(ec));
      }
      shutdown_send(sock);
      co_return;
    }
    if (opts.disconnect_every != 0 && sent >= opts.disconnect_every)
      co_return; // closed at once, mid-stream, as a dropped connection looks
    if (opts.stall_after != 0 && sent >= opts.stall_after) {
      char sink[512];
      while (!ec) // silent until the client gives up
        co_await sock.async_read_some(asio::buffer(sink), on_error(ec));
      co_return;
    }
    std::uint64_t allowed = k_batch_events;
    if (opts.count != 0)
      allowed = std::min(allowed, opts.count - rank + 1);
    if (opts.disconnect_every != 0)
      allowed = std::min(allowed, opts.disconnect_every - sent);
    if (opts.stall_after != 0)
      allowed = std::min(allowed, opts.stall_after - sent);
    if (opts.rate != 0) {
      double elapsed = std::chrono::duration<double>(clock::now() - start).count();
      auto due = static_cast<std::uint64_t>(elapsed * static_cast<double>(opts.rate)) + 1;
      if (due <= sent) {
        auto next =
            start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(sent) / static_cast<double>(opts.rate)));
        if (!co_await idle_until(next))
          co_return;
        continue;
      }
      allowed = std::min(allowed, due - sent);
    }

    buf.assign(chunked ? k_chunk_room : 0, ' ');
    std::uint64_t n = 0;
    std::uint64_t budget = k_scan_slice;
    while (n < allowed && buf.size() < k_batch_bytes && gen.append_next(buf, budget))
      ++n;
    if (n == 0) { // the filter matched nothing in this slice
      if (!co_await idle_until(clock::now() + k_starved_wait))
        co_return;
      continue;
    }
    std::string_view out = frame();
    co_await asio::async_write(sock, asio::buffer(out), on_error(ec));
    if (ec) {
      // The client went away, maybe with part of this batch: it counts as sent, so --resume
      // goes on after it and never sends a rank twice.
      note_sent(gen, key, n);
      co_return;
    }
    sent += n;
    last_write = clock::now();
    note_sent(gen, key, n);
  }
}

server::server(server_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

server::~server() {
  stop();
}

result<std::uint16_t> server::listen_http(const std::string& host, std::uint16_t port) {
  return impl_->listen_ip(host, port, true);
}

result<std::uint16_t> server::listen_tcp(const std::string& host, std::uint16_t port) {
  return impl_->listen_ip(host, port, false);
}

result<void> server::listen_unix(const std::string& path) {
  asio::local::stream_protocol::acceptor a(*impl_->ctx);
  if (auto ec = io::listen_on(a, path); ec)
    return fail(std::error_code(ec.value(), std::system_category()));
  impl_->unix_acceptors.push_back(std::move(a));
  impl_->unix_paths.push_back(path);
  return {};
}

void server::start(unsigned threads) {
  auto& im = *impl_;
  for (auto& a : im.http_acceptors)
    asio::co_spawn(*im.ctx, im.accept_ip(a, true), asio::detached);
  for (auto& a : im.tcp_acceptors)
    asio::co_spawn(*im.ctx, im.accept_ip(a, false), asio::detached);
  for (auto& a : im.unix_acceptors)
    asio::co_spawn(*im.ctx, im.accept_unix(a), asio::detached);
  for (unsigned i = 0; i < std::max(threads, 1u); ++i)
    im.threads.emplace_back([&im] { im.ctx->run(); });
}

void server::stop() {
  auto& im = *impl_;
  if (!im.ctx)
    return;
  im.ctx->stop();
  for (auto& t : im.threads)
    t.join();
  im.threads.clear();
  im.http_acceptors.clear();
  im.tcp_acceptors.clear();
  im.unix_acceptors.clear();
  im.ctx.reset(); // destroys the suspended sessions: their sockets close
  for (const auto& p : im.unix_paths)
    ::unlink(p.c_str());
}

server_stats server::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->shared.stats;
}

} // namespace sluice::firehose
