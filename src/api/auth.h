// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Authentication and authorization of every call, in one place: the bearer key of the call's
// metadata is hashed (SHA-256), looked up, and its role checked against the method's table. The
// tenant of a call is the key's tenant, never a request field. Thread-safe.
#ifndef TOKENLEDGER_API_AUTH_H_
#define TOKENLEDGER_API_AUTH_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "ledger/engine.h"
#include "tokenledger/types.h"

namespace tokenledger {

enum class Method {
  kAuthorize,
  kDebit,
  kRelease,
  kCheck,
  kUpsertAccount,
  kUpsertTeam,
  kGrant,
  kAdjust,
  kGetBalance,
  kListTransfers,
  kCreateTenant,
  kCreateApiKey,
  kRevokeApiKey,
  kReconcile,
  kGetServerStats,
  kRunResets,
  kListAuditEvents,
  kSetPrice,
  kListPrices,
};

absl::string_view MethodName(Method m);

struct Caller {
  std::string tenant_id;  // empty for the operator
  std::string key_id;
  Role role = Role::kAuditor;
};

// Whether `role` may call `method`.
bool RoleAllows(Role role, Method method);

// Hex SHA-256 of a key: the only form in which keys are stored.
std::string HashApiKey(absl::string_view key);

// A new random key (256 bits) and key id (64 bits).
std::string NewApiKeySecret();
std::string NewApiKeyId();

class Authenticator {
 public:
  // `operator_key` may be empty (no operator access).
  Authenticator(const Ledger* ledger, const std::string& operator_key);

  // kUnauthenticated for a missing, malformed, unknown or revoked key; kPermissionDenied when
  // the key's role may not call `method`.
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& ctx, Method method) const;
  absl::StatusOr<Caller> AuthenticateKey(absl::string_view authorization_header,
                                         Method method) const;

 private:
  const Ledger* const ledger_;
  const std::string operator_key_hash_;  // empty when there is no operator key
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_AUTH_H_
