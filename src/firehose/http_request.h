#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "firehose/generator.h"

namespace sluice::firehose {

/// The head of an HTTP/1.1 request, as far as the firehose needs it.
struct http_request {
  std::string method;
  std::string path;  ///< the target without its query
  std::string query; ///< after '?', still encoded
  std::size_t content_length = 0;
  bool form_body = false;    ///< Content-Type is application/x-www-form-urlencoded
  std::string authorization; ///< the Authorization header's value, as sent
  bool accepts_gzip = false; ///< Accept-Encoding lists gzip (with a q-value other than 0)
};

/// Parses a request head (request line and headers, through the blank line). Fails with
/// std::errc::bad_message when it is not HTTP/1.x or a header is malformed.
result<http_request> parse_request_head(std::string_view head);

/// Appends the name=value pairs of a query or form body, decoded (`%XX` and `+`; a `%` without
/// two hex digits is kept as it is), to `out`.
void parse_form(std::string_view s, std::vector<std::pair<std::string, std::string>>& out);

/// What a client asked for on statuses/filter.json: the filter, and `count`'s backfill (how many
/// ranks before the resume point to start at; `count=-N` and `count=N` both mean N).
struct stream_request {
  stream_filter filter;
  std::uint64_t backfill = 0;
};

/// Reads `track` (comma-separated terms), `follow` (comma-separated user ids) and `count` from
/// decoded parameters; unknown parameters are ignored (as Twitter did with most of them). Fails
/// with std::errc::invalid_argument when `follow` or `count` is not a number.
result<stream_request>
parse_stream_request(const std::vector<std::pair<std::string, std::string>>& params);

} // namespace sluice::firehose
