#pragma once

#include <string>

namespace sluice::metrics {

/// Appends `v` as both renderers spell a value: an integral value below 2^63 in magnitude as an
/// integer without exponent, any other finite value in its shortest round-trip form, and "NaN",
/// "+Inf", "-Inf" (Prometheus' spelling) for the rest.
void append_value(std::string& out, double v);

} // namespace sluice::metrics
