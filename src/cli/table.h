#pragma once

// Aligned text tables for the terminal verbs (`sluice ctl`, `sluice console`), and the number
// formats their cells share.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::cli {

/// Columns aligned under an optional header row. Cells are plain text: widths count UTF-8 code
/// points, and a cell holds no escape sequence or newline (a newline is shown as a space). A value
/// type, not thread-safe; render() does not change it.
class table {
public:
  /// A table with these column titles; with no titles, a table of rows only (one column per cell
  /// of the widest row) and no header row.
  explicit table(std::vector<std::string> header = {});

  /// Aligns column `column` to the right (numbers). Returns *this for chaining.
  table& align_right(std::size_t column);

  /// Cuts the cells of column `column` longer than `width` code points (at least 4) to
  /// width - 3 code points and "...". Returns *this for chaining.
  table& max_width(std::size_t column, std::size_t width);

  /// Adds a row. With a header, missing cells are empty and cells past the header are dropped.
  void add_row(std::vector<std::string> cells);

  std::size_t rows() const { return rows_.size(); }

  /// The header and the rows, one line each ending in '\n': each column as wide as its widest
  /// cell, columns two spaces apart, no trailing spaces. "" when there is neither header nor row.
  std::string render() const;

private:
  std::size_t columns() const;

  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
  std::vector<std::size_t> max_width_; // 0: no limit
};

/// "12,345": a count with thousands separators.
std::string format_count(std::uint64_t n);

/// "0/s", "2.5/s", "980/s", "12.3k/s": an event rate for a cell.
std::string format_rate(double per_second);

/// The number of UTF-8 code points in `text` (continuation bytes are not counted).
std::size_t display_width(const std::string& text);

} // namespace sluice::cli
