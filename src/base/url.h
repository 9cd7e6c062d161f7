#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// Decodes a component of a URL query or of an application/x-www-form-urlencoded body: `%XX`
/// becomes the byte XX, `+` a space. Nothing when a `%` is not followed by two hex digits.
std::optional<std::string> url_decode(std::string_view s);

/// As url_decode, but a `%` not followed by two hex digits is kept as it is, never an error.
std::string url_decode_lenient(std::string_view s);

} // namespace sluice
