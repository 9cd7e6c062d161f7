#pragma once

// Small text helpers of the tests: failure messages and configuration files.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::testing {

inline bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

/// The last `n` bytes of a log, for failure messages.
inline std::string tail_of(const std::string& text, std::size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

/// Quotes `s` as a TOML basic string.
inline std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + '"';
}

} // namespace sluice::testing
