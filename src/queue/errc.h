#pragma once

#include <system_error>

namespace sluice::queue {

/// Why a queue operation failed. I/O failures from the OS come as std::system_category() codes
/// (ENOSPC, EIO, ...); these are the queue's own reasons.
enum class errc {
  ok = 0,
  closed = 1,         ///< the queue or reader was closed
  locked,             ///< another process appends to this queue (the message names its pid)
  subscription_busy,  ///< another reader holds this subscription
  full,               ///< at max_disk with when_full = "drop_newest": the records were dropped
  timed_out,          ///< nothing new arrived within the wait
  corrupt,            ///< a file's header or checksum does not match
  bad_format_version, ///< written by a newer sluice
  invalid_argument,   ///< a bad name, position or option
  write_failed,       ///< a write or fsync failed; the records after the watermark were not kept
  record_too_large,   ///< larger than a segment can hold
  not_found,          ///< no such queue or subscription
  not_primary,        ///< the queue's server is a replica now (READONLY): find the primary again
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace sluice::queue

template <> struct std::is_error_code_enum<sluice::queue::errc> : true_type {};
