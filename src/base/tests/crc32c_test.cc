#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/crc32c.h"

namespace sluice {
namespace {

// RFC 3720 (iSCSI), appendix B.4, and the "123456789" check value.
struct vector_case {
  std::vector<unsigned char> data;
  std::uint32_t expected;
};

std::vector<vector_case> standard_vectors() {
  std::vector<vector_case> v;
  v.push_back({std::vector<unsigned char>(32, 0x00), 0x8A9136AA});
  v.push_back({std::vector<unsigned char>(32, 0xFF), 0x62A8AB43});
  std::vector<unsigned char> inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<unsigned char>(i);
    dec[i] = static_cast<unsigned char>(31 - i);
  }
  v.push_back({inc, 0x46DD794E});
  v.push_back({dec, 0x113FDB5C});
  std::string check = "123456789";
  v.push_back({std::vector<unsigned char>(check.begin(), check.end()), 0xE3069283});
  v.push_back({{}, 0x00000000});
  return v;
}

TEST(crc32c, standard_vectors_hardware_or_default) {
  for (const auto& c : standard_vectors())
    EXPECT_EQ(crc32c(c.data.data(), c.data.size()), c.expected);
}

TEST(crc32c, standard_vectors_portable) {
  for (const auto& c : standard_vectors())
    EXPECT_EQ(crc32c_extend_portable(0, c.data.data(), c.data.size()), c.expected);
}

TEST(crc32c, uses_hardware_on_x86_with_sse42) {
#if defined(__x86_64__)
  EXPECT_EQ(crc32c_is_hardware(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#else
  EXPECT_FALSE(crc32c_is_hardware());
#endif
}

TEST(crc32c, extend_equals_whole_and_matches_portable_at_every_alignment) {
  std::mt19937 rng(7);
  std::vector<unsigned char> buf(10000);
  for (auto& b : buf)
    b = static_cast<unsigned char>(rng());
  for (std::size_t off = 0; off < 16; ++off) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 300u, 4096u, 9000u}) {
      const auto* p = buf.data() + off;
      auto whole = crc32c(p, len);
      EXPECT_EQ(whole, crc32c_extend_portable(0, p, len)) << off << " " << len;
      std::size_t cut = len / 3;
      EXPECT_EQ(whole, crc32c_extend(crc32c(p, cut), p + cut, len - cut));
    }
  }
}

} // namespace
} // namespace sluice
