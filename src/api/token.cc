#include "api/token.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file.h"

namespace sluice::api {
namespace {

std::string trim(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && space(s.back()))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && space(s[i]))
    ++i;
  return s.substr(i);
}

} // namespace

result<std::string> load_or_create_token(const std::filesystem::path& path, std::string& error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    unsigned char raw[32];
    if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
      error = fmt::format("api.token_file {}: no random bytes for a token: {}", path.string(),
                          std::strerror(errno));
      return fail(std::error_code(errno, std::generic_category()));
    }
    std::string token;
    for (unsigned char c : raw)
      token += fmt::format("{:02x}", c);
    std::filesystem::create_directories(path.parent_path(), ec);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      error = fmt::format("api.token_file {}: cannot create it: {}", path.string(),
                          std::strerror(errno));
      return fail(std::error_code(errno, std::generic_category()));
    }
    if (fd >= 0) {
      auto line = token + "\n";
      auto w = write_all(fd, line.data(), line.size());
      bool synced = ::fsync(fd) == 0;
      ::close(fd);
      if (!w || !synced) {
        error = fmt::format("api.token_file {}: cannot write it", path.string());
        std::filesystem::remove(path, ec);
        return fail(std::make_error_code(std::errc::io_error));
      }
      return token;
    }
    // Another process created it first: read theirs.
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error =
        fmt::format("api.token_file {}: cannot read it: {}", path.string(), std::strerror(errno));
    return fail(std::error_code(errno, std::generic_category()));
  }
  std::string text;
  char buf[512];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 4096)
      break;
  }
  ::close(fd);
  auto token = trim(text);
  if (token.empty() || token.size() > 4096 || token.find_first_of(" \t\r\n") != std::string::npos) {
    error = fmt::format("api.token_file {}: expected one token on one line{}", path.string(),
                        token.empty() ? ", the file is empty" : "");
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  return token;
}

bool bearer_matches(std::string_view authorization, std::string_view token) noexcept {
  constexpr std::string_view prefix = "Bearer ";
  if (token.empty() || !authorization.starts_with(prefix))
    return false;
  auto given = authorization.substr(prefix.size());
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  return diff == 0;
}

} // namespace sluice::api
