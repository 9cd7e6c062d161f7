#pragma once

#include <string>

#include "config/option.h"

namespace sluice::config {

/// Markdown for `root` and every table reachable from it (nested fields, families and their
/// kinds), each once, depth first: a heading, its help, and one row per option with its type,
/// default and help.
std::string render_markdown(const option_table& root);

/// The whole of docs/config.md: an introduction and render_markdown(file_options). The test
/// config_docs.up_to_date compares the file with it; `ninja config_docs` rewrites the file.
std::string config_reference();

} // namespace sluice::config
