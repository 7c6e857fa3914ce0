// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "cli/client.h"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "util/status_names.h"

namespace tokenledger::cli {

namespace {

// gRPC's name of `code` (util/status_names.h, as the daemon's metrics and logs spell it);
// CODE_<n> for a code gRPC does not define.
std::string StatusCodeName(grpc::StatusCode code) {
  const int c = static_cast<int>(code);
  if (c >= 0 && c < kGrpcCodeCount) return kGrpcCodeNames[c];
  return absl::StrCat("CODE_", c);
}

bool ReadPemFlag(absl::string_view flag, const std::string& path, std::string* out) {
  if (path.empty()) return true;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    UsageError(absl::StrCat("cannot read ", flag, " ", path));
    return false;
  }
  *out = ss.str();
  return true;
}

std::string RandomIdempotencyKey() {
  std::random_device rd;
  const uint64_t hi = (static_cast<uint64_t>(rd()) << 32) | rd();
  const uint64_t lo = (static_cast<uint64_t>(rd()) << 32) | rd();
  return absl::StrFormat("cli-%016x%016x", hi, lo);
}

}  // namespace

// Plaintext, unless --tls or a --tls-* file asks for TLS. Returns null (after printing why) when
// a file cannot be read or the client certificate comes without its key.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFromFlags() {
  grpc::SslCredentialsOptions options;
  if (!ReadPemFlag("--tls-ca", absl::GetFlag(FLAGS_tls_ca), &options.pem_root_certs) ||
      !ReadPemFlag("--tls-cert", absl::GetFlag(FLAGS_tls_cert), &options.pem_cert_chain) ||
      !ReadPemFlag("--tls-key", absl::GetFlag(FLAGS_tls_key), &options.pem_private_key)) {
    return nullptr;
  }
  if (options.pem_cert_chain.empty() != options.pem_private_key.empty()) {
    UsageError("--tls-cert and --tls-key go together");
    return nullptr;
  }
  const bool tls = absl::GetFlag(FLAGS_tls) || !options.pem_root_certs.empty() ||
                   !options.pem_cert_chain.empty();
  return tls ? grpc::SslCredentials(options) : grpc::InsecureChannelCredentials();
}

Client::Client(const std::string& target, std::string key, bool json, double timeout_s,
               std::shared_ptr<grpc::ChannelCredentials> creds)
    : key_(std::move(key)), json_(json), timeout_s_(timeout_s) {
  channel_ = grpc::CreateChannel(target, creds);
}

void Client::SetUp(grpc::ClientContext* ctx, bool with_key) const {
  const auto timeout = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(timeout_s_));
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  if (with_key) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", key_));
}

bool Client::RequireKey() const {
  if (!key_.empty()) return true;
  UsageError("no API key: set TOKENLEDGER_KEY or pass --key");
  return false;
}

std::string Client::IdempotencyKey() {
  std::string key = absl::GetFlag(FLAGS_idempotency_key);
  if (key.empty()) {
    key = RandomIdempotencyKey();
    generated_key_ = key;
  }
  return key;
}

int Client::Fail(const grpc::Status& status) const {
  std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  if (!generated_key_.empty() && !json_) {
    std::cerr << "(to retry safely: --idempotency-key " << generated_key_ << ")\n";
  }
  return kExitRpcError;
}

int Client::Print(const google::protobuf::Message& response) const {
  if (json_) {
    PrintJson(response);
    return kExitOk;
  }
  Rows extra;
  if (!generated_key_.empty()) extra.emplace_back("idempotency_key", generated_key_);
  PrintHuman(response, extra);
  return kExitOk;
}

}  // namespace tokenledger::cli
