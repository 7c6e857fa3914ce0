// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The SQL of the write path: the statements a committed batch runs, each prepared on every
// writer connection (kWriterStatements) so that a batch costs no parsing or planning.
//
// Constants only (statement names and text): thread-safe, no errors of their own.
#ifndef TOKENLEDGER_POSTGRES_PG_SQL_WRITER_H_
#define TOKENLEDGER_POSTGRES_PG_SQL_WRITER_H_

#include <utility>

#include "postgres/pg_sql_leases.h"

namespace tokenledger {
namespace pg_internal {

// The time of the transaction, in the schema's unit (microseconds since the epoch).
#define TL_NOW_MICROS "(extract(epoch FROM now()) * 1000000)::bigint"

// Prepared on the writer connection (the group-commit path), so that a batch costs no parsing
// or planning of these statements.
inline constexpr char kInsertIdempotency[] = "tl_insert_idempotency";
inline constexpr char kInsertIdempotencySql[] =
    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[]) "
    "ON CONFLICT (tenant_id, key) DO NOTHING "
    "RETURNING tenant_id, key";

// The one-round-trip batch's form: a key stored already fails the batch (unique violation), which
// is then written again the careful way (the keys that exist answer their duplicates).
inline constexpr char kInsertIdempotencyNew[] = "tl_insert_idempotency_new";
inline constexpr char kInsertIdempotencyNewSql[] =
    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])";

inline constexpr char kSelectIdempotency[] = "tl_select_idempotency";
inline constexpr char kSelectIdempotencySql[] =
    "SELECT i.tenant_id, i.key, i.fingerprint, i.response "
    "FROM unnest($1::text[], $2::text[]) AS u(tenant_id, key) "
    "JOIN idempotency_keys i ON i.tenant_id = u.tenant_id AND i.key = u.key";

inline constexpr char kInsertTenants[] = "tl_insert_tenants";
inline constexpr char kInsertTenantsSql[] =
    "INSERT INTO tenants (tenant_id, display_name, unit, timezone, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])";

inline constexpr char kUpsertAccounts[] = "tl_upsert_accounts";
inline constexpr char kUpsertAccountsSql[] =
    "INSERT INTO accounts (tenant_id, account_id, display_name, team_id, has_policy, "
    "monthly_allocation, rollover_max, daily_limit, overdraft_limit, status, created_at, "
    "model_limits) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], "
    "$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::smallint[], $11::bigint[], "
    "$12::jsonb[]) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET display_name = excluded.display_name, "
    "team_id = excluded.team_id, has_policy = excluded.has_policy, "
    "monthly_allocation = excluded.monthly_allocation, rollover_max = excluded.rollover_max, "
    "daily_limit = excluded.daily_limit, overdraft_limit = excluded.overdraft_limit, "
    "status = excluded.status, model_limits = excluded.model_limits";

inline constexpr char kInsertBalanceRows[] = "tl_insert_balance_rows";
inline constexpr char kInsertBalanceRowsSql[] =
    "INSERT INTO balances (tenant_id, account_id) "
    "SELECT * FROM unnest($1::text[], $2::text[]) "
    "ON CONFLICT (tenant_id, account_id) DO NOTHING";

inline constexpr char kUpsertTeams[] = "tl_upsert_teams";
inline constexpr char kUpsertTeamsSql[] =
    "INSERT INTO teams (tenant_id, team_id, display_name, monthly_cap) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
    "ON CONFLICT (tenant_id, team_id) DO UPDATE SET display_name = excluded.display_name, "
    "monthly_cap = excluded.monthly_cap";

