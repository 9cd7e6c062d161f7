#include "metrics/graphite.h"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "metrics/value_text.h"

namespace sluice::metrics {
namespace {

void append_sanitized(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += '_';
    return;
  }
  for (char c : text) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    out += keep ? c : '_';
  }
}

/// PREFIX.NAME.LABEL_VALUE...
std::string path_of(std::string_view prefix, std::string_view name, const label_set& labels) {
  std::string path(prefix);
  if (!path.empty())
    path += '.';
  if (name.starts_with("sluice_"))
    name.remove_prefix(7);
  append_sanitized(path, name);
  for (const auto& label : labels) {
    path += '.';
    append_sanitized(path, label.second);
  }
  return path;
}

void append_line(std::string& out, std::string_view path, std::string_view suffix, double value,
                 std::int64_t unix_seconds) {
  if (!std::isfinite(value))
    return;
  out += path;
  out += suffix;
  out += ' ';
  append_value(out, value);
  fmt::format_to(std::back_inserter(out), " {}\n", unix_seconds);
}

} // namespace

std::string render_graphite(std::span<const family> families, std::string_view prefix,
                            std::int64_t unix_seconds) {
  std::string out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      auto path = path_of(prefix, f.name, s.labels);
      if (f.type != kind::histogram) {
        append_line(out, path, "", s.value, unix_seconds);
        continue;
      }
      append_line(out, path, ".count", static_cast<double>(s.count), unix_seconds);
      append_line(out, path, ".sum", s.sum, unix_seconds);
      if (s.count == 0)
        continue;
      append_line(out, path, ".p50", estimate_quantile(s, 0.5), unix_seconds);
      append_line(out, path, ".p99", estimate_quantile(s, 0.99), unix_seconds);
    }
  }
  return out;
}

} // namespace sluice::metrics
