#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "queue/queue.h"

/// Walking a segment file record by record, resynchronising past damage. Used by recovery, verify,
/// repair, and readers that meet a damaged record.
namespace sluice::queue::disk {

/// A valid record found by resynchronisation.
struct resync_point {
  std::uint64_t offset = 0;
  position pos = 0;
};

/// The first offset in [from, limit) of `fd` where a whole valid record with a position after
/// `after` starts, nothing when there is none. Reads the file in windows; memory stays bounded.
result<std::optional<resync_point>> find_next_valid(int fd, std::uint64_t from, std::uint64_t limit,
                                                    position after);

/// One damaged range met by a scan.
struct damaged_range {
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  position after = 0;  ///< last valid position before it
  position before = 0; ///< first valid position after it, 0 when it runs to the limit
  std::string reason;
};

struct scan_result {
  std::uint64_t records = 0;
  position first = 0;                 ///< first valid position, 0 when none
  position last = 0;                  ///< last valid position, 0 when none
  std::uint64_t end_offset = 0;       ///< just past the last valid record (or the start offset)
  std::vector<damaged_range> damages; ///< the last may run to the limit (a torn tail)
};

/// Scans [start, limit) of a segment file, calling `on_record` (when set) for each valid record
/// in order; payloads are valid only during the call. Positions must increase; a record whose
/// position does not is treated as damage.
result<scan_result>
scan_segment(int fd, std::uint64_t start, std::uint64_t limit, position after,
             const std::function<void(const record&, std::uint64_t offset)>& on_record = {});

} // namespace sluice::queue::disk
