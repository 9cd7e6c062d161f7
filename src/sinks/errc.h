#pragma once

#include <system_error>

namespace sluice::sinks {

/// Why a sink's write failed. I/O failures from the OS come as std::system_category() codes
/// (ENOSPC, EIO, ...); these are the sinks' own reasons. is_retryable() tells the two kinds apart.
enum class errc {
  ok = 0,
  retryable = 1,   ///< a transient failure not covered by the reasons below
  busy,            ///< the target is locked or busy (SQLITE_BUSY, another writer)
  read_only,       ///< the target is write-protected for now
  disk_full,       ///< the target's disk or quota is full
  io_error,        ///< the target reported an I/O error
  permanent,       ///< a failure retrying will not fix (a constraint the event breaks, ...)
  invalid_config,  ///< a bad option (table name, directory)
  schema_mismatch, ///< the target exists with a layout the sink cannot write to
  corrupt,         ///< the target's files are damaged
  in_use,          ///< another sink (maybe in another process) writes to the same target
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// True when writing the same batch again later may succeed: the sinks' transient reasons and
/// OS errors other than those that point at a programming or configuration mistake. The
/// subscription retries these with backoff; anything else goes to its give-up path.
bool is_retryable(std::error_code ec) noexcept;

} // namespace sluice::sinks

template <> struct std::is_error_code_enum<sluice::sinks::errc> : true_type {};
