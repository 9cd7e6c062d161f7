#include "sources/dedupe.h"

#include <chrono>
#include <cstring>

#include "queue/event.h"

namespace sluice::sources {
namespace {

constexpr std::size_t k_max_plain_key = 64;
constexpr char k_hashed_marker = '\x01';

std::uint64_t fnv1a(std::string_view bytes) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace

void dedupe_window::add(std::string_view key) {
  (void)insert(key);
}

// On every event's intake path: one hash lookup for a key already held, one more (the index's
// insert) for a new one.
bool dedupe_window::insert(std::string_view key) {
  if (capacity_ == 0)
    return true;
  if (index_.contains(key))
    return false;
  if (order_.size() >= capacity_) {
    index_.erase(order_.front());
    order_.pop_front();
  }
  order_.emplace_back(key);
  index_.insert(order_.back());
  return true;
}

std::vector<std::string> split_field_path(std::string_view field) {
  std::vector<std::string> path;
  while (!field.empty()) {
    auto dot = field.find('.');
    path.emplace_back(field.substr(0, dot));
    field.remove_prefix(dot == std::string_view::npos ? field.size() : dot + 1);
  }
  return path;
}

void content_key(std::string_view bytes, std::string& key) {
  std::uint64_t a = std::hash<std::string_view>{}(bytes);
  std::uint64_t b = fnv1a(bytes);
  key.assign(1, k_hashed_marker);
  key.append(reinterpret_cast<const char*>(&a), sizeof a);
  key.append(reinterpret_cast<const char*>(&b), sizeof b);
}

bool field_key(simdjson::dom::element e, const std::vector<std::string>& path, std::string& key) {
  if (path.empty())
    return false;
  for (const auto& name : path) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS)
      return false;
    if (obj.at_key(name).get(e) != simdjson::SUCCESS)
      return false;
  }
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS)
    key.assign(s);
  else if (e.is_number())
    key = simdjson::minify(e);
  else
    return false;
  if (key.size() > k_max_plain_key || (!key.empty() && key[0] == k_hashed_marker)) {
    std::string raw = std::move(key);
    content_key(raw, key);
  }
  return true;
}

bool key_extractor::extract(std::string_view record, std::string& id) {
  if (path_.empty())
    return false;
  std::size_t need = record.size() + simdjson::SIMDJSON_PADDING;
  if (padded_.size() < need)
    padded_.resize(need);
  std::memcpy(padded_.data(), record.data(), record.size());
  simdjson::dom::element e;
  if (parser_.parse(padded_.data(), record.size(), false).get(e) != simdjson::SUCCESS)
    return false;
  return field_key(e, path_, id);
}

void key_extractor::key(std::string_view record, std::string& key) {
  if (!extract(record, key))
    content_key(record, key);
}

result<std::size_t> seed_from_queue(dedupe_window& window, queue::queue& q, std::string_view source,
                                    key_extractor& keys, std::uint64_t scan_records) {
  queue::position last = q.durable_watermark();
  if (last == 0 || window.capacity() == 0)
    return std::size_t{0};
  queue::position first = last > scan_records ? last - scan_records + 1 : 1;
  auto reader = q.open_reader(queue::start_at::at(first));
  if (!reader)
    return fail(reader.error());
  std::size_t added = 0;
  std::string key;
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
      keys.key(ev->payload, key);
      window.add(key);
      ++added;
    }
    if (done || b.records.empty())
      break;
  }
  return added;
}

} // namespace sluice::sources
