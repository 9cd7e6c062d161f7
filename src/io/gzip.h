#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sluice::io {

/// Inflates a gzip stream (RFC 1952, zlib's streaming inflate) as its bytes arrive, in any split.
/// Concatenated members are inflated one after the other. One thread.
class gzip_decoder {
public:
  gzip_decoder();
  ~gzip_decoder();
  gzip_decoder(const gzip_decoder&) = delete;
  gzip_decoder& operator=(const gzip_decoder&) = delete;

  /// Feeds compressed bytes; calls `on_data(std::string_view)` with the inflated bytes available
  /// so far (the view is valid during the call only). Returns false on a corrupt stream (then
  /// `error()` says why); the decoder is then unusable.
  template <class F> bool feed(std::string_view in, F&& on_data);
  const std::string& error() const noexcept { return error_; }

private:
  /// Inflates what it can of `in` into out_; false on error. `in` is consumed from its front.
  bool step(std::string_view& in, std::size_t& produced);
  struct state;
  std::unique_ptr<state> z_;
  std::string out_;
  std::string error_;
  bool failed_ = false;
};

template <class F> bool gzip_decoder::feed(std::string_view in, F&& on_data) {
  if (failed_)
    return false;
  for (;;) {
    std::size_t produced = 0;
    if (!step(in, produced))
      return false;
    if (produced > 0)
      on_data(std::string_view(out_.data(), produced));
    if (in.empty() && produced < out_.size())
      return true; // all input consumed and zlib had room left: nothing more pending
  }
}

/// Deflates into gzip format for a live stream: each compress() call ends with Z_SYNC_FLUSH, so
/// the peer can inflate everything handed over so far. One thread.
class gzip_encoder {
public:
  gzip_encoder();
  ~gzip_encoder();
  gzip_encoder(const gzip_encoder&) = delete;
  gzip_encoder& operator=(const gzip_encoder&) = delete;

  /// Appends the compressed, flushed form of `in` to `out`.
  void compress(std::string_view in, std::string& out);
  /// Appends the end of the gzip stream (final block and trailer) to `out`.
  void finish(std::string& out);

private:
  void run(std::string_view in, int flush, std::string& out);
  struct state;
  std::unique_ptr<state> z_;
};

} // namespace sluice::io
