#include "io/tests/test_cert.h"

#include <cstdio>
#include <memory>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>

namespace sluice::io::testing {
namespace {

void check(bool ok, const char* what) {
  if (!ok)
    throw std::runtime_error(std::string("make_self_signed: ") + what);
}

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

} // namespace

cert_files make_self_signed(const std::filesystem::path& dir, const std::string& name,
                            const std::vector<std::string>& sans) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
  check(key != nullptr, "key generation");
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), &X509_free);
  check(x != nullptr, "X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(x.get());
  std::string cn = sans.empty() ? name : sans.front().substr(sans.front().find(':') + 1);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), subject);
  std::string alt;
  for (const auto& s : sans)
    alt += (alt.empty() ? "" : ",") + s;
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, alt.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  check(X509_sign(x.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  cert_files out{dir / (name + ".crt"), dir / (name + ".key")};
  file_ptr kf(std::fopen(out.key.c_str(), "w"));
  check(kf && PEM_write_PrivateKey(kf.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write key");
  file_ptr cf(std::fopen(out.cert.c_str(), "w"));
  check(cf && PEM_write_X509(cf.get(), x.get()) == 1, "write certificate");
  return out;
}

} // namespace sluice::io::testing
