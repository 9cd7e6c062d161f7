// `sluice drain SUBSCRIPTION -c FILE [--max N]` (issue 4).

#include "cli/verbs.h"

namespace sluice::cli {

void add_drain_commands(CLI::App& root, int& exit_code) {
  (void)root;
  (void)exit_code;
}

} // namespace sluice::cli
