#include "daemon/state_file.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/json_string.h"
#include "base/log.h"
#include "base/file.h"

namespace sluice::daemon {
namespace {

namespace fs = std::filesystem;

/// The fields that make a write: everything but the counters.
bool same_states(const std::vector<source_entry>& a, const std::vector<source_entry>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].type != b[i].type || a[i].state != b[i].state ||
        a[i].last_error != b[i].last_error)
      return false;
  return true;
}

} // namespace

std::vector<source_entry> source_entries(const pipeline::pipeline_status& st) {
  std::vector<source_entry> out;
  out.reserve(st.sources.size());
  for (const auto& s : st.sources)
    out.push_back(source_entry{s.name, s.type, std::string(sources::state_name(s.state)),
                               s.last_error, s.counts.records, s.counts.connects});
  return out;
}

std::string source_states_json(const source_states& s) {
  std::string text =
      fmt::format("{{\"pid\":{},\"updated_at\":{},\"sources\":[", s.pid, s.updated_at);
  for (std::size_t i = 0; i < s.sources.size(); ++i) {
    const auto& e = s.sources[i];
    text += i == 0 ? "{\"name\":" : ",{\"name\":";
    append_json_string(text, e.name);
    text += ",\"type\":";
    append_json_string(text, e.type);
    text += ",\"state\":";
    append_json_string(text, e.state);
    text += ",\"last_error\":";
    append_json_string(text, e.last_error);
    text += fmt::format(",\"records\":{},\"connects\":{}}}", e.records, e.connects);
  }
  text += "],\"api\":[";
  for (std::size_t i = 0; i < s.api.size(); ++i) {
    text += i == 0 ? "" : ",";
    append_json_string(text, s.api[i]);
  }
  text += "]}\n";
  return text;
}

std::optional<source_states> read_source_states(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("sources") || !j["sources"].is_array())
    return std::nullopt;
  try {
    source_states s;
    s.pid = j.value("pid", 0);
    s.updated_at = j.value("updated_at", std::int64_t{0});
    if (j.contains("api") && j["api"].is_array())
      for (const auto& a : j["api"])
        if (a.is_string())
          s.api.push_back(a.get<std::string>());
    for (const auto& e : j["sources"]) {
      if (!e.is_object())
        return std::nullopt;
      s.sources.push_back(source_entry{
          e.value("name", ""), e.value("type", ""), e.value("state", ""), e.value("last_error", ""),
          e.value("records", std::uint64_t{0}), e.value("connects", std::uint64_t{0})});
    }
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt; // a field of another type
  }
}

bool write_source_states(const fs::path& path, const source_states& s) {
  auto text = source_states_json(s);
  auto tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    SLUICE_WARN_LIMITED("cannot write the sources' state file {}: {}", tmp, std::strerror(errno));
    return false;
  }
  ::fchmod(fd, 0640); // whatever the umask of a `sluice run` started by hand
  bool ok = write_all(fd, text.data(), text.size()).has_value();
  int err = errno;
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0)
    return true;
  if (ok)
    err = errno;
  SLUICE_WARN_LIMITED("cannot write the sources' state file {}: {}", path.string(),
                      std::strerror(err));
  ::unlink(tmp.c_str());
  return false;
}

void source_state_file::update(const pipeline::pipeline_status& st) {
  if (!enabled())
    return;
  auto entries = source_entries(st);
  if (written_ && same_states(*written_, entries))
    return;
  source_states s;
  s.pid = static_cast<int>(::getpid());
  s.updated_at = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  s.sources = entries;
  s.api = api_;
  if (write_source_states(path_, s))
    written_ = std::move(entries);
}

void source_state_file::remove() {
  if (!enabled())
    return;
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("cannot remove the sources' state file {}: {}", path_.string(),
                 std::strerror(errno));
  written_.reset();
}

} // namespace sluice::daemon
