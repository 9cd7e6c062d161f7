#include "metrics/value_text.h"

#include <cmath>
#include <cstdint>
#include <iterator>

#include <fmt/format.h>

namespace sluice::metrics {

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9223372036854775808.0) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<std::int64_t>(v));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

} // namespace sluice::metrics
