#include "io/listen.h"

#include <fstream>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace sluice::io {
namespace {

using local = asio::local::stream_protocol;

TEST(listen, binds_a_free_port_and_names_it) {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io);
  ASSERT_FALSE(listen_on(a, {asio::ip::make_address("127.0.0.1"), 0}));
  auto port = a.local_endpoint().port();
  EXPECT_NE(port, 0);
  EXPECT_EQ(endpoint_text(a.local_endpoint()), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(endpoint_text({asio::ip::make_address("::1"), 8080}), "[::1]:8080");
  asio::ip::tcp::acceptor second(io);
  EXPECT_EQ(listen_on(second, a.local_endpoint()), asio::error::address_in_use);
  EXPECT_FALSE(second.is_open());
}

TEST(listen, replaces_a_stale_unix_socket_but_not_a_live_one) {
  testing::temp_dir dir("listen");
  auto path = (dir / "s.sock").string();
  asio::io_context io;
  {
    local::acceptor gone(io);
    ASSERT_FALSE(listen_on(gone, path));
  } // closed: the file stays, as after a crash
  ASSERT_TRUE(std::filesystem::is_socket(path));
  local::acceptor first(io);
  ASSERT_FALSE(listen_on(first, path));
  local::acceptor second(io);
  EXPECT_EQ(listen_on(second, path), asio::error::address_in_use);
  EXPECT_TRUE(first.is_open());
  local::socket client(io);
  boost::system::error_code ec;
  client.connect(local::endpoint(path), ec);
  EXPECT_FALSE(ec) << "the live socket still answers: " << ec.message();
}

TEST(listen, a_path_that_is_not_a_socket_is_left_alone) {
  testing::temp_dir dir("listen");
  auto path = dir / "plain";
  { std::ofstream(path) << "keep"; }
  asio::io_context io;
  local::acceptor a(io);
  EXPECT_EQ(listen_on(a, path.string()), asio::error::address_in_use);
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

} // namespace
} // namespace sluice::io
