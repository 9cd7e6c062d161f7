// `sluice start | collect | stop | status | running | restart | reload` (issue 4).

#include "cli/verbs.h"

namespace sluice::cli {

void add_daemon_commands(CLI::App& root, int& exit_code) {
  (void)root;
  (void)exit_code;
}

} // namespace sluice::cli
