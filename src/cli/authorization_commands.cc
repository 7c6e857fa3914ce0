// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The commands of AuthorizationService: authorize, debit, release, check.
#include <cstdint>
#include <iostream>

#include "absl/flags/flag.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace tokenledger::cli {

int RunAuthorize(Client& client, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: authorize <account_id> <amount> [--ttl S]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::AuthorizeRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_hold_ttl_seconds(absl::GetFlag(FLAGS_ttl));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Authorize, req);
}

int RunDebit(Client& client, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: debit <account_id> <amount> [--hold H]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::DebitRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_hold_id(absl::GetFlag(FLAGS_hold));
  req.set_request_id(absl::GetFlag(FLAGS_request_id));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Debit, req);
}

int RunRelease(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: release <hold_id>");
  v1::ReleaseRequest req;
  req.set_hold_id(args[0]);
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Release, req);
}

int RunCheck(Client& client, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: check <account_id> <amount>");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::CheckRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Check, req);
}

}  // namespace tokenledger::cli
