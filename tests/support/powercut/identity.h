#pragma once

// How the power-loss simulator knows a file (shim.cc records it, support/powercut.h reads it).

#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>

namespace sluice::testing::powercut {

/// "INO-BTIME" of `name` relative to `dirfd` (not following a symlink; with `flags` =
/// AT_EMPTY_PATH and `name` "", of the open file `dirfd`): an inode number reused after an unlink
/// is another file. Empty when it cannot be read. `type` (when given) is set to 'd' for a
/// directory, 'f' for a regular file, 'l' for a symlink, '?' otherwise.
inline std::string identity(int dirfd, const char* name, char* type = nullptr,
                            int flags = AT_SYMLINK_NOFOLLOW) {
  struct statx st {};
  if (::statx(dirfd, name, flags, STATX_INO | STATX_BTIME | STATX_TYPE, &st) != 0)
    return {};
  if (type)
    *type = S_ISDIR(st.stx_mode)   ? 'd'
            : S_ISREG(st.stx_mode) ? 'f'
            : S_ISLNK(st.stx_mode) ? 'l'
                                   : '?';
  char out[96];
  std::snprintf(out, sizeof out, "%llu-%lld.%u", static_cast<unsigned long long>(st.stx_ino),
                static_cast<long long>(st.stx_btime.tv_sec), st.stx_btime.tv_nsec);
  return out;
}

} // namespace sluice::testing::powercut
