#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace sluice::io::testing {

/// A self-signed certificate and its key, as PEM files.
struct cert_files {
  std::filesystem::path cert;
  std::filesystem::path key;
};

/// Writes DIR/NAME.crt and DIR/NAME.key: a P-256 key and a self-signed certificate valid for an
/// hour whose subject alternative names are `sans` (OpenSSL syntax: "DNS:localhost",
/// "IP:127.0.0.1"). Made with the OpenSSL API, so the tests need no openssl binary.
cert_files make_self_signed(const std::filesystem::path& dir, const std::string& name,
                            const std::vector<std::string>& sans);

} // namespace sluice::io::testing
