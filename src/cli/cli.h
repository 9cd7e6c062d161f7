#pragma once

namespace sluice::cli {

/// Parses the command line and runs the verb it names. Returns the process exit status:
/// 0 success, 1 failure (or, for `queue verify`, damage found), 2 usage error.
int run(int argc, char** argv);

} // namespace sluice::cli
