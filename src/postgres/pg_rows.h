// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Records from PgStore's result rows: each function reads the columns of the statements named
// beside it, in their order. Internal to the pg_* files. A value libpqxx cannot convert throws
// (pqxx::conversion_error), which the caller's exception mapping turns into kInternal; an API
// key of an unknown role is kInternal. Pure functions: thread-safe.
#ifndef TOKENLEDGER_POSTGRES_PG_ROWS_H_
#define TOKENLEDGER_POSTGRES_PG_ROWS_H_

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenledger/lease.h"
#include "tokenledger/types.h"

namespace tokenledger {
namespace pg_internal {

// A bytea column's bytes.
std::string Bytes(const pqxx::field& f);
// Parses a one-dimensional text[] column. Each step consumes input, so the loop is bounded by
// the field's length.
std::vector<std::string> TextArray(const pqxx::field& f);
// The same from an array's text form (as COPY gives it): {"a","b"} or {1,2}.
std::vector<std::string> TextArray(const std::string& literal);

// kInsertIdempotencySql's RETURNING aside, every idempotency_keys read: tenant_id, key,
// fingerprint, response.
IdempotencyRecord IdempotencyFromRow(const pqxx::row& r);
// A row of kLoadOpenHoldsSql, kLoadClosedHoldsSql or kGetHoldSql.
HoldRecord HoldFromRow(const pqxx::row& r);
// A row of kListTransfersSql, of `tenant_id`; kInternal for metadata it cannot read.
absl::StatusOr<TransferRecord> TransferFromRow(const pqxx::row& r, const std::string& tenant_id);
// kLoadTenantsSql.
TenantRecord TenantFromRow(const pqxx::row& r);
// kLoadApiKeysSql.
absl::StatusOr<ApiKeyRecord> ApiKeyFromRow(const pqxx::row& r);
// kClaimLeasesSql, kListLeasesSql.
LeaseRecord LeaseFromRow(const pqxx::row& r);

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_ROWS_H_
