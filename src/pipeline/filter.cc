#include "pipeline/filter.h"

#include <algorithm>
#include <simdjson.h>

namespace sluice::pipeline {

struct event_filter::parser {
  simdjson::dom::parser dom;
  simdjson::padded_string buf;
};

event_filter::event_filter(const config::filter_config& cfg)
    : types_(cfg.types), any_of_(cfg.any_of), parser_(std::make_unique<parser>()) {
  // "entities.hashtags[].text" -> entities, hashtags, [], text
  std::string seg;
  for (std::size_t i = 0; i <= cfg.field.size(); ++i) {
    if (i == cfg.field.size() || cfg.field[i] == '.') {
      if (!seg.empty())
        path_.push_back(seg);
      seg.clear();
    } else if (cfg.field.compare(i, 2, "[]") == 0) {
      if (!seg.empty())
        path_.push_back(seg);
      seg.clear();
      path_.emplace_back("[]");
      ++i;
    } else {
      seg += cfg.field[i];
    }
  }
}

event_filter::~event_filter() = default;

namespace {

bool match(simdjson::dom::element el, const std::vector<std::string>& path, std::size_t at,
           const std::vector<std::string>& any_of) {
  if (at == path.size()) {
    std::string_view s;
    if (el.get(s) == simdjson::SUCCESS)
      return std::find(any_of.begin(), any_of.end(), s) != any_of.end();
    return false;
  }
  if (path[at] == "[]") {
    simdjson::dom::array arr;
    if (el.get(arr) != simdjson::SUCCESS)
      return false;
    for (auto child : arr)
      if (match(child, path, at + 1, any_of))
        return true;
    return false;
  }
  simdjson::dom::object obj;
  if (el.get(obj) != simdjson::SUCCESS)
    return false;
  simdjson::dom::element child;
  if (obj.at_key(path[at]).get(child) != simdjson::SUCCESS)
    return false;
  return match(child, path, at + 1, any_of);
}

} // namespace

bool event_filter::pass(const queue::event_view& e) {
  if (!types_.empty() && std::find(types_.begin(), types_.end(), e.type) == types_.end())
    return false;
  if (path_.empty())
    return true;
  simdjson::dom::element root;
  if (parser_->dom.parse(e.payload.data(), e.payload.size(), true).get(root) != simdjson::SUCCESS)
    return false;
  return match(root, path_, 0, any_of_);
}

} // namespace sluice::pipeline
