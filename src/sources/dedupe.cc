#include "sources/dedupe.h"

#include <chrono>
#include <cstring>

#include "queue/event.h"

namespace sluice::sources {

void dedupe_window::add(std::string_view id) {
  if (capacity_ == 0)
    return;
  std::string key(id);
  if (index_.contains(key))
    return;
  if (order_.size() >= capacity_) {
    index_.erase(order_.front());
    order_.pop_front();
  }
  index_.insert(key);
  order_.push_back(std::move(key));
}

bool dedupe_window::insert(std::string_view id) {
  if (contains(id))
    return false;
  add(id);
  return true;
}

id_extractor::id_extractor(std::string field) {
  std::string_view rest(field);
  while (!rest.empty()) {
    auto dot = rest.find('.');
    path_.emplace_back(rest.substr(0, dot));
    rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
  }
}

bool id_extractor::extract(std::string_view record, std::string& id) {
  if (path_.empty())
    return false;
  std::size_t need = record.size() + simdjson::SIMDJSON_PADDING;
  if (padded_.size() < need)
    padded_.resize(need);
  std::memcpy(padded_.data(), record.data(), record.size());
  simdjson::dom::element e;
  if (parser_.parse(padded_.data(), record.size(), false).get(e) != simdjson::SUCCESS)
    return false;
  for (const auto& key : path_) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS)
      return false;
    if (obj.at_key(key).get(e) != simdjson::SUCCESS)
      return false;
  }
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    id.assign(s);
    return true;
  }
  if (e.is_number()) {
    id = simdjson::minify(e);
    return true;
  }
  return false;
}

result<std::size_t> seed_from_queue(dedupe_window& window, queue::queue& q, std::string_view source,
                                    id_extractor& ids, std::uint64_t scan_records) {
  queue::position last = q.durable_watermark();
  if (last == 0 || window.capacity() == 0)
    return std::size_t{0};
  queue::position first = last > scan_records ? last - scan_records + 1 : 1;
  auto reader = q.open_reader(queue::start_at::at(first));
  if (!reader)
    return fail(reader.error());
  std::size_t added = 0;
  std::string id;
  queue::batch b;
  for (;;) {
    auto r = (*reader)->read(b, {4096, 4u << 20}, std::chrono::milliseconds(0));
    if (!r) {
      if (r.error() == queue::errc::timed_out)
        break;
      return fail(r.error());
    }
    bool done = false;
    for (const auto& rec : b.records) {
      if (rec.pos > last) {
        done = true;
        break;
      }
      auto ev = queue::decode_event(rec);
      if (!ev || ev->source != source)
        continue;
      if (ids.extract(ev->payload, id)) {
        window.add(id);
        ++added;
      }
    }
    if (done || b.records.empty())
      break;
  }
  return added;
}

} // namespace sluice::sources