// revoked_at keeps the time of the first revocation; un-revoking clears it.
inline constexpr char kUpsertApiKeys[] = "tl_upsert_api_keys";
inline constexpr char kUpsertApiKeysSql[] =
    "INSERT INTO api_keys AS k (key_id, tenant_id, role, key_hash, created_at, revoked_at) "
    "SELECT u.key_id, NULLIF(u.tenant_id, ''), u.role, u.key_hash, u.created_at, "
    "CASE WHEN u.revoked THEN " TL_NOW_MICROS
    " END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[]) "
    "AS u(key_id, tenant_id, role, key_hash, created_at, revoked) "
    "ON CONFLICT (key_id) DO UPDATE SET revoked_at = CASE WHEN excluded.revoked_at IS NULL "
    "THEN NULL ELSE coalesce(k.revoked_at, excluded.revoked_at) END";

// closed_at keeps the time a hold first left OPEN (Load reads recently closed holds by it).
inline constexpr char kUpsertHolds[] = "tl_upsert_holds";
inline constexpr char kUpsertHoldsSql[] =
    "INSERT INTO holds AS h (tenant_id, hold_id, account_id, amount, created_at, expires_at, "
    "status, idempotency_key, fingerprint, response, model, closed_at) "
    "SELECT u.*, CASE WHEN u.status <> 1 THEN " TL_NOW_MICROS
    " END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], "
    "$7::smallint[], $8::text[], $9::bigint[], $10::bytea[], $11::text[]) AS u(tenant_id, "
    "hold_id, account_id, amount, created_at, expires_at, status, idempotency_key, fingerprint, "
    "response, model) "
    "ON CONFLICT (tenant_id, hold_id) DO UPDATE SET status = excluded.status, "
    "closed_at = CASE WHEN excluded.status = 1 THEN NULL "
    "ELSE coalesce(h.closed_at, excluded.closed_at) END "
    // A hold only ever closes: with two writer connections its capture may commit before its
    // creation, which must then not reopen it.
    "WHERE h.status = 1";

inline constexpr char kInsertHoldBatches[] = "tl_insert_hold_batches";
inline constexpr char kInsertHoldBatchesSql[] =
    "INSERT INTO hold_batches (tenant_id, segment, expires_max, holds) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])";

// The rows of segments whose holds have all closed or expired (Mutation::dropped_hold_segments).
inline constexpr char kDropHoldSegments[] = "tl_drop_hold_segments";
inline constexpr char kDropHoldSegmentsSql[] =
    "DELETE FROM hold_batches b USING unnest($1::text[], $2::bigint[]) AS d(tenant_id, segment) "
    "WHERE b.tenant_id = d.tenant_id AND b.segment = d.segment AND d.segment <> 0";

// Bounded per run, like the batch ids: rows whose every hold expired before $1.
inline constexpr char kPruneHoldBatches[] = "tl_prune_hold_batches";
inline constexpr char kPruneHoldBatchesSql[] =
    "DELETE FROM hold_batches WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM hold_batches "
    "WHERE expires_max < $1 LIMIT 10000)";

inline constexpr char kInsertPeriods[] = "tl_insert_periods";
inline constexpr char kInsertPeriodsSql[] =
    "INSERT INTO periods (tenant_id, account_id, period_start, carried, expired, granted, "
    "created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[])";

// Prices are only ever inserted: a (tenant, model, effective_at) that exists fails the batch.
inline constexpr char kInsertPrices[] = "tl_insert_prices";
inline constexpr char kInsertPricesSql[] =
    "INSERT INTO prices (tenant_id, model, effective_at, input_per_million, output_per_million, "
    "cached_input_per_million, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[])";

