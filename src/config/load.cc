#include "config/load.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/config_error.h"

namespace sluice::config {

document load_string(std::string_view text, std::string name) {
  try {
    return document{name, toml::parse(text, std::string_view(name))};
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    config_error err{{},
                     static_cast<int>(where.line),
                     static_cast<int>(where.column),
                     "TOML syntax error: " + std::string(e.description())};
    throw config_exception(std::move(name), {std::move(err)});
  }
}

document load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int e = errno;
    throw config_exception(
        path.string(),
        {config_error{{}, 0, 0, "cannot read the file: " + std::string(std::strerror(e))}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path.string());
}

} // namespace sluice::config
