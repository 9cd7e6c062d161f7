#include "base/url.h"

namespace sluice {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Nothing only when `strict` and a `%` is not followed by two hex digits.
std::optional<std::string> decode(std::string_view s, bool strict) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      int a = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      int b = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (a >= 0 && b >= 0) {
        out += static_cast<char>(a * 16 + b);
        i += 2;
      } else if (strict) {
        return std::nullopt;
      } else {
        out += '%';
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

std::optional<std::string> url_decode(std::string_view s) {
  return decode(s, true);
}

std::string url_decode_lenient(std::string_view s) {
  return *decode(s, false);
}

} // namespace sluice
