#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::config {

/// One problem in a configuration file, where it is.
struct config_error {
  std::string key_path; ///< "sources.firehose.reconnect"; empty for a TOML syntax error
  int line = 0;         ///< 1-based; 0 when the position is unknown
  int column = 0;       ///< 1-based; 0 when the position is unknown
  std::string message;

  /// `sources.firehose.reconnect (line 12): expected a duration such as "250ms", got "fast"`;
  /// a syntax error reads `line 3, column 7: ...`.
  std::string to_string() const;
  bool operator==(const config_error&) const = default;
};

/// Every error, one per line, each prefixed with `name: ` (the file's name) when not empty.
std::string format_errors(const std::vector<config_error>& errors, const std::string& name);

/// What the verbs print for an invalid file: format_errors(), then a count line
/// `NAME: N error(s)`, without a final newline.
std::string format_report(const std::vector<config_error>& errors, const std::string& name);

/// Thrown by configuration loading (exceptions are allowed there, STYLE habit 3): carries every
/// error found, not only the first. what() is format_errors(errors(), name()).
class config_exception : public std::runtime_error {
public:
  config_exception(std::string name, std::vector<config_error> errors);

  const std::string& name() const noexcept { return name_; }
  const std::vector<config_error>& errors() const noexcept { return errors_; }

private:
  std::string name_;
  std::vector<config_error> errors_;
};

} // namespace sluice::config
