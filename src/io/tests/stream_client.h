#pragma once

#include <chrono>
#include <string>

#include "firehose/server.h"
#include "io/http_stream.h"
#include "support/firehose_fixture.h"

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

using sluice::testing::firehose_on_loopback;

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
