#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "config/config_error.h"
#include "config/load.h"
#include "config/pipeline.h"

namespace sluice::config {

/// How GoogleTest prints an error in a failed expectation.
inline void PrintTo(const config_error& e, std::ostream* os) {
  *os << e.to_string() << " (column " << e.column << ")";
}

} // namespace sluice::config

namespace sluice::config::testing {

/// Every error in `text` as `sluice validate` reports it: a syntax error, or all validation
/// errors.
inline std::vector<config_error> errors_in(std::string_view text) {
  try {
    auto doc = load_string(text, "test.toml");
    return validate_pipeline(doc.root);
  } catch (const config_exception& e) {
    return e.errors();
  }
}

/// The errors as `key_path (line N): message` lines, for readable failures.
inline std::string show(const std::vector<config_error>& errors) {
  return format_errors(errors, "");
}

} // namespace sluice::config::testing
