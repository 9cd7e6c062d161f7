#pragma once

#include <string>
#include <string_view>

namespace sluice {

/// Appends `text` to `out` as a JSON string: in quotes, with `"`, `\` and the control characters
/// (U+0000..U+001F, and DEL) escaped, and every byte that is not part of valid UTF-8 replaced with
/// U+FFFD, so the result is always valid JSON. Runs of plain ASCII are copied whole.
void append_json_string(std::string& out, std::string_view text);

} // namespace sluice
