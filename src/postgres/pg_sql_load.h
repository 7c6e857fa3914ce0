// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The SQL of start-up (PgStore::Load): every table a process needs in memory, read in one
// snapshot, and the open holds of hold_batches (also read by Recompute).
//
// Constants only (statement names and text): thread-safe, no errors of their own.
#ifndef TOKENLEDGER_POSTGRES_PG_SQL_LOAD_H_
#define TOKENLEDGER_POSTGRES_PG_SQL_LOAD_H_

namespace tokenledger {
namespace pg_internal {

inline constexpr char kLoadTenantsSql[] =
    "SELECT tenant_id, display_name, unit, timezone, created_at FROM tenants "
    "ORDER BY tenant_id COLLATE \"C\"";
inline constexpr char kLoadApiKeysSql[] =
    "SELECT key_id, coalesce(tenant_id, ''), role, key_hash, created_at, revoked_at IS NOT NULL "
    "FROM api_keys ORDER BY key_id COLLATE \"C\"";
inline constexpr char kLoadTeamsSql[] =
    "SELECT tenant_id, team_id, display_name, monthly_cap FROM teams "
    "ORDER BY tenant_id COLLATE \"C\", team_id COLLATE \"C\"";
// Every account with its balances, read by COPY (the parenthesized query is what `COPY ... TO
// STDOUT` reads): rows stream in while the server still produces them, so that decoding them here
// overlaps the server's work. The order is the primary keys' own (the columns' collation, not
// "C"): it makes the plan a merge join of the two key indexes, which streams from its first row,
// where a hash join first built a table of every balance (1.4 s against 1.0 s for a million
// accounts, the first row after 0.45 s). The engine indexes accounts by id; the order is not used.
// The model limits come as two arrays, the models and their limits in the models' bytewise order
// (no subquery for the common '{}').
#define TL_MODEL_LIMITS_ARRAY(what)                                   \
  "CASE WHEN a.model_limits = '{}' THEN '{}' ELSE ARRAY(SELECT " what \
  " FROM jsonb_each(a.model_limits) ORDER BY key COLLATE \"C\")::text END"
inline constexpr char kCopyAccountsSql[] =
    "(SELECT a.tenant_id, a.account_id, a.display_name, a.team_id, a.has_policy, "
    "a.monthly_allocation, a.rollover_max, a.daily_limit, a.overdraft_limit, a.status, "
    "a.created_at, coalesce(b.credits, 0), coalesce(b.debits, 0), coalesce(b.granted, 0), "
    "coalesce(b.spent, 0), coalesce(b.expired, 0), " TL_MODEL_LIMITS_ARRAY("key") ", "
    TL_MODEL_LIMITS_ARRAY("value::bigint") " "
    "FROM accounts a LEFT JOIN balances b "
    "ON b.tenant_id = a.tenant_id AND b.account_id = a.account_id "
    "ORDER BY a.tenant_id, a.account_id)";
#undef TL_MODEL_LIMITS_ARRAY
// The open holds; and of the holds closed since $1 the $2 most recently closed, newest first
// (read backwards from the closed_at index: no sort).
#define TL_HOLD_COLUMNS                                                             \
  "SELECT tenant_id, hold_id, account_id, amount, created_at, expires_at, status, " \
  "idempotency_key, fingerprint, response, model FROM holds "
inline constexpr char kLoadOpenHoldsSql[] = TL_HOLD_COLUMNS "WHERE status = 1";
inline constexpr char kLoadClosedHoldsSql[] =
    TL_HOLD_COLUMNS "WHERE closed_at >= $1 ORDER BY closed_at DESC LIMIT $2";
#undef TL_HOLD_COLUMNS
// The hold batch rows of a tenant ($1; '' = every tenant), and the rows of `holds` of given holds
// (which win over their batch entries).
inline constexpr char kLoadHoldBatchesSql[] =
    "SELECT tenant_id, holds, segment FROM hold_batches WHERE $1 = '' OR tenant_id = $1 "
    "ORDER BY tenant_id, seq";
inline constexpr char kHoldRowsOfSql[] =
    "SELECT h.tenant_id, h.hold_id FROM holds h "
    "JOIN unnest($1::text[], $2::text[]) AS u(tenant_id, hold_id) "
    "ON h.tenant_id = u.tenant_id AND h.hold_id = u.hold_id";

// Every tenant's whole price book.
inline constexpr char kLoadPricesSql[] =
    "SELECT tenant_id, model, effective_at, input_per_million, output_per_million, "
    "cached_input_per_million, created_at FROM prices";

// Each account's latest reset.
inline constexpr char kLoadLastPeriodsSql[] =
    "SELECT tenant_id, account_id, period_start, carried, expired, granted, created_at FROM ("
    "SELECT DISTINCT ON (tenant_id, account_id) * FROM periods "
    "ORDER BY tenant_id, account_id, period_start DESC) p "
    "ORDER BY tenant_id COLLATE \"C\", account_id COLLATE \"C\"";
// The most recent keys, returned oldest first so that a consumer filling a bounded recency map
// in order ends with the newest as the most recent.
inline constexpr char kLoadIdempotencySql[] =
    "SELECT tenant_id, key, fingerprint, response FROM ("
    "SELECT tenant_id, key, fingerprint, response, created_at FROM idempotency_keys "
    "ORDER BY created_at DESC LIMIT $1) r ORDER BY created_at";

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_SQL_LOAD_H_
