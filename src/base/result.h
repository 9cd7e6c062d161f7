#pragma once

#include <system_error>

#include <tl/expected.hpp>

namespace sluice {

/// The return type of every operation that can fail for a reason input or the environment can
/// cause (peer reset, ENOSPC, malformed input). The error is a std::error_code from the module's
/// own errc category, or from std::system_category() for an errno.
template <class T> using result = tl::expected<T, std::error_code>;

/// An error result, for `return fail(errc::x);`.
inline tl::unexpected<std::error_code> fail(std::error_code ec) {
  return tl::unexpected(ec);
}

/// An error result from an errno value.
inline tl::unexpected<std::error_code> fail_errno(int e) {
  return tl::unexpected(std::error_code(e, std::system_category()));
}

} // namespace sluice
