#include "firehose/generator.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace sluice::firehose {

const std::array<std::string_view, 32> k_team_names = {
    "Cardinals", "Falcons",    "Ravens",  "Bills",     "Panthers", "Bears",    "Bengals",
    "Browns",    "Cowboys",    "Broncos", "Lions",     "Packers",  "Texans",   "Colts",
    "Jaguars",   "Chiefs",     "Raiders", "Chargers",  "Rams",     "Dolphins", "Vikings",
    "Patriots",  "Saints",     "Giants",  "Jets",      "Eagles",   "Steelers", "49ers",
    "Seahawks",  "Buccaneers", "Titans",  "Commanders"};

namespace {

constexpr std::array<std::string_view, 16> k_openers = {
    "Wow,",    "Can't believe it:", "Game day!",  "Unreal.",   "Hot take:", "Final:",
    "Week 7:", "Big news:",         "Honestly,",  "Breaking:", "Ugh.",      "LOL",
    "Sunday!", "Listen,",           "Called it:", "No way..."};

constexpr std::array<std::string_view, 24> k_phrases = {"that defense looked unstoppable",
                                                        "what a comeback in the fourth",
                                                        "worst officiating I have ever seen",
                                                        "QB threw for 300 yards",
                                                        "season is over if we lose this",
                                                        "trade rumors are heating up",
                                                        "\"we will be back\" says the coach",
                                                        "pick six right before the half",
                                                        "kicker missed from 30 again",
                                                        "rookie running back is the real deal",
                                                        "that was a clean hit",
                                                        "overtime thriller",
                                                        "the crowd was so loud",
                                                        "playoff hopes alive",
                                                        "fire the offensive coordinator",
                                                        "injury report looks bad",
                                                        "another fourth down stop",
                                                        "best catch of the year",
                                                        "tailgate starts at 9",
                                                        "\"trust the process\"",
                                                        "two-minute drill for the ages",
                                                        "snow game vibes",
                                                        "fantasy team in shambles",
                                                        "refs missed the holding call"};

constexpr std::array<std::string_view, 16> k_user_prefixes = {
    "gridiron",   "blitz",    "endzone", "huddle",   "redzone", "tailgate", "hailmary", "touchdown",
    "fourthdown", "sideline", "pigskin", "playbook", "audible", "shotgun",  "picksix",  "sundays"};

constexpr std::array<std::string_view, 7> k_weekdays = {"Thu", "Fri", "Sat", "Sun",
                                                        "Mon", "Tue", "Wed"};
constexpr std::array<std::string_view, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::uint64_t k_first_id = 1050118621198921728ULL; // Twitter's id space in Oct 2018
constexpr std::int64_t k_first_time = 1539202764;            // Wed Oct 10 20:19:24 +0000 2018
constexpr std::uint64_t k_tweets_per_second = 20;            // fictional time between tweets
constexpr unsigned k_users = 5000;
constexpr std::uint64_t k_first_user_id = 100000;
constexpr std::uint64_t k_user_id_step = 37;
constexpr std::size_t k_long_line = (1u << 20) + 1; // padding of the over-long garbage line

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A small counter-based generator: the numbers drawn for (seed, index) never depend on what was
// drawn for another index, which is what makes random access by rank possible.
class draw {
public:
  draw(std::uint64_t seed, std::uint64_t index, std::uint64_t stream)
      : state_(seed * 0xD1B54A32D192ED03ULL ^ index * 0x9E3779B97F4A7C15ULL ^ stream) {
    splitmix(state_);
  }
  std::uint64_t next() { return splitmix(state_); }
  unsigned below(unsigned n) { return static_cast<unsigned>(next() % n); }

private:
  std::uint64_t state_;
};

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_2digits(std::string& out, unsigned v) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

// "Wed Oct 10 20:19:24 +0000 2018" (days to civil date: H. Hinnant's algorithm).
void append_created_at(std::string& out, std::int64_t t) {
  std::int64_t days = t / 86400;
  auto secs = static_cast<unsigned>(t % 86400);
  out += k_weekdays[static_cast<std::size_t>(days % 7)];
  std::int64_t z = days + 719468;
  std::int64_t era = z / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2)
    ++y;
  out += ' ';
  out += k_months[m - 1];
  out += ' ';
  append_2digits(out, d);
  out += ' ';
  append_2digits(out, secs / 3600);
  out += ':';
  append_2digits(out, secs / 60 % 60);
  out += ':';
  append_2digits(out, secs % 60);
  out += " +0000 ";
  append_uint(out, static_cast<std::uint64_t>(y));
}

