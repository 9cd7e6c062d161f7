// `sluice ctl VERB ...` and `sluice console`: clients of the control API of `sluice run`. ctl runs
// one command; console reads commands at a `sluice> ` prompt (libedit: line editing, history in
// ~/.sluice_history, tab completion of the grammar and of the API's stream and subscription names).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <histedit.h>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/cli11.h"
#include "cli/ctl_commands.h"
#include "cli/verbs.h"
#include "config/tables.h"

namespace sluice::cli {
namespace {

using namespace std::chrono_literals;

/// The options both verbs take.
struct api_args {
  std::string url = std::string(k_default_api_url);
  std::string token_file; ///< empty: default_token_file()
  double timeout_s = 10;
};

void add_api_options(CLI::App& cmd, api_args& a) {
  cmd.add_option("--url", a.url,
                 "The API: http://HOST:PORT or unix:/path/to/socket (default "
                 "http://127.0.0.1:4711)")
      ->type_name("URL");
  cmd.add_option("--token-file", a.token_file,
                 "File holding the token changing commands need (default: $SLUICE_TOKEN_FILE, else "
                 "./sluice-data/api.token when it exists)")
      ->type_name("FILE");
  cmd.add_option("--timeout", a.timeout_s, "Seconds to wait for each reply (default 10)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
}

// The client the options describe; nothing (with the message printed) when they are unusable.
std::optional<api_client> make_client(const api_args& a, std::string_view program) {
  std::string error;
  auto endpoint = parse_api_url(a.url, error);
  if (!endpoint) {
    fmt::print(stderr, "{}: --url {}\n", program, error);
    return std::nullopt;
  }
  std::string token;
  auto file = a.token_file.empty() ? default_token_file() : a.token_file;
  if (!file.empty()) {
    auto t = read_token_file(file, error);
    if (!t) {
      fmt::print(stderr, "{}: {}\n", program, error);
      return std::nullopt;
    }
    token = std::move(*t);
  }
  auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  return api_client(std::move(*endpoint), std::move(token), std::max(timeout, 1ms));
}

// Splits a console line into words: blanks separate, '...' and "..." quote, a backslash escapes
// the next character. Nothing (with `error` saying why) for an unterminated quote.
std::optional<std::vector<std::string>> split_words(std::string_view line, std::string& error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size())
        word += line[++i];
      else
        word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      if (in_word)
        words.push_back(std::exchange(word, {}));
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    error = fmt::format("unterminated {} quote", quote == '"' ? "double" : "single");
    return std::nullopt;
  }
  if (in_word)
    words.push_back(std::move(word));
  return words;
}

/// What may stand at the word after the words already typed.
struct completion_set {
  enum class names { none, streams, subscriptions };
  std::vector<std::string> words; ///< fixed words of the grammar ("add", "beginning", "sink=")
  names from_api = names::none;   ///< names the API knows that may also stand there
};

// `sub add`'s words: the subscription's own keys, then each sink type and its options.
std::vector<std::string> sub_add_words() {
  std::vector<std::string> words = {"any_of=", "batch=", "field=", "start=beginning",
                                    "start=end", "type="};
  for (const auto* kind : config::sink_types.all_kinds()) {
    words.push_back(fmt::format("sink={}", kind->kind));
    for (const auto& o : kind->options)
      words.push_back(fmt::format("{}=", o.name));
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

// The grammar's completions for the word after `before`.
completion_set complete_after(const std::vector<std::string>& before) {
  using names = completion_set::names;
  static const std::vector<std::string> verbs = {"help",    "meta", "queue", "stream",
                                                 "streams", "sub",  "subs",  "track"};
  std::size_t n = before.size();
  if (n == 0)
    return {verbs, names::none};
  const auto& verb = before[0];
  if (verb == "help" && n == 1)
    return {verbs, names::none};
  if (verb == "stream" && n == 1)
    return {{}, names::streams};
  if (verb == "stream" && n == 2)
    return {{"restart", "start", "stop"}, names::none};
  if (verb == "track" && n == 1)
    return {{"add", "remove", "set"}, names::none};
  if (verb == "track" && n == 2)
    return {{}, names::streams};
  if (verb != "sub")
    return {};
  if (n == 1)
    return {{"add", "delete", "pause", "resume", "rewind", "show"}, names::none};
  if (n == 2 && before[1] != "add")
    return {{}, names::subscriptions};
  if (n == 3 && before[1] == "rewind")
    return {{"beginning", "end"}, names::none};
  if (n >= 3 && before[1] == "add")
    return {sub_add_words(), names::none};
  return {};
}

// The names of the API's streams or subscriptions, sorted; empty when the API cannot tell.
std::vector<std::string> fetch_names(const api_client& api, completion_set::names which) {
  using names = completion_set::names;
  if (which == names::none)
    return {};
  bool streams = which == names::streams;
  std::string error;
  auto reply = api.send("GET", streams ? "/streams.json" : "/subscriptions.json", "", error);
  if (!reply || reply->status != 200)
    return {};
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  std::vector<std::string> out;
  const char* key = streams ? "streams" : "subscriptions";
  if (j.is_object() && j.contains(key) && j[key].is_array())
    for (const auto& item : j[key])
      if (item.is_object() && item.contains("name") && item["name"].is_string())
        out.push_back(item["name"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

// --- The interactive console ---------------------------------------------------------------------

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_console_interrupt(int /*signal*/) {
  interrupted = 1;
}

extern "C" char* console_prompt(EditLine* /*el*/) {
  static char prompt[] = "sluice> ";
  return prompt;
}

std::string common_prefix(const std::vector<std::string>& words) {
  std::string p = words.front();
  for (const auto& w : words) {
    auto diff = std::mismatch(p.begin(), p.end(), w.begin(), w.end());
    p.erase(diff.first, p.end());
  }
  return p;
}

// The TAB key: completes the word before the cursor, or lists what it could become.
unsigned char complete_word_or_throw(EditLine* el) {
  void* data = nullptr;
  el_get(el, EL_CLIENTDATA, &data);
  const auto& api = *static_cast<const api_client*>(data);
  const LineInfo* li = el_line(el);
  std::string before(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
  auto blank = before.find_last_of(" \t");
  std::string prefix = blank == std::string::npos ? before : before.substr(blank + 1);
  std::string error;
  auto words = split_words(std::string_view(before).substr(0, before.size() - prefix.size()), error)
                   .value_or(std::vector<std::string>{});

  auto set = complete_after(words);
  auto candidates = set.words;
  if (words.empty()) { // the console's own verbs
    candidates.emplace_back("exit");
    candidates.emplace_back("quit");
  }
  for (auto& name : fetch_names(api.with_timeout(std::min(api.timeout(), 2000ms)), set.from_api))
    candidates.push_back(std::move(name));
  std::erase_if(candidates, [&](const std::string& c) { return !c.starts_with(prefix); });
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  if (candidates.empty())
    return CC_ERROR;
  auto common = common_prefix(candidates);
  if (candidates.size() == 1) {
    auto rest = common.substr(prefix.size()) + (common.ends_with('=') ? "" : " ");
    el_insertstr(el, rest.c_str());
    return CC_REFRESH;
  }
  if (common.size() > prefix.size()) {
    el_insertstr(el, common.substr(prefix.size()).c_str());
    return CC_REFRESH;
  }
  std::string list = "\n";
  for (const auto& c : candidates)
    list += c + "  ";
  list.replace(list.size() - 2, 2, "\n");
  std::fputs(list.c_str(), stdout);
  return CC_REDISPLAY;
}

extern "C" unsigned char complete_word(EditLine* el, int /*ch*/) {
  try { // nothing may unwind into libedit
    return complete_word_or_throw(el);
  } catch (const std::exception&) {
    return CC_ERROR;
  }
}

std::string history_path() {
  if (const char* p = std::getenv("SLUICE_HISTORY"); p != nullptr && *p != '\0')
    return p;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::string(home) + "/.sluice_history";
  return "";
}

/// One console line: false when it ends the console.
bool run_line(const api_client& api, std::string_view line) {
  std::string error;
  auto words = split_words(line, error);
  if (!words) {
    fmt::print(stderr, "{}\n", error);
    return true;
  }
  if (words->empty())
    return true;
  if (words->front() == "quit" || words->front() == "exit")
    return false;
  ctl_output output;
  output.program = "error";
  if (words->front() == "help")
    std::fputs("Commands (quit or exit ends the console, TAB completes):\n", stdout);
  run_ctl_command(api, *words, output);
  return true;
}

// A greeting that says whether the API answers.
void greet(const api_client& api) {
  std::string error;
  auto reply =
      api.with_timeout(std::min(api.timeout(), 2000ms)).send("GET", "/meta.json", "", error);
  if (!reply) {
    fmt::print(stderr, "cannot reach the API at {}: {}; is `sluice run` running?\n",
               api.endpoint().url, error);
    return;
  }
  auto meta = nlohmann::json::parse(reply->body, nullptr, false);
  auto text = [&](const char* key) {
    return meta.is_object() && meta.contains(key) && meta[key].is_string()
               ? meta[key].get<std::string>()
               : std::string("?");
  };
  if (reply->status == 200)
    fmt::print("sluice {} on {} at {}; 'help' lists the commands, TAB completes, 'quit' ends.\n",
               text("version"), text("host"), api.endpoint().url);
}

int run_console(const api_args& args) {
  auto api = make_client(args, "sluice console");
  if (!api)
    return k_exit_failure;
  if (::isatty(STDIN_FILENO) != 1) {
    // Commands from a pipe or a file: no prompt, no editing.
    for (std::string line; std::getline(std::cin, line);)
      if (!run_line(*api, line))
        break;
    return 0;
  }
  struct sigaction action {};
  action.sa_handler = on_console_interrupt; // no SA_RESTART: ^C interrupts the read of a line
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);

  HistEvent ev;
  std::unique_ptr<History, void (*)(History*)> hist(history_init(), history_end);
  history(hist.get(), &ev, H_SETSIZE, 1000);
  history(hist.get(), &ev, H_SETUNIQUE, 1);
  auto hist_file = history_path();
  if (!hist_file.empty())
    history(hist.get(), &ev, H_LOAD, hist_file.c_str()); // none yet is fine

  std::unique_ptr<EditLine, void (*)(EditLine*)> el(el_init("sluice", stdin, stdout, stderr),
                                                    el_end);
  el_set(el.get(), EL_EDITOR, "emacs");
  el_set(el.get(), EL_SIGNAL, 1);
  el_set(el.get(), EL_PROMPT, console_prompt);
  el_set(el.get(), EL_HIST, history, hist.get());
  el_set(el.get(), EL_CLIENTDATA, static_cast<void*>(&*api));
  // The wide call: el_set's EL_ADDFN copies the name and help with wcsdup and never frees them
  // (libedit's own "XXX: The two strdup's leak"); el_wset keeps these literals' pointers.
  el_wset(el.get(), EL_ADDFN, L"sluice-complete", L"Complete a command or a name", complete_word);
  el_set(el.get(), EL_BIND, "^I", "sluice-complete", nullptr);
  el_source(el.get(), nullptr); // the user's ~/.editrc

  greet(*api);
  for (;;) {
    int count = 0;
    const char* got = el_gets(el.get(), &count);
    if (got == nullptr || count <= 0) {
      if (interrupted != 0 || (count < 0 && errno == EINTR)) {
        interrupted = 0;
        std::fputs("\n", stdout);
        el_reset(el.get());
        continue;
      }
      std::fputs("\n", stdout); // EOF (^D)
      break;
    }
    std::string line(got, static_cast<std::size_t>(count));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos)
      history(hist.get(), &ev, H_ENTER, line.c_str());
    if (!run_line(*api, line))
      break;
  }
  if (!hist_file.empty() && history(hist.get(), &ev, H_SAVE, hist_file.c_str()) < 0)
    fmt::print(stderr, "sluice console: cannot save the history in {}\n", hist_file);
  return 0;
}

struct ctl_args {
  api_args api;
  bool json = false;
  std::vector<std::string> words;
};

int run_ctl(const ctl_args& args) {
  auto api = make_client(args.api, "sluice ctl");
  if (!api)
    return k_exit_failure;
  ctl_output output;
  output.json = args.json;
  return run_ctl_command(*api, args.words, output);
}

} // namespace

void add_console_commands(CLI::App& root, int& exit_code) {
  auto ctl = std::make_shared<ctl_args>();
  auto* ctl_cmd = root.add_subcommand("ctl", "Run one command against the API of `sluice run`");
  add_api_options(*ctl_cmd, ctl->api);
  ctl_cmd->add_flag("--json", ctl->json, "Print the API's JSON reply instead of a table");
  ctl_cmd->add_option("COMMAND", ctl->words, "The command and its words; 'help' lists them")
      ->required()
      ->type_name("COMMAND...");
  ctl_cmd->footer("Commands:\n" + ctl_help_text() +
                  "Exit status: 0 done; 1 the API refused the command; 2 not a command; 69 the "
                  "API cannot be reached.");
  ctl_cmd->callback([ctl, &exit_code] { exit_code = run_ctl(*ctl); });

  auto console = std::make_shared<api_args>();
  auto* console_cmd = root.add_subcommand(
      "console", "Type commands against the API of `sluice run` (line editing, history, TAB)");
  add_api_options(*console_cmd, *console);
  console_cmd->footer("Commands (also quit, exit):\n" + ctl_help_text() +
                      "History: $SLUICE_HISTORY, else ~/.sluice_history.");
  console_cmd->callback([console, &exit_code] { exit_code = run_console(*console); });
}

} // namespace sluice::cli
