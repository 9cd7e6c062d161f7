#include "queue/errc.h"

#include <string>

namespace sluice::queue {
namespace {

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "queue"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::ok:
      return "ok";
    case errc::closed:
      return "queue closed";
    case errc::locked:
      return "queue is locked by another process";
    case errc::subscription_busy:
      return "subscription is held by another reader";
    case errc::full:
      return "queue is full (max_disk reached); records dropped";
    case errc::timed_out:
      return "timed out";
    case errc::corrupt:
      return "corrupt file";
    case errc::bad_format_version:
      return "unsupported queue format version";
    case errc::invalid_argument:
      return "invalid argument";
    case errc::write_failed:
      return "write or fsync failed";
    case errc::record_too_large:
      return "record too large";
    case errc::not_found:
      return "not found";
    case errc::not_primary:
      return "the server is a replica now (READONLY)";
    }
    return "unknown queue error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

} // namespace sluice::queue
