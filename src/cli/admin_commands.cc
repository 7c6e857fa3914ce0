// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The commands of AdminService: tenants, API keys, reconciliation, the audit trail, period
// resets, the server's figures and the price book.
#include <cstdint>
#include <iostream>

#include "absl/flags/flag.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace tokenledger::cli {

int RunTenantCreate(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: tenant create <tenant_id> [--display-name X]");
  v1::CreateTenantRequest req;
  req.set_tenant_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_unit(absl::GetFlag(FLAGS_unit));
  req.set_timezone(absl::GetFlag(FLAGS_timezone));
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::CreateTenant, req);
}

int RunKeyCreate(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: key create <role> [--tenant T]");
  v1::CreateApiKeyRequest req;
  req.set_tenant_id(absl::GetFlag(FLAGS_tenant));
  req.set_role(args[0]);
  req.set_idempotency_key(client.IdempotencyKey());
  const int rc = client.Call(client.Admin().get(), &v1::AdminService::Stub::CreateApiKey, req);
  if (rc == kExitOk && !client.json()) std::cout << "(the key is shown once: store it now)\n";
  return rc;
}

int RunKeyRevoke(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: key revoke <key_id>");
  v1::RevokeApiKeyRequest req;
  req.set_key_id(args[0]);
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::RevokeApiKey, req);
}

int RunReconcile(Client& client, const Args& args) {
  if (!args.empty()) return UsageError("usage: reconcile [--fix]");
  v1::ReconcileRequest req;
  req.set_fix(absl::GetFlag(FLAGS_fix));
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::Reconcile, req);
}

int RunAudit(Client& client, const Args& args) {
  if (!args.empty()) return UsageError("usage: audit [--limit N] [--page-token T]");
  v1::ListAuditEventsRequest req;
  req.set_page_size(absl::GetFlag(FLAGS_limit));
  req.set_page_token(absl::GetFlag(FLAGS_page_token));
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::ListAuditEvents, req);
}

int RunResetsRun(Client& client, const Args& args) {
  if (!args.empty()) return UsageError("usage: resets run [--as-of US]");
  const int64_t as_of = absl::GetFlag(FLAGS_as_of);
  if (as_of < 0) return UsageError("--as-of must not be negative");
  v1::RunResetsRequest req;
  req.set_as_of(as_of);
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::RunResets, req);
}

int RunStats(Client& client, const Args& args) {
  if (!args.empty()) return UsageError("usage: stats");
  v1::GetServerStatsRequest req;
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::GetServerStats, req);
}

int RunPriceSet(Client& client, const Args& args) {
  if (args.size() != 1) {
    return UsageError(
        "usage: price set <model> --input-per-million N --output-per-million N "
        "[--cached-input-per-million N] [--effective-at US]");
  }
  const auto input = absl::GetFlag(FLAGS_input_per_million);
  const auto output = absl::GetFlag(FLAGS_output_per_million);
  if (!input || !output) {
    return UsageError("price set needs --input-per-million and --output-per-million");
  }
  v1::SetPriceRequest req;
  req.set_model(args[0]);
  req.set_effective_at(absl::GetFlag(FLAGS_effective_at));
  req.set_input_per_million(*input);
  req.set_output_per_million(*output);
  req.set_cached_input_per_million(absl::GetFlag(FLAGS_cached_input_per_million).value_or(0));
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::SetPrice, req);
}

int RunPriceList(Client& client, const Args& args) {
  if (!args.empty()) return UsageError("usage: price list [--model M] [--as-of US]");
  v1::ListPricesRequest req;
  req.set_model(absl::GetFlag(FLAGS_model));
  req.set_as_of(absl::GetFlag(FLAGS_as_of));
  return client.Call(client.Admin().get(), &v1::AdminService::Stub::ListPrices, req);
}

}  // namespace tokenledger::cli
