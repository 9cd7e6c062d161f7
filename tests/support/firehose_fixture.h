#pragma once

// The fictional firehose in the test's own process, on loopback: a firehose::server with an HTTP
// listener on 127.0.0.1 and a free port. The test target links sluice::firehose.

#include <cstdint>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "firehose/server.h"

namespace sluice::testing {

/// A firehose::server streaming over HTTP on 127.0.0.1, port 0 (a free one), started on one
/// thread; stopped by the destructor. A listener that cannot be bound (a TLS certificate that
/// does not load, say) is a test failure, and `port` stays 0.
struct firehose_on_loopback {
  explicit firehose_on_loopback(firehose::server_options o)
      : options(std::move(o)), server(options) {
    auto p = server.listen_http("127.0.0.1", 0);
    EXPECT_TRUE(p.has_value()) << "firehose on 127.0.0.1: " << p.error().message();
    port = p.value_or(0);
    server.start();
  }
  ~firehose_on_loopback() { server.stop(); }
  firehose_on_loopback(const firehose_on_loopback&) = delete;
  firehose_on_loopback& operator=(const firehose_on_loopback&) = delete;

  /// The stream's URL: SCHEME://HOST:PORT/1.1/statuses/filter.json.
  std::string url(const std::string& scheme = "http", const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(port) + "/1.1/statuses/filter.json";
  }

  firehose::server_options options; ///< as the server was made with
  firehose::server server;
  std::uint16_t port = 0;
};

} // namespace sluice::testing
