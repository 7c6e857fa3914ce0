// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tokenledger {
namespace {

std::string RandomHex(size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(bytes)) != 1) {
    std::abort();  // no secure randomness: refusing to make guessable keys
  }
  return absl::BytesToHexString(buf);
}

}  // namespace

absl::string_view MethodName(Method m) {
  switch (m) {
    case Method::kAuthorize:
      return "Authorize";
    case Method::kDebit:
      return "Debit";
    case Method::kRelease:
      return "Release";
    case Method::kCheck:
      return "Check";
    case Method::kUpsertAccount:
      return "UpsertAccount";
    case Method::kUpsertTeam:
      return "UpsertTeam";
    case Method::kGrant:
      return "Grant";
    case Method::kAdjust:
      return "Adjust";
    case Method::kGetBalance:
      return "GetBalance";
    case Method::kListTransfers:
      return "ListTransfers";
    case Method::kCreateTenant:
      return "CreateTenant";
    case Method::kCreateApiKey:
      return "CreateApiKey";
    case Method::kRevokeApiKey:
      return "RevokeApiKey";
    case Method::kReconcile:
      return "Reconcile";
    case Method::kGetServerStats:
      return "GetServerStats";
    case Method::kListAuditEvents:
      return "ListAuditEvents";
    case Method::kRunResets:
      return "RunResets";
    case Method::kSetPrice:
      return "SetPrice";
    case Method::kListPrices:
      return "ListPrices";
  }
  return "Unknown";
}

bool RoleAllows(Role role, Method method) {
  switch (method) {
    case Method::kAuthorize:
    case Method::kDebit:
    case Method::kRelease:
    case Method::kCheck:
      return role == Role::kGateway || role == Role::kAdmin;
    case Method::kGetBalance:
      return role == Role::kGateway || role == Role::kHr || role == Role::kAdmin ||
             role == Role::kAuditor;
    case Method::kUpsertAccount:
    case Method::kUpsertTeam:
    case Method::kGrant:
    case Method::kAdjust:
      return role == Role::kHr || role == Role::kAdmin;
    case Method::kListTransfers:
      return role == Role::kHr || role == Role::kAdmin || role == Role::kAuditor;
    case Method::kCreateTenant:
      return role == Role::kOperator;
    case Method::kCreateApiKey:
    case Method::kRevokeApiKey:
      return role == Role::kOperator || role == Role::kAdmin;
    case Method::kListAuditEvents:
    case Method::kReconcile:  // auditors may look (fix=false is checked by the handler)
      return role == Role::kAdmin || role == Role::kAuditor;
    case Method::kGetServerStats:
      return role == Role::kOperator || role == Role::kAdmin;
    case Method::kRunResets:
    case Method::kSetPrice:
      return role == Role::kAdmin;
    case Method::kListPrices:
      return role == Role::kAdmin || role == Role::kHr || role == Role::kAuditor ||
             role == Role::kGateway;
  }
  return false;
}

std::string HashApiKey(absl::string_view key) {
  // Fetched once: handing EVP_Digest the legacy EVP_sha256() makes OpenSSL 3 look the
  // algorithm up in its provider tables (under a lock) on every call, which cost more than the
  // hash itself on the hot path. Never freed; it lives as long as the process.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (sha256 == nullptr || EVP_Digest(key.data(), key.size(), digest, &len, sha256, nullptr) != 1) {
    // Without SHA-256 no key can be checked; an empty hash matches no stored key.
    return std::string();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(len)));
}

std::string NewApiKeySecret() { return absl::StrCat("tlk_", RandomHex(32)); }
std::string NewApiKeyId() { return absl::StrCat("key_", RandomHex(8)); }

Authenticator::Authenticator(const Ledger* ledger, const std::string& operator_key)
    : ledger_(ledger), operator_key_hash_(operator_key.empty() ? "" : HashApiKey(operator_key)) {}

absl::StatusOr<Caller> Authenticator::Authenticate(const grpc::ServerContextBase& ctx,
                                                   Method method) const {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError("missing metadata 'authorization: Bearer <api key>'");
  }
  return AuthenticateKey(absl::string_view(it->second.data(), it->second.size()), method);
}

absl::StatusOr<Caller> Authenticator::AuthenticateKey(absl::string_view header,
                                                      Method method) const {
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(header, kBearer) || header.size() <= kBearer.size() ||
      header.size() > 512) {
    return absl::UnauthenticatedError("malformed authorization: expected 'Bearer <api key>'");
  }
  const std::string hash = HashApiKey(header.substr(kBearer.size()));
  if (hash.empty()) return absl::InternalError("SHA-256 is unavailable: no key can be checked");
  Caller caller;
  // Keys are compared by their SHA-256: a lookup by hash reveals nothing usable about a key
  // through timing, and the operator's hash is compared in constant time.
  if (!operator_key_hash_.empty() && hash.size() == operator_key_hash_.size() &&
      CRYPTO_memcmp(hash.data(), operator_key_hash_.data(), hash.size()) == 0) {
    caller = Caller{"", "operator", Role::kOperator};
  } else {
    std::optional<ApiKeyRecord> key = ledger_->FindKeyByHash(hash);
    if (!key) return absl::UnauthenticatedError("unknown api key");
    if (key->revoked) return absl::UnauthenticatedError("revoked api key");
    caller = Caller{key->tenant_id, key->key_id, key->role};
  }
  if (!RoleAllows(caller.role, method)) {
    return absl::PermissionDeniedError(
        absl::StrCat("role '", RoleName(caller.role), "' may not call ", MethodName(method)));
  }
  return caller;
}

}  // namespace tokenledger
