#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sluice::api {

/// The API token in `path`, its surrounding whitespace trimmed. When the file does not exist it
/// is created (exclusively, mode 0600) with 32 random bytes from the kernel as 64 hex digits.
/// An empty or unreadable file is an error, with `error` naming the file and why. Blocks on
/// file I/O; for start-up.
result<std::string> load_or_create_token(const std::filesystem::path& path, std::string& error);

/// Whether an Authorization header value is "Bearer TOKEN" for `token`, compared in constant
/// time for the token's length.
bool bearer_matches(std::string_view authorization, std::string_view token) noexcept;

} // namespace sluice::api
