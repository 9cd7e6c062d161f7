#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice::config {

/// Levenshtein distance between `a` and `b` (insertions, deletions, substitutions).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate `word` was most likely meant to be: a case-insensitive match first, else the
/// closest within edit distance 2 (and shorter than `word` itself, so "x" suggests nothing).
/// nullopt when none is close.
std::optional<std::string> closest(std::string_view word, std::span<const std::string> candidates);

} // namespace sluice::config
