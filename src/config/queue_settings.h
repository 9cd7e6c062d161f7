#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// The [queue] table's settings: the one enum, parser and default of each, shared by the
/// configuration, every queue backend and the tools (`sluice queue append --fsync`, the benches).
namespace sluice::config {

using std::chrono::nanoseconds;

enum class fsync_mode {
  always,   ///< an append returns once its records are durable (shared by concurrent appends)
  interval, ///< group commit: one fsync per interval; wait_durable() awaits it
  never,    ///< never synced by sluice (the OS writes back); readers see records once written
};

/// When appended records are made durable: `fsync = "always" | "never" | "10ms"`.
struct fsync_setting {
  fsync_mode mode = fsync_mode::interval;
  nanoseconds interval = std::chrono::milliseconds(10); ///< with fsync_mode::interval

  /// "always", "never" or a duration above zero ("10ms"); nullopt for anything else.
  static std::optional<fsync_setting> parse(std::string_view text);
  /// As the file writes it, and as parse() reads it back: "always", "never", "10ms".
  std::string text() const;
  bool operator==(const fsync_setting&) const = default;
};

/// What an append does when the queue is at its cap.
enum class when_full_mode {
  block,       ///< waits until subscriptions let records go (sources pause)
  drop_newest, ///< drops the records that do not fit and counts them
};

/// "block" or "drop_newest"; nullopt otherwise.
std::optional<when_full_mode> parse_when_full(std::string_view text);
std::string_view when_full_name(when_full_mode m) noexcept;

/// The largest `max_record_bytes` a source may have: a record is its payload in an envelope of at
/// most 64 KiB, and every backend holds records up to 1 GiB (the disk format's limit).
inline constexpr std::uint64_t k_max_record_bytes = 512ull << 20;

/// Where the queue lives.
enum class queue_backend {
  disk,       ///< the embedded segment log in DATA_DIR/queue
  redis,      ///< a Redis Stream shared by every instance pointed at it
  redis_list, ///< the seeds' reliable queue: a Redis work list and a busy list per consumer
};

/// "disk", "redis" or "redis-list"; nullopt otherwise.
std::optional<queue_backend> parse_queue_backend(std::string_view text);

/// `acks = "leader" | "replicas:N"`: the replicas (0 for "leader") that must hold an append
/// before it counts as safe; nullopt for anything else.
std::optional<unsigned> parse_acks(std::string_view text);

/// [queue]: the queue's settings, whichever backend holds it.
struct queue_config {
  queue_backend backend = queue_backend::disk;
  fsync_setting fsync;
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t max_disk = 0; ///< 0: no cap
  when_full_mode when_full = when_full_mode::block;
  std::uint64_t retain_bytes = 0;
  nanoseconds retain_age{0}; ///< 0: none
  // The Redis backend's (backend = "redis").
  std::string url;                      ///< redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
  std::string stream = "sluice:events"; ///< the stream's key
  std::string consumer;                 ///< this instance in every group; "": the host name
  nanoseconds claim_idle = std::chrono::seconds(30);
  std::uint64_t max_deliveries = 10;
  unsigned replicas = 0;     ///< acks = "replicas:N"; 0: "leader"
  std::uint64_t max_len = 0; ///< the stream's cap in entries; 0: none
  bool spill = false;        ///< spill = "disk": appends Redis refuses go to disk
  bool operator==(const queue_config&) const = default;
};

} // namespace sluice::config