// ORDER BY ord: seq (identity) is drawn as rows are inserted, so transfers get increasing seq
// in batch order. The usage columns are NULL for a transfer without usage.
inline constexpr char kInsertTransfers[] = "tl_insert_transfers";
inline constexpr char kInsertTransfersSql[] =
    "INSERT INTO transfers (tenant_id, transfer_id, debit_account_id, credit_account_id, amount, "
    "kind, created_at, request_id, model, metadata, memo, hold_id, idempotency_key, "
    "input_tokens, output_tokens, cached_input_tokens, price_effective_at, occurred_at) "
    "SELECT u.tenant_id, u.transfer_id, u.debit_account_id, u.credit_account_id, u.amount, "
    "u.kind, u.created_at, u.request_id, u.model, u.metadata, u.memo, u.hold_id, "
    "u.idempotency_key, u.input_tokens, u.output_tokens, u.cached_input_tokens, "
    "u.price_effective_at, u.occurred_at "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], "
    "$7::bigint[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[], $13::text[], "
    "$14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[]) "
    "WITH ORDINALITY AS u(tenant_id, transfer_id, debit_account_id, credit_account_id, amount, "
    "kind, created_at, request_id, model, metadata, memo, hold_id, idempotency_key, "
    "input_tokens, output_tokens, cached_input_tokens, price_effective_at, occurred_at, ord) "
    "ORDER BY u.ord";

// One row per touched account, with the batch's summed deltas. An upsert rather than an
// UPDATE so that a missing balance row is created instead of silently not updated.
inline constexpr char kAddBalances[] = "tl_add_balances";
inline constexpr char kAddBalancesSql[] =
    "INSERT INTO balances AS b (tenant_id, account_id, credits, debits, granted, spent, expired) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[]) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET credits = b.credits + excluded.credits, "
    "debits = b.debits + excluded.debits, granted = b.granted + excluded.granted, "
    "spent = b.spent + excluded.spent, expired = b.expired + excluded.expired";

inline constexpr char kInsertBatch[] = "tl_insert_batch";
inline constexpr char kInsertBatchSql[] = "INSERT INTO commit_batches (batch_id) VALUES ($1)";

inline constexpr char kCommittedBatch[] = "tl_committed_batch";
inline constexpr char kCommittedBatchSql[] =
    "SELECT EXISTS (SELECT 1 FROM commit_batches WHERE batch_id = $1)";

// Bounded per run (LIMIT) so that one commit never carries a huge delete.
inline constexpr char kPruneBatches[] = "tl_prune_batches";
inline constexpr char kPruneBatchesSql[] =
    "DELETE FROM commit_batches WHERE batch_id IN (SELECT batch_id FROM commit_batches "
    "WHERE committed_at < now() - make_interval(secs => $1::double precision) LIMIT 10000)";

inline constexpr char kInsertAudit[] = "tl_insert_audit";
inline constexpr char kInsertAuditSql[] =
    "INSERT INTO audit_events (tenant_id, actor_key_id, action, target, detail, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::bigint[])";

#undef TL_NOW_MICROS

// Prepared on every writer connection when it opens.
inline constexpr std::pair<const char*, const char*> kWriterStatements[] = {
    {kInsertIdempotency, kInsertIdempotencySql},
    {kInsertIdempotencyNew, kInsertIdempotencyNewSql},
    {kSelectIdempotency, kSelectIdempotencySql},
    {kInsertTenants, kInsertTenantsSql},
    {kUpsertAccounts, kUpsertAccountsSql},
    {kInsertBalanceRows, kInsertBalanceRowsSql},
    {kUpsertTeams, kUpsertTeamsSql},
    {kUpsertApiKeys, kUpsertApiKeysSql},
    {kUpsertHolds, kUpsertHoldsSql},
    {kInsertHoldBatches, kInsertHoldBatchesSql},
    {kPruneHoldBatches, kPruneHoldBatchesSql},
    {kDropHoldSegments, kDropHoldSegmentsSql},
    {kInsertPeriods, kInsertPeriodsSql},
    {kInsertPrices, kInsertPricesSql},
    {kInsertTransfers, kInsertTransfersSql},
    {kAddBalances, kAddBalancesSql},
    {kInsertBatch, kInsertBatchSql},
    {kCommittedBatch, kCommittedBatchSql},
    {kPruneBatches, kPruneBatchesSql},
    {kCheckFences, kCheckFencesSql},
    {kInsertAudit, kInsertAuditSql},
    {kInsertLeases, kInsertLeasesSql},
};

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_SQL_WRITER_H_
