#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sluice::testing {

/// A fresh temporary directory, removed with everything in it when the object goes.
class test_dir {
public:
  test_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr)
      std::abort();
    path_ = p;
  }
  ~test_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  test_dir(const test_dir&) = delete;
  test_dir& operator=(const test_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

private:
  std::filesystem::path path_;
};

} // namespace sluice::testing
