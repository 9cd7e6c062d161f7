// `sluice validate -c FILE`: every error in a configuration file, each with its key and line.

#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/cli11.h"
#include "cli/verbs.h"
#include "config/pipeline.h"

namespace sluice::cli {

void add_validate_commands(CLI::App& root, int& exit_code) {
  auto file = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand(
      "validate", "Check a configuration file: every error with its key path and line (exit 1)");
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &exit_code] {
    auto errors = config::validate_file(*file);
    if (errors.empty()) {
      fmt::print("{}: ok\n", *file);
      exit_code = 0;
      return;
    }
    fmt::print(stderr, "{}\n", config::format_report(errors, *file));
    exit_code = 1;
  });
}

} // namespace sluice::cli
