#include "metrics/prometheus.h"

#include <cassert>

#include "base/log.h"
#include "metrics/value_text.h"

namespace sluice::metrics {
namespace {

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool name_char(char c, bool colon) {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

std::string_view type_name(kind k) {
  switch (k) {
  case kind::counter:
    return "counter";
  case kind::histogram:
    return "histogram";
  case kind::gauge:
    break;
  }
  return "gauge";
}

/// `{a="x",b="y"}` plus `le` when given; nothing for no labels at all.
void append_labels(std::string& out, const label_set& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr)
    return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (le != nullptr) {
    if (!first)
      out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void append_line(std::string& out, std::string_view name, std::string_view suffix,
                 const label_set& labels, double value, const std::string* le = nullptr) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void append_histogram(std::string& out, const std::string& name, const sample& s) {
  std::string le;
  for (const auto& b : s.buckets) {
    le.clear();
    append_value(le, b.le);
    append_line(out, name, "_bucket", s.labels, static_cast<double>(b.count), &le);
  }
  le = "+Inf";
  append_line(out, name, "_bucket", s.labels, static_cast<double>(s.count), &le);
  append_line(out, name, "_sum", s.labels, s.sum);
  append_line(out, name, "_count", s.labels, static_cast<double>(s.count));
}

bool valid_labels(const family& f, const sample& s) {
  for (const auto& [name, value] : s.labels) {
    if (!valid_label_name(name) || (f.type == kind::histogram && name == "le")) {
      assert(!"invalid label name");
      SLUICE_WARN_LIMITED("metrics: {} has an invalid label name \"{}\": sample left out", f.name,
                          name);
      return false;
    }
  }
  return true;
}

} // namespace

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || !name_start(name[0], true))
    return false;
  for (char c : name)
    if (!name_char(c, true))
      return false;
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || !name_start(name[0], false) || name.starts_with("__"))
    return false;
  for (char c : name)
    if (!name_char(c, false))
      return false;
  return true;
}

std::string render_prometheus(std::span<const family> families) {
  std::string out;
  for (const auto& f : families) {
    if (!valid_metric_name(f.name)) {
      assert(!"invalid metric name");
      SLUICE_WARN_LIMITED("metrics: invalid metric name \"{}\": family left out", f.name);
      continue;
    }
    if (!f.help.empty()) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      append_escaped(out, f.help, false);
      out += '\n';
    }
    out += "# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& s : f.samples) {
      if (!valid_labels(f, s))
        continue;
      if (f.type == kind::histogram)
        append_histogram(out, f.name, s);
      else
        append_line(out, f.name, "", s.labels, s.value);
    }
  }
  return out;
}

} // namespace sluice::metrics
