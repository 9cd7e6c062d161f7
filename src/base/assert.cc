#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace sluice::detail {

void assert_failed(const char* expr, const char* msg, std::source_location where) {
  std::fprintf(stderr, "sluice: invariant violated at %s:%u (%s): %s: %s\n", where.file_name(),
               static_cast<unsigned>(where.line()), where.function_name(), expr, msg);
  std::fflush(stderr);
  std::abort();
}

} // namespace sluice::detail
