// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/server_credentials.h"

namespace tokenledger {
namespace {

constexpr size_t kPemBytesMax = 1 << 20;

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::string pem;
  pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": read failed"));
  }
  if (pem.size() > kPemBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": larger than 1 MiB"));
  }
  return pem;
}

// PEM parsed by OpenSSL, so that a bad file stops the start with its name rather than failing
// every handshake later.
struct Parsed {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  ~Parsed() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// The first PEM object of `pem` read by `read` (PEM_read_bio_X509, PEM_read_bio_PrivateKey), or
// null.
template <typename T>
T* ParsePem(const std::string& pem, T* (*read)(BIO*, T**, pem_password_cb*, void*)) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  T* object = read(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return object;
}

absl::Status CheckPair(const TlsFiles& files, const std::string& cert_pem,
                       const std::string& key_pem) {
  Parsed p;
  p.cert = ParsePem(cert_pem, &PEM_read_bio_X509);
  if (p.cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert ", files.cert_file, ": no PEM certificate in it"));
  }
  p.key = ParsePem(key_pem, &PEM_read_bio_PrivateKey);
  if (p.key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", files.key_file, ": no PEM private key in it (or it is encrypted)"));
  }
  if (X509_check_private_key(p.cert, p.key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", files.key_file, ": not the key of the certificate in ", files.cert_file));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty() && files.key_file.empty() && files.client_ca_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (and --tls-client-ca needs both)");
  }
  auto cert = ReadPem("--tls-cert", files.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("--tls-key", files.key_file);
  if (!key.ok()) return key.status();
  if (absl::Status s = CheckPair(files, *cert, *key); !s.ok()) return s;

  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!files.client_ca_file.empty()) {
    auto ca = ReadPem("--tls-client-ca", files.client_ca_file);
    if (!ca.ok()) return ca.status();
    X509* first = ParsePem(*ca, &PEM_read_bio_X509);
    if (first == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-client-ca ", files.client_ca_file, ": no PEM certificate in it"));
    }
    X509_free(first);
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace tokenledger
