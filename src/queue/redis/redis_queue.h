#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "config/queue_settings.h"
#include "io/redis.h"
#include "queue/queue.h"

// The Redis backend (`[queue] backend = "redis"`): the queue is a Redis Stream many sluice
// instances share. Appends are pipelined XADDs from one writer thread (concurrent appends share a
// pipeline, as they share an fsync on disk); a subscription is a consumer group, this instance one
// consumer of it; commit() is an XACK of what this consumer read. See docs/queue-format.md,
// "Redis streams", for the entries and the position mapping.
namespace sluice::queue::redis {

struct options {
  io::redis::endpoint at;
  std::string stream = "sluice:events";
  /// This instance's name in every consumer group (its host name unless configured).
  std::string consumer;
  /// Entries pending this long on another consumer are taken over.
  std::chrono::milliseconds claim_idle{30000};
  /// An entry delivered more often than this goes to the dead-letter stream STREAM:dead.
  std::uint64_t max_deliveries = 10;
  /// 0: an append is safe once the primary has it; N: once N replicas have it too (WAIT N).
  unsigned replicas = 0;
  std::chrono::milliseconds replica_timeout{1000};
  /// The stream's cap in entries (0: none): XADD trims to about this many with `MAXLEN ~`.
  std::uint64_t max_len = 0;
  config::when_full_mode when_full = config::when_full_mode::block;
  /// Entries every group passed are kept while younger than this (0: trimmed at once).
  std::chrono::nanoseconds retain_age{0};
  /// Connect, read and write timeout of each command (a blocking read adds its own wait).
  std::chrono::milliseconds timeout{2000};
  std::size_t max_record_bytes = 1u << 20;
  /// The list backend (list_queue.h) rather than a stream.
  bool list = false;
};

/// The options a configuration's [queue] table gives (backend = "redis").
options options_of(const config::queue_config& q, std::size_t max_record_bytes);

/// Opens the queue: connects (failing with the connect error when Redis cannot be reached at
/// all, `error_detail` saying where), creates nothing until the first append or subscribe.
result<std::unique_ptr<queue>> open(const options& opts, std::string* error_detail);

} // namespace sluice::queue::redis
