// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The SQL of the read paths: transfer listing, single-row lookups, reconciliation
// (Recompute, RepairBalances), usage sums and the audit log.
//
// Constants only (statement names and text): thread-safe, no errors of their own.
#ifndef TOKENLEDGER_POSTGRES_PG_SQL_READS_H_
#define TOKENLEDGER_POSTGRES_PG_SQL_READS_H_

namespace tokenledger {
namespace pg_internal {

inline constexpr char kListAuditSql[] =
    "SELECT seq, tenant_id, actor_key_id, action, target, detail, created_at FROM audit_events "
    "WHERE tenant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";

// Metadata as two text arrays sorted by key (bytewise), parsed back into pairs.
#define TL_METADATA_COLUMNS                                                                 \
  "ARRAY(SELECT key FROM jsonb_each_text(t.metadata) ORDER BY key COLLATE \"C\"), "         \
  "ARRAY(SELECT coalesce(value, '') FROM jsonb_each_text(t.metadata) ORDER BY key COLLATE " \
  "\"C\")"

// An account's transfers are the union of its debit side and its credit side, each read newest
// first from its own index and cut at the limit, then merged: a plain OR would read every
// transfer of the account and sort them. The two sides never hold the same transfer (a transfer
// cannot debit and credit one account).
inline constexpr char kListTransfersSql[] =
    "SELECT t.seq, t.transfer_id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, "
    "t.created_at, t.request_id, t.model, t.memo, t.hold_id, "
    "t.idempotency_key, " TL_METADATA_COLUMNS
    ", t.input_tokens, t.output_tokens, t.cached_input_tokens, t.price_effective_at, "
    "t.occurred_at FROM ("
    "(SELECT * FROM transfers WHERE tenant_id = $1 AND debit_account_id = $2 AND seq < $3 "
    "AND created_at >= $4 AND created_at < $5 ORDER BY seq DESC LIMIT $6) "
    "UNION ALL "
    "(SELECT * FROM transfers WHERE tenant_id = $1 AND credit_account_id = $2 AND seq < $3 "
    "AND created_at >= $4 AND created_at < $5 ORDER BY seq DESC LIMIT $6)"
    ") t ORDER BY t.seq DESC LIMIT $6";
#undef TL_METADATA_COLUMNS

inline constexpr char kGetIdempotencySql[] =
    "SELECT tenant_id, key, fingerprint, response FROM idempotency_keys "
    "WHERE tenant_id = $1 AND key = $2";

inline constexpr char kGetHoldSql[] =
    "SELECT tenant_id, hold_id, account_id, amount, created_at, expires_at, status, "
    "idempotency_key, fingerprint, response, model FROM holds "
    "WHERE tenant_id = $1 AND hold_id = $2";

// Kind-specific sums mirror ApplyDebitSide/ApplyCreditSide: granted = GRANT(1) and
// RESET_GRANT(4) credits, spent = USAGE(2) debits, expired = RESET_EXPIRE(3) debits.
inline constexpr char kRecomputeSql[] =
    "WITH d AS (SELECT debit_account_id AS account_id, sum(amount) AS debits, "
    "  sum(amount) FILTER (WHERE kind = 2) AS spent, "
    "  sum(amount) FILTER (WHERE kind = 3) AS expired "
    "  FROM transfers WHERE tenant_id = $1 GROUP BY debit_account_id), "
    "c AS (SELECT credit_account_id AS account_id, sum(amount) AS credits, "
    "  sum(amount) FILTER (WHERE kind IN (1, 4)) AS granted "
    "  FROM transfers WHERE tenant_id = $1 GROUP BY credit_account_id), "
    "h AS (SELECT account_id, sum(amount) AS held FROM holds "
    "  WHERE tenant_id = $1 AND status = 1 GROUP BY account_id) "
    "SELECT a.account_id, "
    "coalesce(c.credits, 0)::bigint, coalesce(d.debits, 0)::bigint, "
    "coalesce(c.granted, 0)::bigint, coalesce(d.spent, 0)::bigint, "
    "coalesce(d.expired, 0)::bigint, "
    "coalesce(b.credits, 0), coalesce(b.debits, 0), coalesce(b.granted, 0), "
    "coalesce(b.spent, 0), coalesce(b.expired, 0), coalesce(h.held, 0)::bigint "
    "FROM accounts a "
    "LEFT JOIN balances b ON b.tenant_id = a.tenant_id AND b.account_id = a.account_id "
    "LEFT JOIN d ON d.account_id = a.account_id "
    "LEFT JOIN c ON c.account_id = a.account_id "
    "LEFT JOIN h ON h.account_id = a.account_id "
    "WHERE a.tenant_id = $1 "
    "ORDER BY a.account_id COLLATE \"C\"";
inline constexpr char kCountTransfersSql[] = "SELECT count(*) FROM transfers WHERE tenant_id = $1";

// Period rows grouped by (account, created_at), beside the sums of the account's RESET_EXPIRE(3)
// debits and RESET_GRANT(4) credits stamped with that created_at (see PeriodGroup).
inline constexpr char kRecomputePeriodsSql[] =
    "WITH e AS (SELECT debit_account_id AS account_id, created_at, sum(amount) AS amount "
    "  FROM transfers WHERE tenant_id = $1 AND kind = 3 GROUP BY 1, 2), "
    "g AS (SELECT credit_account_id AS account_id, created_at, sum(amount) AS amount "
    "  FROM transfers WHERE tenant_id = $1 AND kind = 4 GROUP BY 1, 2), "
    "p AS (SELECT account_id, created_at, count(*) AS n, max(period_start) AS last_start, "
    "  sum(expired) AS expired, sum(granted) AS granted "
    "  FROM periods WHERE tenant_id = $1 GROUP BY 1, 2) "
    "SELECT p.account_id, p.n, p.last_start, p.expired::bigint, p.granted::bigint, "
    "coalesce(e.amount, 0)::bigint, coalesce(g.amount, 0)::bigint "
    "FROM p "
    "LEFT JOIN e ON e.account_id = p.account_id AND e.created_at = p.created_at "
    "LEFT JOIN g ON g.account_id = p.account_id AND g.created_at = p.created_at";

// Served by the partial index transfers_usage (tenant_id, created_at) WHERE kind = 2. One row per
// (account, model), the accounts in order: the caller adds an account's rows up into its sums.
// The last column counts the model's transfers in the period (a free model's sum is 0).
inline constexpr char kSumUsageSql[] =
    "SELECT debit_account_id, model, "
    "coalesce(sum(amount) FILTER (WHERE created_at >= $2), 0)::bigint, "
    "coalesce(sum(amount) FILTER (WHERE created_at >= $3), 0)::bigint, "
    "count(*) FILTER (WHERE created_at >= $2) "
    "FROM transfers WHERE tenant_id = $1 AND kind = 2 AND created_at >= least($2, $3) "
    "GROUP BY debit_account_id, model "
    "ORDER BY debit_account_id COLLATE \"C\", model COLLATE \"C\"";

inline constexpr char kRepairBalancesSql[] =
    "INSERT INTO balances (tenant_id, account_id, credits, debits, granted, spent, expired) "
    "SELECT $1, u.* FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[]) AS u(account_id, credits, debits, granted, spent, expired) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET credits = excluded.credits, "
    "debits = excluded.debits, granted = excluded.granted, spent = excluded.spent, "
    "expired = excluded.expired";

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_SQL_READS_H_
