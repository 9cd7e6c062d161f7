#pragma once

#include <source_location>

namespace sluice::detail {
[[noreturn]] void assert_failed(const char* expr, const char* msg,
                                std::source_location where = std::source_location::current());
} // namespace sluice::detail

/// Guards an invariant of our own data structures (on-disk format, queue positions). Stays on in
/// release builds. Never use it for anything input or the environment can cause.
#define SLUICE_ASSERT(expr, msg)                                                                   \
  do {                                                                                             \
    if (!(expr)) [[unlikely]]                                                                      \
      ::sluice::detail::assert_failed(#expr, msg);                                                 \
  } while (0)
