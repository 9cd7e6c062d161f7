#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sluice::io {

/// Decodes an HTTP/1.1 chunked body as bytes arrive, in any split. Body bytes are handed to the
/// callback as soon as they are decoded (no copy for data that arrives whole). One thread.
class chunked_decoder {
public:
  /// Feeds `in`; calls `on_data(std::string_view)` for body bytes. Returns false on a malformed
  /// stream (then `error()` says why). After the last chunk, done() is true and further bytes are
  /// ignored (trailers are skipped).
  template <class F> bool feed(std::string_view in, F&& on_data);
  bool done() const noexcept { return state_ == state::done; }
  const std::string& error() const noexcept { return error_; }

private:
  enum class state { size, size_ext, size_lf, data, data_cr, data_lf, trailer, done };
  bool step_size(char c);
  state state_ = state::size;
  std::uint64_t remaining_ = 0;
  int digits_ = 0;
  bool trailer_line_empty_ = true;
  std::string error_;
};

template <class F> bool chunked_decoder::feed(std::string_view in, F&& on_data) {
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == state::data) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
      on_data(in.substr(i, n));
      i += n;
      remaining_ -= n;
      if (remaining_ == 0)
        state_ = state::data_cr;
      continue;
    }
    if (state_ == state::done)
      return true;
    if (!step_size(in[i++]))
      return false;
  }
  return true;
}

} // namespace sluice::io
