#include "cli/table.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace sluice::cli {
namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// `text` cut to `width` code points with "..." when longer.
std::string cut(const std::string& text, std::size_t width) {
  if (width == 0 || display_width(text) <= width)
    return text;
  std::size_t keep = width - 3;
  std::size_t i = 0;
  for (std::size_t points = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i]) && points++ == keep)
      break;
  }
  return text.substr(0, i) + "...";
}

std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

} // namespace

std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation(c); }));
}

table::table(std::vector<std::string> header) : header_(std::move(header)) {}

table& table::align_right(std::size_t column) {
  if (right_.size() <= column)
    right_.resize(column + 1, false);
  right_[column] = true;
  return *this;
}

table& table::max_width(std::size_t column, std::size_t width) {
  if (max_width_.size() <= column)
    max_width_.resize(column + 1, 0);
  max_width_[column] = std::max<std::size_t>(width, 4);
  return *this;
}

void table::add_row(std::vector<std::string> cells) {
  if (!header_.empty())
    cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

std::size_t table::columns() const {
  std::size_t n = header_.size();
  for (const auto& row : rows_)
    n = std::max(n, row.size());
  return n;
}

std::string table::render() const {
  std::size_t n = columns();
  // The cells as they will be shown, header first.
  std::vector<std::vector<std::string>> lines;
  if (!header_.empty())
    lines.push_back(header_);
  for (const auto& row : rows_) {
    std::vector<std::string> shown;
    for (std::size_t c = 0; c < row.size(); ++c)
      shown.push_back(cut(one_line(row[c]), c < max_width_.size() ? max_width_[c] : 0));
    lines.push_back(std::move(shown));
  }
  std::vector<std::size_t> width(n, 0);
  for (const auto& line : lines)
    for (std::size_t c = 0; c < line.size(); ++c)
      width[c] = std::max(width[c], display_width(line[c]));

  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t c = 0; c < n; ++c) {
      const std::string empty;
      const std::string& cell = c < line.size() ? line[c] : empty;
      std::string pad(width[c] - display_width(cell), ' ');
      if (c > 0)
        text += "  ";
      bool right = c < right_.size() && right_[c];
      text += right ? pad + cell : cell + pad;
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out += text;
    out += '\n';
  }
  return out;
}

std::string format_count(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_rate(double per_second) {
  if (!(per_second > 0))
    return "0/s";
  if (per_second < 10)
    return fmt::format("{:.1f}/s", per_second);
  if (per_second < 10000)
    return fmt::format("{:.0f}/s", per_second);
  return fmt::format("{:.1f}k/s", per_second / 1000);
}

} // namespace sluice::cli
