#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "firehose/server.h"
#include "io/http_stream.h"

namespace sluice::io::testing {

/// What one stream_once() call returned and received.
struct stream_outcome {
  result<void> res = fail(errc::protocol);
  response_head head;
  std::string body;
};

/// Runs stream_once on an io_context of its own until it returns (bounded by the server ending
/// the stream or by the stall timeout).
inline stream_outcome stream_to_end(const stream_request& req,
                                    std::chrono::nanoseconds stall = std::chrono::seconds(10)) {
  stream_outcome out;
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        out.res = co_await stream_once(req, stall, out.head,
                                       [&](std::string_view s) { out.body.append(s); });
      },
      boost::asio::detached);
  io.run();
  return out;
}

/// A firehose on 127.0.0.1, port 0; stopped by the destructor.
struct firehose_on_loopback {
  explicit firehose_on_loopback(const firehose::server_options& o)
      : server(std::make_unique<firehose::server>(o)) {
    port = server->listen_http("127.0.0.1", 0).value();
    server->start();
  }
  std::string url(const std::string& scheme = "http", const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(port) + "/1.1/statuses/filter.json";
  }
  std::unique_ptr<firehose::server> server;
  std::uint16_t port = 0;
};

/// The body a plain-HTTP firehose with options `o` sends (the reference for the other tests).
inline std::string plain_body(firehose::server_options o) {
  o.tls_cert.clear();
  o.tls_key.clear();
  o.gzip = false;
  firehose_on_loopback f(o);
  stream_request r;
  r.url = f.url();
  r.gzip = false;
  return stream_to_end(r).body;
}

} // namespace sluice::io::testing
