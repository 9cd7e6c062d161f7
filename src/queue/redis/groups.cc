#include "queue/redis/groups.h"

#include "queue/errc.h"
#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {

using io::redis::reply;

std::error_code error_of(const reply& r) {
  if (r.error_code() == "NOGROUP")
    return errc::not_found;
  if (r.error_code() == "READONLY")
    return errc::not_primary;
  return errc::write_failed;
}

result<reply> ask(io::redis::connection& c, std::span<const std::string_view> words) {
  auto r = c.command(words);
  if (!r)
    return fail(r.error());
  if (r->is_error())
    return fail(error_of(*r));
  return r;
}

namespace {

/// The value after `key` in a flat [key, value, key, value, ...] array, or nullptr.
const reply* field(const reply& map, std::string_view key) {
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2)
    if (map.elements[i].text == key)
      return &map.elements[i + 1];
  return nullptr;
}

position id_field(const reply& map, std::string_view key) {
  const reply* v = field(map, key);
  if (v == nullptr)
    return 0;
  return parse_stream_id(v->text).value_or(0);
}

bool missing_stream(const reply& r) {
  return r.is_error() && r.text.find("no such key") != std::string::npos;
}

result<void> add_pending(io::redis::connection& c, std::string_view stream, group_state& g) {
  auto p = c.command({"XPENDING", stream, g.name});
  if (!p)
    return fail(p.error());
  if (p->is_error())
    return fail(error_of(*p));
  if (p->elements.size() >= 2 && p->elements[0].type == reply::kind::integer) {
    g.pending = static_cast<std::uint64_t>(p->elements[0].integer);
    g.first_pending = g.pending > 0 ? parse_stream_id(p->elements[1].text).value_or(0) : 0;
  }
  if (g.first_pending == 0)
    return {};
  // Every entry before the oldest pending one is done: the group's cursor is that entry.
  auto before =
      c.command({"XREVRANGE", stream, "(" + stream_id_of(g.first_pending), "-", "COUNT", "1"});
  if (!before)
    return fail(before.error());
  if (!before->is_error() && !before->elements.empty() && !before->elements[0].elements.empty())
    g.before_pending = parse_stream_id(before->elements[0].elements[0].text).value_or(0);
  return {};
}

} // namespace

result<std::vector<group_state>> list_groups(io::redis::connection& c, std::string_view stream) {
  auto r = c.command({"XINFO", "GROUPS", stream});
  if (!r)
    return fail(r.error());
  std::vector<group_state> out;
  if (missing_stream(*r))
    return out;
  if (r->is_error())
    return fail(error_of(*r));
  for (const auto& g : r->elements) {
    group_state s;
    if (const reply* n = field(g, "name"))
      s.name = n->text;
    s.last_delivered = id_field(g, "last-delivered-id");
    if (const reply* lag = field(g, "lag"); lag && lag->type == reply::kind::integer)
      s.lag = static_cast<std::uint64_t>(lag->integer);
    out.push_back(std::move(s));
  }
  for (auto& s : out)
    if (auto p = add_pending(c, stream, s); !p)
      return fail(p.error());
  return out;
}

result<std::optional<group_state>> find_group(io::redis::connection& c, std::string_view stream,
                                              std::string_view name) {
  auto all = list_groups(c, stream);
  if (!all)
    return fail(all.error());
  for (auto& g : *all)
    if (g.name == name)
      return std::optional<group_state>(std::move(g));
  return std::optional<group_state>();
}

result<void> create_group(io::redis::connection& c, std::string_view stream, std::string_view name,
                          position after) {
  auto r = c.command({"XGROUP", "CREATE", stream, name, stream_id_of(after), "MKSTREAM"});
  if (!r)
    return fail(r.error());
  if (r->is_error() && r->error_code() != "BUSYGROUP")
    return fail(error_of(*r));
  return {};
}

namespace {

/// Entries after `after`, counted a page at a time (for a group moved by hand).
result<std::uint64_t> count_after(io::redis::connection& c, std::string_view stream,
                                  position after) {
  std::uint64_t n = 0;
  std::string from = "(" + stream_id_of(after);
  for (;;) {
    auto r = c.command({"XRANGE", stream, from, "+", "COUNT", "10000"});
    if (!r)
      return fail(r.error());
    if (r->is_error())
      return fail(error_of(*r));
    if (r->elements.empty())
      return n;
    n += r->elements.size();
    from = "(" + r->elements.back().elements.at(0).text;
  }
}

} // namespace

result<void> move_group(io::redis::connection& c, std::string_view stream, std::string_view name,
                        position after) {
  auto s = stream_info(c, stream);
  if (!s)
    return fail(s.error());
  auto later = count_after(c, stream, after);
  if (!later)
    return fail(later.error());
  std::string read = std::to_string(s->added >= *later ? s->added - *later : 0);
  auto r = c.command({"XGROUP", "SETID", stream, name, stream_id_of(after), "ENTRIESREAD", read});
  if (!r)
    return fail(r.error());
  if (r->is_error())
    return fail(error_of(*r));
  return {};
}

result<stream_state> stream_info(io::redis::connection& c, std::string_view stream) {
  auto r = c.command({"XINFO", "STREAM", stream});
  if (!r)
    return fail(r.error());
  stream_state s;
  if (missing_stream(*r))
    return s;
  if (r->is_error())
    return fail(error_of(*r));
  s.last = id_field(*r, "last-generated-id");
  if (const reply* n = field(*r, "length"))
    s.length = static_cast<std::uint64_t>(n->integer);
  if (const reply* n = field(*r, "entries-added"); n && n->type == reply::kind::integer)
    s.added = static_cast<std::uint64_t>(n->integer);
  if (const reply* first = field(*r, "first-entry");
      first && first->type == reply::kind::array && !first->elements.empty())
    s.first = parse_stream_id(first->elements[0].text).value_or(0);
  return s;
}

result<position> start_after(io::redis::connection& c, std::string_view stream, start_at start) {
  switch (start.where) {
  case start_at::kind::beginning:
    return position{0};
  case start_at::kind::at_position:
    return start.pos == 0 ? 0 : start.pos - 1;
  case start_at::kind::end:
    break;
  }
  auto s = stream_info(c, stream);
  if (!s)
    return fail(s.error());
  return s->last;
}

} // namespace sluice::queue::redis
