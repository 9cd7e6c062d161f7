#include "base/units.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace sluice {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// Splits "1.5 GiB" into 1.5 and "GiB".
bool split_number(std::string_view text, double& number, std::string_view& suffix) {
  text = trim(text);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0)
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i || !(number >= 0))
    return false;
  suffix = trim(text.substr(i));
  return true;
}

} // namespace

result<std::uint64_t> parse_size(std::string_view text) {
  double n = 0;
  std::string_view suffix;
  if (!split_number(text, n, suffix))
    return fail(std::make_error_code(std::errc::invalid_argument));
  struct unit {
    std::string_view name;
    double factor;
  };
  static constexpr unit units[] = {
      {"", 1},
      {"B", 1},
      {"KiB", 1024.0},
      {"MiB", 1048576.0},
      {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"TB", 1e12},
      {"K", 1024.0},
      {"M", 1048576.0},
      {"G", 1073741824.0},
  };
  for (const auto& u : units) {
    if (suffix == u.name) {
      double v = n * u.factor;
      if (v > 1.8e19)
        return fail(std::make_error_code(std::errc::result_out_of_range));
      return static_cast<std::uint64_t>(std::llround(v));
    }
  }
  return fail(std::make_error_code(std::errc::invalid_argument));
}

result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  double n = 0;
  std::string_view suffix;
  if (!split_number(text, n, suffix))
    return fail(std::make_error_code(std::errc::invalid_argument));
  struct unit {
    std::string_view name;
    double ns;
  };
  static constexpr unit units[] = {
      {"ns", 1},   {"us", 1e3},   {"ms", 1e6},   {"s", 1e9},
      {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"d", 86400e9},
  };
  for (const auto& u : units) {
    if (suffix == u.name) {
      double v = n * u.ns;
      if (v > 9.2e18)
        return fail(std::make_error_code(std::errc::result_out_of_range));
      return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(v)));
    }
  }
  return fail(std::make_error_code(std::errc::invalid_argument));
}

std::string format_duration(std::chrono::nanoseconds d) {
  struct unit {
    const char* name;
    std::int64_t ns;
  };
  static constexpr unit units[] = {{"d", 86400'000'000'000}, {"h", 3600'000'000'000},
                                   {"m", 60'000'000'000},    {"s", 1'000'000'000},
                                   {"ms", 1'000'000},        {"us", 1'000}};
  const auto n = d.count();
  for (const auto& u : units)
    if (n != 0 && n % u.ns == 0)
      return fmt::format("{}{}", n / u.ns, u.name);
  return fmt::format("{}ns", n);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  if (i == 0)
    return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, names[i]);
}

} // namespace sluice
