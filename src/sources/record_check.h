#pragma once

#include <simdjson.h>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline.h"
#include "sources/counters.h"

namespace sluice::sources {

/// The outcome of checking one record.
struct verdict {
  bool accepted = false;
  reason why = reason::invalid_json; ///< when not accepted
  /// When accepted: the event type. Points into the record or into the checker, valid until the
  /// next check().
  std::string_view type;
  /// A limit notice ({"limit":{"track":N}}): N, the events the API skipped so far on this
  /// connection (cumulative); -1 otherwise.
  std::int64_t limit_track = -1;
  /// When accepted and keys are on (record_check::key_by): the record's dedupe key (see
  /// dedupe.h). Points into the checker, valid until the next check().
  std::string_view key;
  /// The key is the record's own id (the dedupe field), not a hash of its text: a repeat of it is
  /// the same event for certain, where two notices may share a text by chance.
  bool key_is_id = false;
};

/// Validates records and gives them their event type. Every record must be valid UTF-8; with
/// format "json" it must also be one valid JSON document (simdjson). A JSON object with exactly
/// one key whose value is an object is a control message typed by that key (`delete`, `limit`,
/// ...); anything else gets `default_type`. Reuses one parser and one padded buffer: no
/// allocation per record once they have grown. Not thread-safe: one per byte stream.
class record_check {
public:
  record_check(config::record_format format, std::string default_type);

  /// Gives each accepted record its dedupe key: the value at `field` (a dotted path) or, for a
  /// record without it or with format "lines", the hash of its bytes.
  void key_by(std::string_view field);

  verdict check(std::string_view record);

private:
  config::record_format format_;
  std::string default_type_;
  bool keyed_ = false;
  std::vector<std::string> key_path_;
  std::string key_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

} // namespace sluice::sources
