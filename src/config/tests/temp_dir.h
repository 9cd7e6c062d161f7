#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sluice::config::testing {

/// A fresh temporary directory, removed with everything in it when the object goes.
class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-config-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      std::abort();
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

private:
  std::filesystem::path path_;
};

} // namespace sluice::config::testing
