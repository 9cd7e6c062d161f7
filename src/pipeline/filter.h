#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/pipeline.h"
#include "queue/event.h"

namespace sluice::pipeline {

/// Decides which events a subscription delivers: by type, and by the values at a JSON field path
/// such as "entities.hashtags[].text" ("[]" walks every element of an array). Events filtered
/// out still advance the cursor. One thread at a time (it keeps a reusable JSON parser).
class event_filter {
public:
  explicit event_filter(const config::filter_config& cfg);
  ~event_filter();
  event_filter(const event_filter&) = delete;
  event_filter& operator=(const event_filter&) = delete;

  bool pass(const queue::event_view& e);

private:
  struct parser;
  std::vector<std::string> types_;
  std::vector<std::string> path_; ///< field path segments; "[]" marks an array walk
  std::vector<std::string> any_of_;
  std::unique_ptr<parser> parser_;
};

} // namespace sluice::pipeline
