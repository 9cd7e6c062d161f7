#pragma once

#include <optional>
#include <string>
#include <string_view>

/// Base64 (RFC 4648, the standard alphabet with padding), by OpenSSL's EVP_EncodeBlock and
/// EVP_DecodeBlock.
namespace sluice::io {

std::string base64_encode(std::string_view in);
/// The decoded bytes, or nothing when `in` is not padded base64 (a length that is not a multiple
/// of 4, a character outside the alphabet).
std::optional<std::string> base64_decode(std::string_view in);

} // namespace sluice::io
