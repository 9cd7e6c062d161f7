#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "queue/event.h"

namespace sluice::sinks::testing {

/// Events with owned strings, and views of them as a sink receives them.
class event_batch {
public:
  /// Events with ids first, first+step, ...; payload {"n":ID} unless `payload_bytes` asks for a
  /// padded one of that size.
  static event_batch make(queue::position first, std::size_t count, std::size_t step = 1,
                          std::size_t payload_bytes = 0) {
    event_batch b;
    for (std::size_t i = 0; i < count; ++i) {
      auto id = first + i * step;
      std::string p = "{\"n\":" + std::to_string(id);
      if (payload_bytes > p.size() + 8) {
        p += ",\"pad\":\"";
        p.append(payload_bytes - p.size() - 2, 'x');
        p += '"';
      }
      p += '}';
      b.add(id, 1700000000123456789 + static_cast<std::int64_t>(id), "fh", "tweet", p);
    }
    return b;
  }

  void add(queue::position id, std::int64_t received_ns, std::string source, std::string type,
           std::string payload) {
    owned_.push_back({id, received_ns, std::move(source), std::move(type), std::move(payload)});
  }

  std::vector<queue::event_view> views() const {
    std::vector<queue::event_view> v;
    for (const auto& o : owned_)
      v.push_back({o.id, o.received_ns, o.source, o.type, {}, o.payload});
    return v;
  }
  /// Views of events [from, to).
  std::vector<queue::event_view> views(std::size_t from, std::size_t to) const {
    auto v = views();
    return {v.begin() + static_cast<std::ptrdiff_t>(from),
            v.begin() + static_cast<std::ptrdiff_t>(to)};
  }
  std::size_t size() const { return owned_.size(); }
  const std::string& payload(std::size_t i) const { return owned_[i].payload; }

private:
  struct owned {
    queue::position id;
    std::int64_t received_ns;
    std::string source, type, payload;
  };
  std::vector<owned> owned_;
};

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::vector<std::string> lines;
  std::istringstream in(read_all(p));
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  return lines;
}

} // namespace sluice::sinks::testing
