#include "sinks/errc.h"

#include <cerrno>
#include <string>

namespace sluice::sinks {
namespace {

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "sinks"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::ok:
      return "ok";
    case errc::retryable:
      return "transient sink failure";
    case errc::busy:
      return "sink target is busy or locked";
    case errc::read_only:
      return "sink target is read-only";
    case errc::disk_full:
      return "sink target's disk is full";
    case errc::io_error:
      return "sink target I/O error";
    case errc::permanent:
      return "permanent sink failure";
    case errc::invalid_config:
      return "invalid sink configuration";
    case errc::schema_mismatch:
      return "sink target has an incompatible schema";
    case errc::corrupt:
      return "sink target is corrupt";
    case errc::in_use:
      return "sink target is in use by another writer";
    }
    return "unknown sink error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

bool is_retryable(std::error_code ec) noexcept {
  if (!ec)
    return false;
  if (ec.category() == error_category()) {
    switch (static_cast<errc>(ec.value())) {
    case errc::retryable:
    case errc::busy:
    case errc::read_only:
    case errc::disk_full:
    case errc::io_error:
    case errc::in_use:
      return true;
    default:
      return false;
    }
  }
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    switch (ec.value()) {
    case EINVAL:
    case EBADF:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case EFBIG:
      return false;
    default:
      return true; // ENOSPC, EIO, EDQUOT, EACCES, EROFS, ...: an operator can fix these
    }
  }
  return false;
}

} // namespace sluice::sinks
