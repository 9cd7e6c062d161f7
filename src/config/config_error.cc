#include "config/config_error.h"

#include <fmt/format.h>

namespace sluice::config {

std::string config_error::to_string() const {
  if (key_path.empty()) {
    if (line == 0)
      return message;
    if (column == 0)
      return fmt::format("line {}: {}", line, message);
    return fmt::format("line {}, column {}: {}", line, column, message);
  }
  if (line == 0)
    return fmt::format("{}: {}", key_path, message);
  return fmt::format("{} (line {}): {}", key_path, line, message);
}

std::string format_errors(const std::vector<config_error>& errors, const std::string& name) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty())
      out += '\n';
    if (!name.empty())
      out += name + ": ";
    out += e.to_string();
  }
  return out;
}

std::string format_report(const std::vector<config_error>& errors, const std::string& name) {
  auto text = format_errors(errors, name);
  if (!text.empty())
    text += '\n';
  return text + name + ": " + std::to_string(errors.size()) +
         (errors.size() == 1 ? " error" : " errors");
}

config_exception::config_exception(std::string name, std::vector<config_error> errors)
    : std::runtime_error(format_errors(errors, name)), name_(std::move(name)),
      errors_(std::move(errors)) {}

} // namespace sluice::config
