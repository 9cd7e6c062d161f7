#include "sources/record_check.h"

#include <cstring>

#include "sources/dedupe.h"

namespace sluice::sources {

std::string_view reason_name(reason r) noexcept {
  switch (r) {
  case reason::too_long:
    return "too_long";
  case reason::not_utf8:
    return "not_utf8";
  case reason::invalid_json:
    return "invalid_json";
  }
  return "unknown";
}

record_check::record_check(config::record_format format, std::string default_type)
    : format_(format), default_type_(std::move(default_type)) {}

void record_check::key_by(std::string_view field) {
  keyed_ = true;
  key_path_ = split_field_path(field);
}

verdict record_check::check(std::string_view record) {
  if (format_ == config::record_format::lines) {
    if (!simdjson::validate_utf8(record.data(), record.size()))
      return {false, reason::not_utf8, {}};
    verdict v{true, reason::invalid_json, default_type_};
    if (keyed_) {
      content_key(record, key_);
      v.key = key_;
    }
    return v;
  }

  std::size_t need = record.size() + simdjson::SIMDJSON_PADDING;
  if (padded_.size() < need)
    padded_.resize(need);
  std::memcpy(padded_.data(), record.data(), record.size());
  simdjson::dom::element doc;
  // The parse checks UTF-8 too (its first stage), and says so apart from bad JSON.
  if (auto e = parser_.parse(padded_.data(), record.size(), false).get(doc); e != simdjson::SUCCESS)
    return {false, e == simdjson::UTF8_ERROR ? reason::not_utf8 : reason::invalid_json, {}};

  verdict v{true, reason::invalid_json, default_type_};
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) == simdjson::SUCCESS && obj.size() == 1) {
    for (auto field : obj) {
      if (field.value.is_object() && !field.key.empty()) {
        v.type = field.key;
        std::int64_t track = 0;
        if (field.key == "limit" &&
            field.value["track"].get_int64().get(track) == simdjson::SUCCESS)
          v.limit_track = track;
      }
    }
  }
  if (keyed_) {
    v.key_is_id = field_key(doc, key_path_, key_);
    if (!v.key_is_id)
      content_key(record, key_);
    v.key = key_;
  }
  return v;
}

} // namespace sluice::sources
