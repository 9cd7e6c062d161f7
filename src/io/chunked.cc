#include "io/chunked.h"

namespace sluice::io {

bool chunked_decoder::step_size(char c) {
  auto bad = [&](const char* why) {
    error_ = why;
    return false;
  };
  switch (state_) {
  case state::size: {
    int v = -1;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    if (v >= 0) {
      if (++digits_ > 15)
        return bad("chunk size too large");
      remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
      return true;
    }
    if (digits_ == 0)
      return bad("chunk size expected");
    if (c == ';' || c == ' ' || c == '\t') {
      state_ = state::size_ext;
      return true;
    }
    if (c == '\r') {
      state_ = state::size_lf;
      return true;
    }
    return bad("bad character in chunk size");
  }
  case state::size_ext:
    if (c == '\r')
      state_ = state::size_lf;
    return true;
  case state::size_lf:
    if (c != '\n')
      return bad("LF expected after chunk size");
    digits_ = 0;
    if (remaining_ == 0) {
      state_ = state::trailer;
      trailer_line_empty_ = true;
    } else {
      state_ = state::data;
    }
    return true;
  case state::data_cr:
    if (c != '\r')
      return bad("CR expected after chunk data");
    state_ = state::data_lf;
    return true;
  case state::data_lf:
    if (c != '\n')
      return bad("LF expected after chunk data");
    state_ = state::size;
    return true;
  case state::trailer:
    if (c == '\n') {
      if (trailer_line_empty_)
        state_ = state::done;
      trailer_line_empty_ = true;
    } else if (c != '\r') {
      trailer_line_empty_ = false;
    }
    return true;
  case state::data:
  case state::done:
    return true;
  }
  return true;
}

} // namespace sluice::io
