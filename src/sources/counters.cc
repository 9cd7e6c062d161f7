#include "sources/counters.h"

namespace sluice::sources {
namespace {

template <std::atomic<std::uint64_t> counters::*M> std::uint64_t load(const counters& c) noexcept {
  return (c.*M).load(std::memory_order_relaxed);
}
template <reason R> std::uint64_t rejected(const counters& c) noexcept {
  return c.rejected_by(R);
}
template <io::disconnect_reason R> std::uint64_t disconnects(const counters& c) noexcept {
  return c.disconnects_by(R);
}

constexpr const char* k_rejected_help =
    "Records a source set aside in its dead-letter file, by reason.";
constexpr const char* k_disconnects_help =
    "Failed attempts and lost connections of a source, by reason.";

using sc = source_counts;
using io::disconnect_reason;

constexpr source_count_field k_fields[] = {
    {"events", "events", "", "Events a source appended to the queue.", &sc::records,
     load<&counters::records>},
    {"bytes", "bytes", "", "Payload bytes a source appended.", &sc::bytes, load<&counters::bytes>},
    {"rejected_too_long", "rejected", "too_long", k_rejected_help, &sc::rejected_too_long,
     rejected<reason::too_long>},
    {"rejected_not_utf8", "rejected", "not_utf8", k_rejected_help, &sc::rejected_not_utf8,
     rejected<reason::not_utf8>},
    {"rejected_invalid_json", "rejected", "invalid_json", k_rejected_help,
     &sc::rejected_invalid_json, rejected<reason::invalid_json>},
    {"dropped_at_cap", "dropped_at_cap", "",
     "Records the queue dropped at its disk cap (when_full = \"drop_newest\").",
     &sc::dropped_at_cap, load<&counters::dropped_at_cap>},
    {"truncated", "truncated", "", "Partial records lost when a connection or input ended.",
     &sc::truncated, load<&counters::truncated>},
    {"append_failures", "append_failures", "",
     "Queue appends of a source that failed (the records were retried).", &sc::append_failures,
     load<&counters::append_failures>},
    {"dead_letter_failures", "dead_letter_failures", "",
     "Rejected records a source could not write to its dead-letter file.",
     &sc::dead_letter_failures, load<&counters::dead_letter_failures>},
    {"connects", "connects", "", "Connections a source made or accepted.", &sc::connects,
     load<&counters::connects>},
    {"reconnects", "reconnects", "", "Connection attempts of a source after its first.",
     &sc::reconnects, load<&counters::reconnects>},
    {"connect_failures", "connect_failures", "", "Connection attempts of a source that failed.",
     &sc::connect_failures, load<&counters::connect_failures>},
    {"acks", "acks", "", "Ack lines a listen source wrote to its pushers.", &sc::acks,
     load<&counters::acks>},
    {"duplicates", "duplicates", "", "Events an http source dropped as duplicates (dedupe_field).",
     &sc::duplicates, load<&counters::duplicates>},
    {"switches", "switches", "",
     "Connections an http source replaced after a change of its request.", &sc::switches,
     load<&counters::switches>},
    {"backfill_stalls", "backfill_stalls", "",
     "Connections of an http source that ended having brought only events already queued (its "
     "backfill is halved for the next one).",
     &sc::backfill_stalls, load<&counters::backfill_stalls>},
    {"disconnects_network", "disconnects", "network", k_disconnects_help, &sc::disconnects_network,
     disconnects<disconnect_reason::network>},
    {"disconnects_http_error", "disconnects", "http_error", k_disconnects_help,
     &sc::disconnects_http_error, disconnects<disconnect_reason::http_error>},
    {"disconnects_rate_limited", "disconnects", "rate_limited", k_disconnects_help,
     &sc::disconnects_rate_limited, disconnects<disconnect_reason::rate_limited>},
    {"disconnects_fatal", "disconnects", "fatal", k_disconnects_help, &sc::disconnects_fatal,
     disconnects<disconnect_reason::fatal>},
    {"disconnects_stall", "disconnects", "stall", k_disconnects_help, &sc::disconnects_stall,
     disconnects<disconnect_reason::stall>},
    {"limit_notices", "limit_notices", "", "Limit notices a source received.", &sc::limit_notices,
     load<&counters::limit_notices>},
};

static_assert(sizeof(k_fields) / sizeof(k_fields[0]) ==
                  sizeof(source_counts) / sizeof(std::uint64_t),
              "every member of source_counts has its field");

} // namespace

std::span<const source_count_field> source_count_fields() noexcept {
  return k_fields;
}

source_counts& source_counts::operator+=(const source_counts& o) noexcept {
  for (const auto& f : k_fields)
    this->*f.member += o.*f.member;
  return *this;
}

source_counts counters::snapshot() const noexcept {
  source_counts c;
  for (const auto& f : k_fields)
    c.*f.member = f.load(*this);
  return c;
}

} // namespace sluice::sources
