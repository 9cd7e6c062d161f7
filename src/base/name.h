#pragma once

#include <string_view>

namespace sluice {

/// The one rule for the name of a source, a subscription or a task, wherever it is checked (the
/// configuration, the API, the queue's cursor files): 1 to 128 of A-Z a-z 0-9 _ . -, not
/// starting with '.' (a name becomes a file name: "." and ".." and hidden files are out).
bool valid_name(std::string_view name) noexcept;

/// The rule in words, for messages and the docs.
inline constexpr std::string_view k_name_rule =
    "1 to 128 of A-Z a-z 0-9 _ . -, not starting with '.'";

} // namespace sluice
