#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::firehose {

/// What a stream holds besides tweets, by rank. A rank is the 1-based position of a line in the
/// stream a client receives (keep-alive lines are not ranks). For rank r the first rule that
/// applies decides what it is:
///   1. garbage_every > 0 and r % garbage_every == 0: a bad line, in turn (k = r / garbage_every,
///      k % 3 == 1: a truncated JSON object, 2: a JSON line with invalid UTF-8, 0: a valid JSON
///      line longer than 1 MiB);
///   2. limit_every > 0 and r % limit_every == 0: `{"limit":{"track":N}}`;
///   3. delete_every > 0 and r % delete_every == 0:
///   `{"delete":{"status":{"id":..,"id_str":".."}}}`;
///   4. otherwise a tweet.
/// 0 disables a rule.
struct stream_options {
  std::uint64_t seed = 1;
  std::uint64_t delete_every = 50;
  std::uint64_t limit_every = 1000;
  std::uint64_t garbage_every = 0;
  /// 0: a limit notice at rank r says `track` = r / limit_every * 7 + a seeded draw below 7
  /// (increasing along the stream). S > 0: the n-th notice this generator (one connection)
  /// writes says n * S, a count of skipped tweets cumulative for the connection as real streams
  /// report it; with limit_every L a client starting at a notice boundary sees coverage
  /// (L - 1) / (L - 1 + S) of what the stream had (ignoring the notices themselves).
  std::uint64_t limit_skipped = 0;
};

/// Which tweets a stream carries (Twitter's `track` and `follow`). Empty: every tweet. Otherwise a
/// tweet is sent when its text contains one of `track` (ASCII case-insensitive substring; the text
/// holds the hashtags as `#Name`) or its author's id is in `follow`. Notices and garbage are sent
/// on every stream: they occupy ranks by the rules of stream_options whatever the filter.
struct stream_filter {
  std::vector<std::string> track;
  std::vector<std::uint64_t> follow;

  bool empty() const { return track.empty() && follow.empty(); }
  /// A canonical text for the filter ("track=a,b;follow=1,2"), to compare two filters.
  std::string key() const;
};

/// What rank r of a stream is.
enum class event_kind { tweet, delete_notice, limit_notice, garbage };
event_kind kind_of(const stream_options& options, std::uint64_t rank);

/// Where a generator stands: the next rank it appends and the raw tweet index it resumes scanning
/// at. Only meaningful for a generator with the same options and filter.
struct stream_position {
  std::uint64_t rank = 1;
  std::uint64_t raw = 1;
};

/// The 32 hashtags (NFL team nicknames) tweets carry.
extern const std::array<std::string_view, 32> k_team_names;

/// Produces the fictional stream: deterministic for (options, filter), so the event at rank r is
/// always the same bytes. Tweets come from a raw sequence T(1), T(2), ... that depends on the seed
/// only; without a filter, a tweet at rank r is T(r) (random access); with a filter, it is the next
/// matching T(i) after the previous tweet's, so reaching rank r means scanning (see seek()).
/// Not thread-safe: one generator per connection. Appending allocates nothing once the output
/// buffer has grown.
class generator {
public:
  explicit generator(const stream_options& options, stream_filter filter = {});

  /// Appends the line at the current rank and its '\n' to `out`, and moves to the next rank.
  /// With a filter, scans at most `scan_budget` raw tweets for a match (decreasing it); false,
  /// with nothing appended and the rank unchanged (progress kept), when the budget ran out.
  bool append_next(std::string& out, std::uint64_t& scan_budget);
  /// As above without a scan limit (a filter that matches nothing never returns).
  void append_next(std::string& out);

  /// Moves forward so that the next line appended is `rank` (never backwards: a smaller rank
  /// restarts from rank 1). O(1) without a filter; with one, scans at most `scan_budget` raw
  /// tweets and returns false when the budget ran out before `rank` was reached (call again).
  bool seek(std::uint64_t rank, std::uint64_t& scan_budget);
  void seek(std::uint64_t rank);

  std::uint64_t next_rank() const { return pos_.rank; }
  stream_position position() const { return pos_; }
  /// Continues from a position taken from a generator with the same options and filter.
  void restore(stream_position pos) { pos_ = pos; }

  /// The line at `rank`, without its '\n' (for tests; moves this generator).
  std::string line_at(std::uint64_t rank);

  /// The id of raw tweet i (increasing with i).
  static std::uint64_t tweet_id(std::uint64_t raw);

private:
  struct hashtag {
    unsigned team;
    unsigned begin;
    unsigned end;
  };
  struct tweet {
    std::uint64_t raw;
    std::uint64_t user_id;
    unsigned user;
    unsigned tag_count;
    std::array<hashtag, 3> tags;
  };

  void compose(std::uint64_t raw);
  bool matches();
  /// Advances raw_ to the next matching tweet, composed in tweet_; false when the budget ran out.
  bool find_match(std::uint64_t& scan_budget);
  void write_tweet(std::string& out) const;
  void write_delete(std::string& out, std::uint64_t rank) const;
  void write_limit(std::string& out, std::uint64_t rank);
  void write_garbage(std::string& out, std::uint64_t rank);

  stream_options options_;
  stream_filter filter_;
  std::vector<std::string> track_lower_;
  stream_position pos_;
  tweet tweet_{};
  std::string text_;                 // the composed tweet's text, raw (not JSON-escaped)
  std::string text_lower_;           // lower-cased copy, for track
  std::uint64_t limits_written_ = 0; // for limit_skipped: notices appended so far
};

} // namespace sluice::firehose
