#include "sources/framer.h"

#include <algorithm>
#include <cstring>

namespace sluice::sources {

framer::framer(std::size_t max_record_bytes) : max_(max_record_bytes) {}

void framer::feed(std::string_view chunk, handler& h) {
  while (!chunk.empty()) {
    const void* nl = std::memchr(chunk.data(), '\n', chunk.size());
    if (nl == nullptr) {
      append_partial(chunk);
      return;
    }
    auto n = static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data());
    std::string_view piece = chunk.substr(0, n);
    chunk.remove_prefix(n + 1);
    if (discarding_) {
      keep_head(piece);
      discarded_ += piece.size();
      h.on_too_long(head_, discarded_);
      discarding_ = false;
      discarded_ = 0;
      head_.clear();
    } else if (partial_.empty()) {
      emit(piece, h);
    } else {
      partial_.append(piece);
      emit(partial_, h);
      partial_.clear();
    }
  }
}

void framer::finish(handler& h) {
  if (discarding_) {
    h.on_too_long(head_, discarded_);
  } else if (!partial_.empty()) {
    emit(partial_, h);
  }
  drop_partial();
}

std::uint64_t framer::drop_partial() noexcept {
  std::uint64_t n = discarding_ ? discarded_ : partial_.size();
  partial_.clear();
  discarding_ = false;
  discarded_ = 0;
  head_.clear();
  return n;
}

void framer::append_partial(std::string_view piece) {
  if (discarding_) {
    keep_head(piece);
    discarded_ += piece.size();
    return;
  }
  // One byte of slack for a `\r` that the newline will strip.
  if (partial_.size() + piece.size() <= max_ + 1) {
    partial_.append(piece);
    return;
  }
  discarding_ = true;
  discarded_ = partial_.size() + piece.size();
  head_.assign(partial_, 0, std::min(partial_.size(), k_head_bytes));
  keep_head(piece);
  partial_.clear();
}

void framer::keep_head(std::string_view piece) {
  if (head_.size() < k_head_bytes)
    head_.append(piece.substr(0, k_head_bytes - head_.size()));
}

void framer::emit(std::string_view line, handler& h) {
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  if (line.empty())
    return;
  if (line.size() > max_)
    h.on_too_long(line.substr(0, k_head_bytes), line.size());
  else
    h.on_record(line);
}

} // namespace sluice::sources
