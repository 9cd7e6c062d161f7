#include "sources/dedupe.h"

#include <chrono>
#include <cstring>

#include "queue/event.h"

namespace sluice::sources {
namespace {

constexpr std::size_t k_max_plain_key = dedupe_window::k_max_key;
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

std::uint32_t dedupe_window::hash_of(std::string_view key) noexcept {
  std::uint64_t h = std::hash<std::string_view>{}(key);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

bool dedupe_window::same(const entry& e, std::uint32_t h, std::string_view key) const noexcept {
  return e.hash == h && e.length == key.size() && std::memcmp(e.bytes, key.data(), key.size()) == 0;
}

bool dedupe_window::contains(std::string_view key) const {
  if (key.size() > k_max_key) { // as insert() holds it
    std::string hashed;
    content_key(key, hashed);
    return contains(hashed);
  }
  return holds(key, hash_of(key));
}

bool dedupe_window::holds(std::string_view key, std::uint32_t h) const noexcept {
  if (index_.empty())
    return false;
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = h & mask; index_[i].ring != 0; i = (i + 1) & mask)
    if (index_[i].hash == h && same(ring_[index_[i].ring - 1], h, key))
      return true;
  return false;
}

void dedupe_window::add(std::string_view key) {
  (void)insert(key);
}

// On every event's intake path: one probe sequence for a key already held; for a new one, the
// oldest key's removal (once full) and one more probe to place it.
bool dedupe_window::insert(std::string_view key) {
  if (capacity_ == 0)
    return true;
  if (key.size() > k_max_key) { // not made by field_key()/content_key(): hash it to fit
    std::string hashed;
    content_key(key, hashed);
    return insert(hashed);
  }
  const std::uint32_t h = hash_of(key);
  if (holds(key, h))
    return false;
  std::uint32_t at;
  if (ring_.size() < capacity_) {
    if (2 * (size_ + 1) > index_.size())
      grow();
    at = static_cast<std::uint32_t>(ring_.size());
    ring_.emplace_back();
    ++size_;
  } else {
    at = static_cast<std::uint32_t>(oldest_);
    erase_slot(slot_of(at));
    oldest_ = (oldest_ + 1) % capacity_;
  }
  entry& e = ring_[at];
  e.hash = h;
  e.length = static_cast<std::uint8_t>(key.size());
  std::memcpy(e.bytes, key.data(), key.size());
  place(e.hash, at);
  return true;
}

std::size_t dedupe_window::slot_of(std::uint32_t ring) const noexcept {
  const std::size_t mask = index_.size() - 1;
  std::size_t i = ring_[ring].hash & mask;
  while (index_[i].ring != ring + 1)
    i = (i + 1) & mask;
  return i;
}

void dedupe_window::place(std::uint32_t h, std::uint32_t ring) noexcept {
  const std::size_t mask = index_.size() - 1;
  std::size_t i = h & mask;
  while (index_[i].ring != 0)
    i = (i + 1) & mask;
  index_[i] = {h, ring + 1};
}

// Backward-shift deletion: the slots after `i` in its probe run move up when their own probe
// start is not between `i` and them, so that no lookup meets a hole before its key.
void dedupe_window::erase_slot(std::size_t i) noexcept {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t j = (i + 1) & mask; index_[j].ring != 0; j = (j + 1) & mask) {
    std::size_t home = index_[j].hash & mask;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = slot{};
}

void dedupe_window::grow() {
  std::size_t n = index_.empty() ? 64 : index_.size() * 2;
  index_.assign(n, slot{});
  for (std::uint32_t r = 0; r < ring_.size(); ++r)
    place(ring_[r].hash, r);
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
