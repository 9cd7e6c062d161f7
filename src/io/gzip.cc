#include "io/gzip.h"

#include <zlib.h>

#include "base/assert.h"

namespace sluice::io {

namespace {
constexpr std::size_t k_out_room = 64 * 1024;
constexpr int k_gzip_window = 16 + MAX_WBITS; // zlib: a gzip wrapper, not zlib's own
} // namespace

struct gzip_decoder::state {
  z_stream s{};
};

gzip_decoder::gzip_decoder() : z_(std::make_unique<state>()), out_(k_out_room, '\0') {
  if (inflateInit2(&z_->s, k_gzip_window) != Z_OK) {
    failed_ = true;
    error_ = "gzip: inflateInit2 failed";
  }
}

gzip_decoder::~gzip_decoder() {
  inflateEnd(&z_->s); // harmless after a failed init (Z_STREAM_ERROR)
}

bool gzip_decoder::step(std::string_view& in, std::size_t& produced) {
  auto& s = z_->s;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out_.data());
  s.avail_out = static_cast<uInt>(out_.size());
  int rc = inflate(&s, Z_NO_FLUSH);
  produced = out_.size() - s.avail_out;
  in.remove_prefix(in.size() - s.avail_in);
  if (rc == Z_STREAM_END) {
    // Another member may follow (a server may restart its compressor).
    rc = inflateReset(&s) == Z_OK ? Z_OK : Z_STREAM_ERROR;
  }
  if (rc == Z_OK || (rc == Z_BUF_ERROR && (in.empty() || produced > 0)))
    return true;
  failed_ = true;
  error_ = std::string("gzip: ") + (s.msg != nullptr ? s.msg : "corrupt stream");
  return false;
}

struct gzip_encoder::state {
  z_stream s{};
};

gzip_encoder::gzip_encoder() : z_(std::make_unique<state>()) {
  int rc =
      deflateInit2(&z_->s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, k_gzip_window, 8, Z_DEFAULT_STRATEGY);
  SLUICE_ASSERT(rc == Z_OK, "deflateInit2 failed (out of memory)");
}

gzip_encoder::~gzip_encoder() {
  deflateEnd(&z_->s);
}

void gzip_encoder::run(std::string_view in, int flush, std::string& out) {
  auto& s = z_->s;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  do {
    auto at = out.size();
    out.resize(at + k_out_room);
    s.next_out = reinterpret_cast<Bytef*>(out.data() + at);
    s.avail_out = static_cast<uInt>(k_out_room);
    deflate(&s, flush);
    out.resize(out.size() - s.avail_out);
  } while (s.avail_out == 0);
}

void gzip_encoder::compress(std::string_view in, std::string& out) {
  run(in, Z_SYNC_FLUSH, out);
}

void gzip_encoder::finish(std::string& out) {
  run({}, Z_FINISH, out);
}

} // namespace sluice::io
