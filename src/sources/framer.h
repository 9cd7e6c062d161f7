#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::sources {

/// Splits a byte stream into newline-delimited records. `\r\n` is accepted (the `\r` is not part
/// of the record), blank lines (keep-alives) are skipped, and a line split across feeds is
/// reassembled exactly. A line longer than `max_record_bytes` is never buffered whole: the framer
/// keeps its first k_head_bytes, discards the rest up to the next newline, and reports it as too
/// long. Memory: at most max_record_bytes + one fed chunk + k_head_bytes. A record that lies
/// wholly inside one fed chunk is passed as a view into that chunk (no copy).
/// Not thread-safe: one framer per byte stream.
class framer {
public:
  /// What a framer reports to. Views are valid only during the call.
  class handler {
  public:
    virtual void on_record(std::string_view record) = 0;
    /// `head`: the line's first bytes (at most k_head_bytes); `length`: the line's length.
    virtual void on_too_long(std::string_view head, std::uint64_t length) = 0;

  protected:
    virtual ~handler() = default;
  };

  static constexpr std::size_t k_head_bytes = 1024;

  explicit framer(std::size_t max_record_bytes);

  /// Frames `chunk`, calling `h` for every line it completes.
  void feed(std::string_view chunk, handler& h);

  /// At the end of the stream: reports an unterminated last line as a record (or too long).
  void finish(handler& h);

  /// Forgets an unterminated last line (its connection was lost); returns its length so far.
  std::uint64_t drop_partial() noexcept;

  /// True when part of a line is waiting for its newline.
  bool has_partial() const noexcept { return !partial_.empty() || discarding_; }

private:
  void append_partial(std::string_view piece);
  void keep_head(std::string_view piece);
  void emit(std::string_view line, handler& h);

  std::size_t max_;
  std::string partial_;
  bool discarding_ = false;
  std::uint64_t discarded_ = 0;
  std::string head_;
};

} // namespace sluice::sources
