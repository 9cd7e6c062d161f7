#include "sinks/sink.h"

#include <array>

namespace sluice::sinks {

namespace {

constexpr std::array<sink_count_field, 10> k_fields{{
    {"events_written", "Events a sink's target now holds.", &sink_counts::events_written,
     &sink_counters::events_written},
    {"bytes_written", "Bytes a sink wrote (lines, or payload bytes).", &sink_counts::bytes_written,
     &sink_counters::bytes_written},
    {"batches", "Sink writes that succeeded.", &sink_counts::batches, &sink_counters::batches},
    {"failures", "Sink writes that failed.", &sink_counts::failures, &sink_counters::failures},
    {"duplicates_skipped", "Redelivered events the target already held.",
     &sink_counts::duplicates_skipped, &sink_counters::duplicates_skipped},
    {"files_rotated", "Files an eventlog sink closed for a new one.", &sink_counts::files_rotated,
     &sink_counters::files_rotated},
    {"payloads_altered", "Payloads an eventlog sink changed to fit a line.",
     &sink_counts::payloads_altered, &sink_counters::payloads_altered},
    {"recoveries", "Unconfirmed data a sink cut off after a crash or failure.",
     &sink_counts::recoveries, &sink_counters::recoveries},
    {"checkpoints", "WAL checkpoints a sqlite sink ran.", &sink_counts::checkpoints,
     &sink_counters::checkpoints},
    {"checkpoint_failures", "WAL checkpoints of a sqlite sink that failed.",
     &sink_counts::checkpoint_failures, &sink_counters::checkpoint_failures},
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
  for (const auto& f : k_fields)
    c.*f.member = (this->*f.counter).load(std::memory_order_relaxed);
  return c;
}

} // namespace sluice::sinks
