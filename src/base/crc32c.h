#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sluice {

/// CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, reflected). `crc32c_extend(0, ...)` starts
/// a new checksum; pass the previous result to continue it over more bytes. Uses the SSE4.2 `crc32`
/// instruction when the CPU has it, a table otherwise. Thread-safe; allocates nothing.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

inline std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return crc32c_extend(0, data, size);
}
inline std::uint32_t crc32c(std::string_view s) noexcept {
  return crc32c(s.data(), s.size());
}

/// The portable implementation, exposed so tests can check both against the same vectors.
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data,
                                     std::size_t size) noexcept;

/// Whether crc32c_extend uses the hardware instruction on this machine.
bool crc32c_is_hardware() noexcept;

} // namespace sluice
