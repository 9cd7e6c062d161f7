#include "base/json_string.h"

namespace sluice {
namespace {

// Length of the valid UTF-8 sequence at the start of `s` (s[0] >= 0x80), 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) noexcept {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
      return 0; // overlong, surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
      return 0; // overlong, above U+10FFFF
    return 4;
  }
  return 0;
}

constexpr bool plain(unsigned char c) noexcept {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

} // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t run = i;
    while (i < text.size() && plain(static_cast<unsigned char>(text[i])))
      ++i;
    out.append(text.data() + run, i - run);
    if (i == text.size())
      break;
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(text.substr(i));
      if (n == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(text.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
    case '"':
      out.append("\\\"");
      break;
    case '\\':
      out.append("\\\\");
      break;
    case '\n':
      out.append("\\n");
      break;
    case '\r':
      out.append("\\r");
      break;
    case '\t':
      out.append("\\t");
      break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.append(u, sizeof u);
    }
    }
    ++i;
  }
  out.push_back('"');
}

} // namespace sluice