// The tweet texts hold no backslash and no control character; '"' is the only one to escape.
void append_escaped(std::string& out, std::string_view s) {
  for (;;) {
    auto q = s.find('"');
    if (q == std::string_view::npos) {
      out.append(s);
      return;
    }
    out.append(s.substr(0, q));
    out += "\\\"";
    s.remove_prefix(q + 1);
  }
}

void append_id_pair(std::string& out, std::uint64_t id) {
  out += "\"id\":";
  append_uint(out, id);
  out += ",\"id_str\":\"";
  append_uint(out, id);
  out += '"';
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

std::string stream_filter::key() const {
  std::string k = "track=";
  for (const auto& t : track) {
    for (char c : t)
      k += ascii_lower(c);
    k += ',';
  }
  k += ";follow=";
  for (auto f : follow) {
    append_uint(k, f);
    k += ',';
  }
  return k;
}

event_kind kind_of(const stream_options& o, std::uint64_t rank) {
  if (o.garbage_every != 0 && rank % o.garbage_every == 0)
    return event_kind::garbage;
  if (o.limit_every != 0 && rank % o.limit_every == 0)
    return event_kind::limit_notice;
  if (o.delete_every != 0 && rank % o.delete_every == 0)
    return event_kind::delete_notice;
  return event_kind::tweet;
}

generator::generator(const stream_options& options, stream_filter filter)
    : options_(options), filter_(std::move(filter)) {
  for (const auto& t : filter_.track) {
    std::string lower;
    for (char c : t)
      lower += ascii_lower(c);
    if (!lower.empty())
      track_lower_.push_back(std::move(lower));
  }
  text_.reserve(256);
  text_lower_.reserve(256);
}

std::uint64_t generator::tweet_id(std::uint64_t raw) {
  draw d(0, raw, 1);
  return k_first_id + raw * 65536 + (d.next() & 0xFFFF);
}

void generator::compose(std::uint64_t raw) {
  draw d(options_.seed, raw, 0);
  tweet_.raw = raw;
  tweet_.user = d.below(k_users);
  tweet_.user_id = k_first_user_id + tweet_.user * k_user_id_step;
  text_.clear();
  text_ += k_openers[d.below(k_openers.size())];
  text_ += ' ';
  text_ += k_phrases[d.below(k_phrases.size())];
  unsigned roll = d.below(20);
  tweet_.tag_count = roll < 10 ? 1 : roll < 17 ? 2 : 3;
  for (unsigned i = 0; i < tweet_.tag_count; ++i) {
    auto taken = [&](unsigned t) {
      for (unsigned j = 0; j < i; ++j)
        if (tweet_.tags[j].team == t)
          return true;
      return false;
    };
    unsigned team = d.below(k_team_names.size());
    while (taken(team)) // distinct hashtags in one tweet
      team = (team + 1) % k_team_names.size();
    text_ += ' ';
    auto begin = static_cast<unsigned>(text_.size()); // ASCII so far: bytes are code points
    text_ += '#';
    text_ += k_team_names[team];
    tweet_.tags[i] = {team, begin, static_cast<unsigned>(text_.size())};
  }
  roll = d.below(8);
  if (roll == 0)
    text_ += " \xF0\x9F\x8F\x88"; // U+1F3C8 american football
  else if (roll == 1)
    text_ += " \xF0\x9F\x94\xA5"; // U+1F525 fire
}

bool generator::matches() {
  for (auto f : filter_.follow)
    if (f == tweet_.user_id)
      return true;
  if (track_lower_.empty())
    return false;
  text_lower_.resize(text_.size());
  std::transform(text_.begin(), text_.end(), text_lower_.begin(), ascii_lower);
  for (const auto& t : track_lower_)
    if (text_lower_.find(t) != std::string::npos)
      return true;
  return false;
}

bool generator::find_match(std::uint64_t& scan_budget) {
  while (scan_budget > 0) {
    --scan_budget;
    compose(pos_.raw++);
    if (matches())
      return true;
  }
  return false;
}

void generator::write_tweet(std::string& out) const {
  out += "{\"created_at\":\"";
  append_created_at(out,
                    k_first_time + static_cast<std::int64_t>(tweet_.raw / k_tweets_per_second));
  out += "\",";
  append_id_pair(out, tweet_id(tweet_.raw));
  out += ",\"text\":\"";
  append_escaped(out, text_);
  out += "\",\"user\":{\"id\":";
  append_uint(out, tweet_.user_id);
  out += ",\"screen_name\":\"";
  out += k_user_prefixes[tweet_.user % k_user_prefixes.size()];
  out += '_';
  append_uint(out, tweet_.user);
  out += "\"},\"entities\":{\"hashtags\":[";
  for (unsigned i = 0; i < tweet_.tag_count; ++i) {
    const auto& h = tweet_.tags[i];
    if (i != 0)
      out += ',';
    out += "{\"text\":\"";
    out += k_team_names[h.team];
    out += "\",\"indices\":[";
    append_uint(out, h.begin);
    out += ',';
    append_uint(out, h.end);
    out += "]}";
  }
  out += "]}}\n";
}

void generator::write_delete(std::string& out, std::uint64_t rank) const {
  draw d(options_.seed, rank, 2);
  std::uint64_t back = d.next() % std::min<std::uint64_t>(rank, 100);
  out += "{\"delete\":{\"status\":{";
  append_id_pair(out, tweet_id(rank - back));
  out += ",\"user_id\":";
  append_uint(out, k_first_user_id + d.below(k_users) * k_user_id_step);
  out += "}}}\n";
}

void generator::write_limit(std::string& out, std::uint64_t rank) {
  out += "{\"limit\":{\"track\":";
  ++limits_written_;
  if (options_.limit_skipped != 0) {
    append_uint(out, limits_written_ * options_.limit_skipped);
  } else {
    draw d(options_.seed, rank, 3);
    append_uint(out, rank / options_.limit_every * 7 + d.below(7));
  }
  out += "}}\n";
}

void generator::write_garbage(std::string& out, std::uint64_t rank) {
  switch (rank / options_.garbage_every % 3) {
  case 1: // a tweet cut off in the middle of its text
    out += "{\"created_at\":\"";
    append_created_at(out, k_first_time + static_cast<std::int64_t>(rank / k_tweets_per_second));
    out += "\",";
    append_id_pair(out, tweet_id(rank));
    out += ",\"text\":\"Touchdown! The crowd goes wi\n";
    break;
  case 2: // well-formed JSON, but not UTF-8
    out += "{\"garbage\":";
    append_uint(out, rank);
    out += ",\"text\":\"invalid utf-8 \xC3\x28 here \xFF\xFE\"}\n";
    break;
  default: // well-formed JSON, too long
    out += "{\"garbage\":";
    append_uint(out, rank);
    out += ",\"padding\":\"";
    out.append(k_long_line, 'x');
    out += "\"}\n";
    break;
  }
}

bool generator::append_next(std::string& out, std::uint64_t& scan_budget) {
  std::uint64_t r = pos_.rank;
  switch (kind_of(options_, r)) {
  case event_kind::garbage:
    write_garbage(out, r);
    break;
  case event_kind::limit_notice:
    write_limit(out, r);
    break;
  case event_kind::delete_notice:
    write_delete(out, r);
    break;
  case event_kind::tweet:
    if (filter_.empty())
      compose(r);
    else if (!find_match(scan_budget))
      return false;
    write_tweet(out);
    break;
  }
  ++pos_.rank;
  return true;
}

void generator::append_next(std::string& out) {
  std::uint64_t unlimited = UINT64_MAX;
  append_next(out, unlimited);
}

bool generator::seek(std::uint64_t rank, std::uint64_t& scan_budget) {
  if (rank < pos_.rank)
    pos_ = {};
  if (filter_.empty()) {
    pos_.rank = rank;
    return true;
  }
  while (pos_.rank < rank) {
    if (kind_of(options_, pos_.rank) == event_kind::tweet && !find_match(scan_budget))
      return false;
    ++pos_.rank;
  }
  return true;
}

void generator::seek(std::uint64_t rank) {
  std::uint64_t unlimited = UINT64_MAX;
  seek(rank, unlimited);
}

std::string generator::line_at(std::uint64_t rank) {
  seek(rank);
  std::string out;
  append_next(out);
  out.pop_back();
  return out;
}

} // namespace sluice::firehose
