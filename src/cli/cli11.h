#pragma once

// CLI11 2.1.2 with GCC 12 at -O2: inlining CLI::detail::split (constructing any CLI::App) raises a
// false -Wnull-dereference inside libstdc++, which -Werror turns into a failed build. GCC applies
// the diagnostic state of the header's inclusion point, so the suppression covers CLI11 only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
