#include "sinks/sink.h"

#include <array>

namespace sluice::sinks {

namespace {

constexpr std::array<sink_count_field, 10> k_fields{{
    {"events_written", "Events a sink's target now holds.", &sink_counts::events_written},
    {"bytes_written", "Bytes a sink wrote (lines, or payload bytes).", &sink_counts::bytes_written},
    {"batches", "Sink writes that succeeded.", &sink_counts::batches},
    {"failures", "Sink writes that failed.", &sink_counts::failures},
    {"duplicates_skipped", "Redelivered events the target already held.",
     &sink_counts::duplicates_skipped},
    {"files_rotated", "Files an eventlog sink closed for a new one.", &sink_counts::files_rotated},
    {"payloads_altered", "Payloads an eventlog sink changed to fit a line.",
     &sink_counts::payloads_altered},
    {"recoveries", "Unconfirmed data a sink cut off after a crash or failure.",
     &sink_counts::recoveries},
    {"checkpoints", "WAL checkpoints a sqlite sink ran.", &sink_counts::checkpoints},
    {"checkpoint_failures", "WAL checkpoints of a sqlite sink that failed.",
     &sink_counts::checkpoint_failures},
}};

} // namespace

std::span<const sink_count_field> sink_count_fields() noexcept {
  return k_fields;
}

sink_counts& sink_counts::operator+=(const sink_counts& o) noexcept {
  for (const auto& f : k_fields)
    this->*f.member += o.*f.member;
  return *this;
}

sink_counts sink_counters::snapshot() const noexcept {
  sink_counts c;
  c.events_written = events_written.load(std::memory_order_relaxed);
  c.bytes_written = bytes_written.load(std::memory_order_relaxed);
  c.batches = batches.load(std::memory_order_relaxed);
  c.failures = failures.load(std::memory_order_relaxed);
  c.duplicates_skipped = duplicates_skipped.load(std::memory_order_relaxed);
  c.files_rotated = files_rotated.load(std::memory_order_relaxed);
  c.payloads_altered = payloads_altered.load(std::memory_order_relaxed);
  c.recoveries = recoveries.load(std::memory_order_relaxed);
  c.checkpoints = checkpoints.load(std::memory_order_relaxed);
  c.checkpoint_failures = checkpoint_failures.load(std::memory_order_relaxed);
  return c;
}

} // namespace sluice::sinks
