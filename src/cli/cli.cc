#include "cli/cli.h"

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/cli11.h"
#include "cli/verbs.h"

namespace sluice::cli {
namespace {

constexpr int k_usage_error = 2;
constexpr int k_no_verb_ran = -1;

// Logs go to stderr: stdout carries what a verb produces (records, JSON, acks).
void init_logging() {
  auto logger = std::make_shared<spdlog::logger>(
      "sluice", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

// The verbs the command line selected, outermost first (root excluded).
std::vector<const CLI::App*> selected_chain(const CLI::App& root) {
  std::vector<const CLI::App*> chain;
  const CLI::App* app = &root;
  for (;;) {
    auto subs = app->get_subcommands();
    if (subs.empty())
      break;
    app = subs.front();
    chain.push_back(app);
  }
  return chain;
}

// "sluice queue tail": the command as far as the parser got, for messages.
std::string command_path(const CLI::App& root) {
  std::string path = root.get_name();
  for (const auto* app : selected_chain(root))
    path += " " + app->get_name();
  return path;
}

// Prints a parse error the way every verb does and returns the usage exit status.
int usage_error(const CLI::App& root, const CLI::ParseError& e) {
  auto chain = selected_chain(root);
  const CLI::App& deepest = chain.empty() ? root : *chain.back();
  std::string message = e.what();
  // CLI11 calls an unknown verb or option an unexpected argument; say which it is.
  auto extras = root.remaining(true);
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr && !extras.empty()) {
    const std::string& first = extras.front();
    if (first.starts_with('-'))
      message = "unknown option '" + first + "'";
    else if (!deepest.get_subcommands({}).empty())
      message = "unknown verb '" + first + "'";
    else
      message = "unexpected argument '" + first + "'";
  }
  std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", root.get_name().c_str(),
               message.c_str(), command_path(root).c_str());
  return k_usage_error;
}

void add_log_level_option(CLI::App& root) {
  root.add_option_function<std::string>(
          "--log-level",
          [](const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); },
          "Log verbosity on stderr (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->type_name("LEVEL");
}

} // namespace

int run(int argc, char** argv) {
  init_logging();

  CLI::App root("sluice: collects events from streams and delivers each of them, at least once.",
                "sluice");
  root.set_version_flag("--version", "sluice " SLUICE_VERSION, "Print the version and exit");
  // Global options (--log-level) are accepted after any verb; one verb per invocation.
  root.fallthrough();
  root.require_subcommand(0, 1);
  add_log_level_option(root);

  int exit_code = k_no_verb_ran;
  add_queue_commands(root, exit_code);
  add_bench_commands(root, exit_code);
  add_firehose_commands(root, exit_code);
  add_validate_commands(root, exit_code);
  add_run_commands(root, exit_code);
  add_drain_commands(root, exit_code);
  add_daemon_commands(root, exit_code);
  add_console_commands(root, exit_code);
  root.footer("Run 'sluice VERB --help' for a verb's options."); // after the verbs: not inherited

  try {
    root.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return root.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return root.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return root.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(root, e);
  } catch (const CLI::Error& e) {
    std::fprintf(stderr, "sluice: %s\n", e.what());
    return e.get_exit_code() == 0 ? 1 : e.get_exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice: %s: %s\n", command_path(root).c_str(), e.what());
    return 1;
  }

  if (exit_code == k_no_verb_ran) {
    // `sluice` or `sluice queue` alone: show what could follow.
    std::fputs(root.help().c_str(), stderr);
    return k_usage_error;
  }
  return exit_code;
}

} // namespace sluice::cli
