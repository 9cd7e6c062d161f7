#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "firehose/generator.h"

namespace sluice::firehose {

/// How the server streams, on every listener. Ranks are those of generator.h: every line a client
/// gets except keep-alives; the limits below count ranks.
struct server_options {
  stream_options stream;
  std::uint64_t rate = 0;  ///< events per second per connection; 0: as fast as the client reads
  std::uint64_t count = 0; ///< the stream ends after rank `count` (0: endless)
  std::uint64_t disconnect_every = 0; ///< close a connection after it sent this many ranks
  std::uint64_t stall_after = 0; ///< a connection stops sending (and stays open) after this many
  unsigned status = 0; ///< HTTP status for the first `status_first` stream requests (0: all)
  std::uint64_t status_first = 0;
  bool resume = false; ///< a new connection starts after the highest rank any connection sent
  std::chrono::milliseconds keep_alive{30000}; ///< a bare "\r\n" after this much silence
  stream_filter raw_filter; ///< the filter of --tcp and --unix connections (HTTP has its own)
  /// PEM certificate (chain) and private key: the HTTP listeners serve HTTPS only. Loaded by the
  /// first listen_http(), which fails (io::errc::tls_config, logged with the reason) when they
  /// do not load.
  std::string tls_cert;
  std::string tls_key;
  /// PEM file of the CA certificates trusted for client certificates (with tls_cert only). Set:
  /// the TLS handshake requires a client certificate that verifies against it, and a handshake
  /// without one or with another fails (logged, the connection closed). Empty: no client
  /// certificate is asked for. A file that does not load fails listen_http() as tls_cert does.
  std::string tls_client_ca;
  /// Streams are gzip-encoded for requests whose Accept-Encoding takes gzip, each batch and
  /// keep-alive flushed (Z_SYNC_FLUSH) so that the client can inflate it at once.
  bool gzip = false;
  std::string require_basic;  ///< "user:pass": stream requests without this basic auth get 401
  std::string require_bearer; ///< a token: stream requests without "Bearer TOKEN" get 401
  std::optional<std::uint32_t> retry_after; ///< seconds, sent as Retry-After with `status`
};

/// What the server did so far. Any thread.
struct server_stats {
  std::uint64_t connections = 0;
  std::uint64_t ranks_sent = 0;   ///< over all connections, keep-alives excluded
  std::uint64_t highest_rank = 0; ///< the resume point is highest_rank + 1
};

/// The fictional firehose: an HTTP streaming endpoint (`/1.1/statuses/filter.json`), plain NDJSON
/// TCP and Unix listeners, all on one Asio io_context run by a fixed number of threads; no thread
/// per client. Listen first (from one thread), then start(); stop() ends every connection.
/// Each HTTP request is logged (info) on one line: method, path and decoded parameters.
class server {
public:
  explicit server(server_options options);
  ~server(); ///< stops
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds an HTTP listener on HOST (an IP address or "localhost") and PORT (0: a free one) and
  /// returns the port bound. Before start() only.
  result<std::uint16_t> listen_http(const std::string& host, std::uint16_t port);
  /// The same for plain NDJSON over TCP.
  result<std::uint16_t> listen_tcp(const std::string& host, std::uint16_t port);
  /// Plain NDJSON on a Unix socket at `path` (a stale socket file there is replaced; the file is
  /// removed at stop()).
  result<void> listen_unix(const std::string& path);

  /// Runs the listeners on `threads` threads; returns at once.
  void start(unsigned threads = 1);
  /// Closes listeners and connections and joins the threads. Idempotent; not from a server thread.
  void stop();

  server_stats stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sluice::firehose
