#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/redis_url.h"
#include "base/result.h"

struct redisContext;

// A Redis connection on hiredis's blocking API, for a thread of its own (STYLE.md): what the Redis
// queue backend and the Redis sinks speak through. Commands are pipelined: append() queues them,
// flush() sends them all and reads one reply per command, in order.
namespace sluice::io::redis {

/// Where a Redis server is (base/redis_url.h).
using endpoint = redis_endpoint;

/// Parses a redis:// URL; errc::bad_url when it is not one.
result<endpoint> parse_url(std::string_view url);

/// Appends one command, each word a bulk string, in the protocol's form (for
/// connection::append_formatted).
void resp_command(std::string& out, std::span<const std::string_view> words);

/// For messages: "HOST:PORT", or "primary NAME of sentinels HOST:PORT,HOST:PORT".
std::string describe(const endpoint& at);

/// One reply. A server's error answer is a reply of kind `error` (text: "WRONGTYPE ..."), not a
/// failure of the call: the connection is fine.
struct reply {
  enum class kind { status, error, integer, string, nil, array };
  kind type = kind::nil;
  std::string text; ///< status, error or string
  std::int64_t integer = 0;
  std::vector<reply> elements;

  bool is_error() const noexcept { return type == kind::error; }
  /// An error's first word: "OOM", "READONLY", "NOGROUP", "WRONGTYPE", "ERR"; "" otherwise.
  std::string_view error_code() const noexcept;
};

class connection {
public:
  /// Connects within `timeout` (which also bounds every later read and write), then AUTHs and
  /// SELECTs as `at` says. With sentinels, to the primary they name (errc::redis_no_primary
  /// when none does). A network error as the system's code; errc::redis_refused when the
  /// server refuses AUTH or SELECT.
  static result<connection> open(const endpoint& at, std::chrono::milliseconds timeout);

  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();

  /// Queues one command, each word one argument, for the next flush().
  void append(std::span<const std::string_view> words);
  void append(std::initializer_list<std::string_view> words) {
    append(std::span<const std::string_view>(words.begin(), words.size()));
  }
  /// Queues `commands` commands already in the protocol's form (RESP arrays of bulk strings, as
  /// resp_command() writes them), in one copy.
  void append_formatted(std::string_view resp, std::size_t commands);
  std::size_t pending() const noexcept { return pending_; }

  /// Sends every queued command and reads their replies, in order. A network failure (or a
  /// reply that does not parse) fails the whole flush and breaks the connection: which of the
  /// commands the server ran is unknown, and a new connection is needed.
  result<std::vector<reply>> flush();
  /// One command now (append + flush).
  result<reply> command(std::span<const std::string_view> words);
  result<reply> command(std::initializer_list<std::string_view> words) {
    return command(std::span<const std::string_view>(words.begin(), words.size()));
  }

  /// After a failed flush: this connection is unusable.
  bool broken() const noexcept { return broken_; }

private:
  explicit connection(redisContext* c) : ctx_(c) {}
  /// Asks the sentinels of `at`, in turn, for the primary and connects to the first that answers
  /// as one (ROLE master).
  static result<connection> open_primary(const endpoint& at, std::chrono::milliseconds timeout);
  std::error_code failure() const;

  redisContext* ctx_ = nullptr;
  std::size_t pending_ = 0;
  bool broken_ = false;
};

} // namespace sluice::io::redis
