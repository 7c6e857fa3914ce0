// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's transport security: plaintext, TLS (a certificate and its key), or mutual TLS
// (also a CA that every client certificate must be signed by; a client without one is refused
// during the handshake).
#ifndef TOKENLEDGER_SERVER_TLS_H_
#define TOKENLEDGER_SERVER_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace tokenledger {

// PEM files. All empty: plaintext. cert_file and key_file: TLS. Plus client_ca_file: mutual TLS.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
};

// The server credentials for `files`. kInvalidArgument, naming the flag and the file, for a
// combination that is incomplete, a file that cannot be read, PEM that does not parse, or a key
// that is not the certificate's.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace tokenledger

#endif  // TOKENLEDGER_SERVER_TLS_H_
