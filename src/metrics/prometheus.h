#pragma once

#include <span>
#include <string>
#include <string_view>

#include "metrics/family.h"

namespace sluice::metrics {

/// The Content-Type of render_prometheus()'s text.
constexpr std::string_view k_prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// True for a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool valid_metric_name(std::string_view name) noexcept;

/// True for a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool valid_label_name(std::string_view name) noexcept;

/// The Prometheus text exposition format 0.0.4 of `families`, in their order: per family a
/// `# HELP` line (when help is not empty; backslash and newline escaped), a `# TYPE` line, then
/// its samples. Counters keep their name as given (callers end them in `_total`); a histogram
/// sample becomes NAME_bucket lines (its labels plus le, ending with le="+Inf" = count),
/// NAME_sum and NAME_count. Label values escape backslash, double quote and newline.
///
/// An invalid metric or label name (or a label "le" on a histogram) is a programmer error: it
/// asserts in debug builds; in release builds the family or sample is left out, with a
/// rate-limited warning, so that the rest of the scrape still parses. Pure; any thread.
std::string render_prometheus(std::span<const family> families);

} // namespace sluice::metrics
