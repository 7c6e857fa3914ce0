// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "store/pg_store.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <exception>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "store/memory_store.h"

namespace tokenledger {

// One connection. Members are destroyed in reverse order: the error handler before the
// connection it is registered with.
struct PgConn {
  explicit PgConn(const std::string& conninfo) : conn(conninfo), quiet(conn) {}
  pqxx::connection conn;
  // Server notices ("relation exists, skipping", ...) are not ours to print: the store does not
  // log. libpqxx would write them to stderr.
  pqxx::quiet_errorhandler quiet;
  // Set when a call found the connection unusable: it is dropped instead of reused.
  bool broken = false;
};

namespace {

using Key = std::pair<std::string, std::string>;

// The time of the transaction, in the schema's unit (microseconds since the epoch).
#define TL_NOW_MICROS "(extract(epoch FROM now()) * 1000000)::bigint"

// Prepared on the writer connection (the group-commit path), so that a batch costs no parsing
// or planning of these statements.
constexpr char kInsertIdempotency[] = "tl_insert_idempotency";
constexpr char kInsertIdempotencySql[] =
    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[]) "
    "ON CONFLICT (tenant_id, key) DO NOTHING "
    "RETURNING tenant_id, key";

// The one-round-trip batch's form: a key stored already fails the batch (unique violation), which
// is then written again the careful way (the keys that exist answer their duplicates).
constexpr char kInsertIdempotencyNew[] = "tl_insert_idempotency_new";
constexpr char kInsertIdempotencyNewSql[] =
    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])";

constexpr char kSelectIdempotency[] = "tl_select_idempotency";
constexpr char kSelectIdempotencySql[] =
    "SELECT i.tenant_id, i.key, i.fingerprint, i.response "
    "FROM unnest($1::text[], $2::text[]) AS u(tenant_id, key) "
    "JOIN idempotency_keys i ON i.tenant_id = u.tenant_id AND i.key = u.key";

constexpr char kInsertTenants[] = "tl_insert_tenants";
constexpr char kInsertTenantsSql[] =
    "INSERT INTO tenants (tenant_id, display_name, unit, timezone, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])";

constexpr char kUpsertAccounts[] = "tl_upsert_accounts";
constexpr char kUpsertAccountsSql[] =
    "INSERT INTO accounts (tenant_id, account_id, display_name, team_id, has_policy, "
    "monthly_allocation, rollover_max, daily_limit, overdraft_limit, status, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], "
    "$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::smallint[], $11::bigint[]) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET display_name = excluded.display_name, "
    "team_id = excluded.team_id, has_policy = excluded.has_policy, "
    "monthly_allocation = excluded.monthly_allocation, rollover_max = excluded.rollover_max, "
    "daily_limit = excluded.daily_limit, overdraft_limit = excluded.overdraft_limit, "
    "status = excluded.status";

constexpr char kInsertBalanceRows[] = "tl_insert_balance_rows";
constexpr char kInsertBalanceRowsSql[] =
    "INSERT INTO balances (tenant_id, account_id) "
    "SELECT * FROM unnest($1::text[], $2::text[]) "
    "ON CONFLICT (tenant_id, account_id) DO NOTHING";

constexpr char kUpsertTeams[] = "tl_upsert_teams";
constexpr char kUpsertTeamsSql[] =
    "INSERT INTO teams (tenant_id, team_id, display_name, monthly_cap) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
    "ON CONFLICT (tenant_id, team_id) DO UPDATE SET display_name = excluded.display_name, "
    "monthly_cap = excluded.monthly_cap";

// revoked_at keeps the time of the first revocation; un-revoking clears it.
constexpr char kUpsertApiKeys[] = "tl_upsert_api_keys";
constexpr char kUpsertApiKeysSql[] =
    "INSERT INTO api_keys AS k (key_id, tenant_id, role, key_hash, created_at, revoked_at) "
    "SELECT u.key_id, NULLIF(u.tenant_id, ''), u.role, u.key_hash, u.created_at, "
    "CASE WHEN u.revoked THEN " TL_NOW_MICROS
    " END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[]) "
    "AS u(key_id, tenant_id, role, key_hash, created_at, revoked) "
    "ON CONFLICT (key_id) DO UPDATE SET revoked_at = CASE WHEN excluded.revoked_at IS NULL "
    "THEN NULL ELSE coalesce(k.revoked_at, excluded.revoked_at) END";

// closed_at keeps the time a hold first left OPEN (Load reads recently closed holds by it).
constexpr char kUpsertHolds[] = "tl_upsert_holds";
constexpr char kUpsertHoldsSql[] =
    "INSERT INTO holds AS h (tenant_id, hold_id, account_id, amount, created_at, expires_at, "
    "status, idempotency_key, fingerprint, response, closed_at) "
    "SELECT u.*, CASE WHEN u.status <> 1 THEN " TL_NOW_MICROS
    " END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], "
    "$7::smallint[], $8::text[], $9::bigint[], $10::bytea[]) AS u(tenant_id, hold_id, "
    "account_id, amount, created_at, expires_at, status, idempotency_key, fingerprint, "
    "response) "
    "ON CONFLICT (tenant_id, hold_id) DO UPDATE SET status = excluded.status, "
    "closed_at = CASE WHEN excluded.status = 1 THEN NULL "
    "ELSE coalesce(h.closed_at, excluded.closed_at) END "
    // A hold only ever closes: with two writer connections its capture may commit before its
    // creation, which must then not reopen it.
    "WHERE h.status = 1";

constexpr char kInsertHoldBatches[] = "tl_insert_hold_batches";
constexpr char kInsertHoldBatchesSql[] =
    "INSERT INTO hold_batches (tenant_id, segment, expires_max, holds) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])";

// The rows of segments whose holds have all closed or expired (Mutation::dropped_hold_segments).
constexpr char kDropHoldSegments[] = "tl_drop_hold_segments";
constexpr char kDropHoldSegmentsSql[] =
    "DELETE FROM hold_batches b USING unnest($1::text[], $2::bigint[]) AS d(tenant_id, segment) "
    "WHERE b.tenant_id = d.tenant_id AND b.segment = d.segment AND d.segment <> 0";

// Bounded per run, like the batch ids: rows whose every hold expired before $1.
constexpr char kPruneHoldBatches[] = "tl_prune_hold_batches";
constexpr char kPruneHoldBatchesSql[] =
    "DELETE FROM hold_batches WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM hold_batches "
    "WHERE expires_max < $1 LIMIT 10000)";

constexpr char kInsertPeriods[] = "tl_insert_periods";
constexpr char kInsertPeriodsSql[] =
    "INSERT INTO periods (tenant_id, account_id, period_start, carried, expired, granted, "
    "created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[])";

// ORDER BY ord: seq (identity) is drawn as rows are inserted, so transfers get increasing seq
// in batch order.
constexpr char kInsertTransfers[] = "tl_insert_transfers";
constexpr char kInsertTransfersSql[] =
    "INSERT INTO transfers (tenant_id, transfer_id, debit_account_id, credit_account_id, amount, "
    "kind, created_at, request_id, model, metadata, memo, hold_id, idempotency_key) "
    "SELECT u.tenant_id, u.transfer_id, u.debit_account_id, u.credit_account_id, u.amount, "
    "u.kind, u.created_at, u.request_id, u.model, u.metadata, u.memo, u.hold_id, "
    "u.idempotency_key "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], "
    "$7::bigint[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[], $13::text[]) "
    "WITH ORDINALITY AS u(tenant_id, transfer_id, debit_account_id, credit_account_id, amount, "
    "kind, created_at, request_id, model, metadata, memo, hold_id, idempotency_key, ord) "
    "ORDER BY u.ord";

// One row per touched account, with the batch's summed deltas. An upsert rather than an
// UPDATE so that a missing balance row is created instead of silently not updated.
constexpr char kAddBalances[] = "tl_add_balances";
constexpr char kAddBalancesSql[] =
    "INSERT INTO balances AS b (tenant_id, account_id, credits, debits, granted, spent, expired) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[]) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET credits = b.credits + excluded.credits, "
    "debits = b.debits + excluded.debits, granted = b.granted + excluded.granted, "
    "spent = b.spent + excluded.spent, expired = b.expired + excluded.expired";

constexpr char kInsertBatch[] = "tl_insert_batch";
constexpr char kInsertBatchSql[] = "INSERT INTO commit_batches (batch_id) VALUES ($1)";

constexpr char kCommittedBatch[] = "tl_committed_batch";
constexpr char kCommittedBatchSql[] =
    "SELECT EXISTS (SELECT 1 FROM commit_batches WHERE batch_id = $1)";

// Bounded per run (LIMIT) so that one commit never carries a huge delete.
constexpr char kPruneBatches[] = "tl_prune_batches";
constexpr char kPruneBatchesSql[] =
    "DELETE FROM commit_batches WHERE batch_id IN (SELECT batch_id FROM commit_batches "
    "WHERE committed_at < now() - make_interval(secs => $1::double precision) LIMIT 10000)";

constexpr char kInsertAudit[] = "tl_insert_audit";
constexpr char kInsertAuditSql[] =
    "INSERT INTO audit_events (tenant_id, actor_key_id, action, target, detail, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::bigint[])";

constexpr char kListAuditSql[] =
    "SELECT seq, tenant_id, actor_key_id, action, target, detail, created_at FROM audit_events "
    "WHERE tenant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";

// Fencing: the lease rows of a batch's tenants, locked FOR SHARE until the batch commits (a
// takeover's UPDATE waits for them), counted by the caller: each must still be this owner's at
// the epoch its cache was loaded under.
constexpr char kCheckFences[] = "tl_check_fences";
constexpr char kCheckFencesSql[] =
    "SELECT l.tenant_id FROM tenant_leases l "
    "JOIN unnest($1::text[], $2::bigint[]) AS f(tenant_id, epoch) "
    "ON l.tenant_id = f.tenant_id AND l.epoch = f.epoch "
    "WHERE l.owner_id = $3 FOR SHARE OF l";

// A tenant created by this process is leased to it from the start.
constexpr char kInsertLeases[] = "tl_insert_leases";
constexpr char kInsertLeasesSql[] =
    "INSERT INTO tenant_leases (tenant_id, owner_id, owner_address, epoch, expires_at) "
    "SELECT t, $2, $3, 1, now() + make_interval(secs => $4::double precision) "
    "FROM unnest($1::text[]) AS t ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id";

// Renews this owner's leases and, with $4, takes every missing or expired one, and every one of
// an earlier incarnation of this node (owner ids are "node/incarnation"); epoch + 1 when the
// lease changes owner. Rows locked by another owner's batch in flight are waited for.
constexpr char kClaimLeasesSql[] =
    "INSERT INTO tenant_leases AS l (tenant_id, owner_id, owner_address, epoch, expires_at) "
    "SELECT tenant_id, $1, $2, 1, now() + make_interval(secs => $3::double precision) "
    "FROM tenants WHERE $4 OR tenant_id IN (SELECT tenant_id FROM tenant_leases "
    "WHERE owner_id = $1) "
    "ON CONFLICT (tenant_id) DO UPDATE SET owner_id = excluded.owner_id, "
    "owner_address = excluded.owner_address, expires_at = excluded.expires_at, "
    "epoch = CASE WHEN l.owner_id = excluded.owner_id THEN l.epoch ELSE l.epoch + 1 END "
    "WHERE l.owner_id = excluded.owner_id OR l.expires_at < now() "
    "OR split_part(l.owner_id, '/', 1) = split_part(excluded.owner_id, '/', 1) "
    "RETURNING l.tenant_id, l.owner_id, l.owner_address, l.epoch, "
    "(extract(epoch FROM l.expires_at) * 1000000)::bigint";

constexpr char kListLeasesSql[] =
    "SELECT tenant_id, owner_id, owner_address, epoch, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint FROM tenant_leases";

constexpr char kReleaseLeasesSql[] =
    "UPDATE tenant_leases SET expires_at = now() - interval '1 second' WHERE owner_id = $1";

#undef TL_NOW_MICROS

constexpr std::pair<const char*, const char*> kWriterStatements[] = {
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
    {kInsertTransfers, kInsertTransfersSql},
    {kAddBalances, kAddBalancesSql},
    {kInsertBatch, kInsertBatchSql},
    {kCommittedBatch, kCommittedBatchSql},
    {kPruneBatches, kPruneBatchesSql},
    {kCheckFences, kCheckFencesSql},
    {kInsertAudit, kInsertAuditSql},
    {kInsertLeases, kInsertLeasesSql},
};

// Metadata as two text arrays sorted by key (bytewise), parsed back into pairs.
#define TL_METADATA_COLUMNS                                                                 \
  "ARRAY(SELECT key FROM jsonb_each_text(t.metadata) ORDER BY key COLLATE \"C\"), "         \
  "ARRAY(SELECT coalesce(value, '') FROM jsonb_each_text(t.metadata) ORDER BY key COLLATE " \
  "\"C\")"

// An account's transfers are the union of its debit side and its credit side, each read newest
// first from its own index and cut at the limit, then merged: a plain OR would read every
// transfer of the account and sort them. The two sides never hold the same transfer (a transfer
// cannot debit and credit one account).
constexpr char kListTransfersSql[] =
    "SELECT t.seq, t.transfer_id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, "
    "t.created_at, t.request_id, t.model, t.memo, t.hold_id, "
    "t.idempotency_key, " TL_METADATA_COLUMNS
    " FROM ("
    "(SELECT * FROM transfers WHERE tenant_id = $1 AND debit_account_id = $2 AND seq < $3 "
    "AND created_at >= $4 AND created_at < $5 ORDER BY seq DESC LIMIT $6) "
    "UNION ALL "
    "(SELECT * FROM transfers WHERE tenant_id = $1 AND credit_account_id = $2 AND seq < $3 "
    "AND created_at >= $4 AND created_at < $5 ORDER BY seq DESC LIMIT $6)"
    ") t ORDER BY t.seq DESC LIMIT $6";
#undef TL_METADATA_COLUMNS

constexpr char kGetIdempotencySql[] =
    "SELECT tenant_id, key, fingerprint, response FROM idempotency_keys "
    "WHERE tenant_id = $1 AND key = $2";

constexpr char kGetHoldSql[] =
    "SELECT tenant_id, hold_id, account_id, amount, created_at, expires_at, status, "
    "idempotency_key, fingerprint, response FROM holds WHERE tenant_id = $1 AND hold_id = $2";

constexpr char kLoadTenantsSql[] =
    "SELECT tenant_id, display_name, unit, timezone, created_at FROM tenants "
    "ORDER BY tenant_id COLLATE \"C\"";
constexpr char kLoadApiKeysSql[] =
    "SELECT key_id, coalesce(tenant_id, ''), role, key_hash, created_at, revoked_at IS NOT NULL "
    "FROM api_keys ORDER BY key_id COLLATE \"C\"";
constexpr char kLoadTeamsSql[] =
    "SELECT tenant_id, team_id, display_name, monthly_cap FROM teams "
    "ORDER BY tenant_id COLLATE \"C\", team_id COLLATE \"C\"";
// Every account with its balances, read by COPY (the parenthesized query is what `COPY ... TO
// STDOUT` reads): rows stream in while the server still produces them, so that decoding them here
// overlaps the server's work. The order is the primary keys' own (the columns' collation, not
// "C"): it makes the plan a merge join of the two key indexes, which streams from its first row,
// where a hash join first built a table of every balance (1.4 s against 1.0 s for a million
// accounts, the first row after 0.45 s). The engine indexes accounts by id; the order is not used.
constexpr char kCopyAccountsSql[] =
    "(SELECT a.tenant_id, a.account_id, a.display_name, a.team_id, a.has_policy, "
    "a.monthly_allocation, a.rollover_max, a.daily_limit, a.overdraft_limit, a.status, "
    "a.created_at, coalesce(b.credits, 0), coalesce(b.debits, 0), coalesce(b.granted, 0), "
    "coalesce(b.spent, 0), coalesce(b.expired, 0) "
    "FROM accounts a LEFT JOIN balances b "
    "ON b.tenant_id = a.tenant_id AND b.account_id = a.account_id "
    "ORDER BY a.tenant_id, a.account_id)";
// The open holds; and of the holds closed since $1 the $2 most recently closed, newest first
// (read backwards from the closed_at index: no sort).
#define TL_HOLD_COLUMNS                                                             \
  "SELECT tenant_id, hold_id, account_id, amount, created_at, expires_at, status, " \
  "idempotency_key, fingerprint, response FROM holds "
constexpr char kLoadOpenHoldsSql[] = TL_HOLD_COLUMNS "WHERE status = 1";
constexpr char kLoadClosedHoldsSql[] =
    TL_HOLD_COLUMNS "WHERE closed_at >= $1 ORDER BY closed_at DESC LIMIT $2";
#undef TL_HOLD_COLUMNS
// The hold batch rows of a tenant ($1; '' = every tenant), and the rows of `holds` of given holds
// (which win over their batch entries).
constexpr char kLoadHoldBatchesSql[] =
    "SELECT tenant_id, holds, segment FROM hold_batches WHERE $1 = '' OR tenant_id = $1 "
    "ORDER BY tenant_id, seq";
constexpr char kHoldRowsOfSql[] =
    "SELECT h.tenant_id, h.hold_id FROM holds h "
    "JOIN unnest($1::text[], $2::text[]) AS u(tenant_id, hold_id) "
    "ON h.tenant_id = u.tenant_id AND h.hold_id = u.hold_id";

// Each account's latest reset.
constexpr char kLoadLastPeriodsSql[] =
    "SELECT tenant_id, account_id, period_start, carried, expired, granted, created_at FROM ("
    "SELECT DISTINCT ON (tenant_id, account_id) * FROM periods "
    "ORDER BY tenant_id, account_id, period_start DESC) p "
    "ORDER BY tenant_id COLLATE \"C\", account_id COLLATE \"C\"";
// The most recent keys, returned oldest first so that a consumer filling a bounded recency map
// in order ends with the newest as the most recent.
constexpr char kLoadIdempotencySql[] =
    "SELECT tenant_id, key, fingerprint, response FROM ("
    "SELECT tenant_id, key, fingerprint, response, created_at FROM idempotency_keys "
    "ORDER BY created_at DESC LIMIT $1) r ORDER BY created_at";

// Kind-specific sums mirror ApplyDebitSide/ApplyCreditSide: granted = GRANT(1) and
// RESET_GRANT(4) credits, spent = USAGE(2) debits, expired = RESET_EXPIRE(3) debits.
constexpr char kRecomputeSql[] =
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
constexpr char kCountTransfersSql[] = "SELECT count(*) FROM transfers WHERE tenant_id = $1";

// Period rows grouped by (account, created_at), beside the sums of the account's RESET_EXPIRE(3)
// debits and RESET_GRANT(4) credits stamped with that created_at (see PeriodGroup).
constexpr char kRecomputePeriodsSql[] =
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

// Served by the partial index transfers_usage (tenant_id, created_at) WHERE kind = 2.
constexpr char kSumUsageSql[] =
    "SELECT debit_account_id, "
    "coalesce(sum(amount) FILTER (WHERE created_at >= $2), 0)::bigint, "
    "coalesce(sum(amount) FILTER (WHERE created_at >= $3), 0)::bigint "
    "FROM transfers WHERE tenant_id = $1 AND kind = 2 AND created_at >= least($2, $3) "
    "GROUP BY debit_account_id ORDER BY debit_account_id COLLATE \"C\"";

constexpr char kRepairBalancesSql[] =
    "INSERT INTO balances (tenant_id, account_id, credits, debits, granted, spent, expired) "
    "SELECT $1, u.* FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "$6::bigint[], $7::bigint[]) AS u(account_id, credits, debits, granted, spent, expired) "
    "ON CONFLICT (tenant_id, account_id) DO UPDATE SET credits = excluded.credits, "
    "debits = excluded.debits, granted = excluded.granted, spent = excluded.spent, "
    "expired = excluded.expired";

std::string Message(const std::exception& e) {
  return std::string(absl::StripTrailingAsciiWhitespace(e.what()));
}

// What a caught exception means for the caller and for the connection.
struct Failure {
  absl::Status status;
  bool broken = false;  // the connection is unusable: drop it
};

// Classifies the exception being handled (call only inside a catch block). `at_commit`: the
// exception came from COMMIT, where a lost connection leaves the outcome unknown; before COMMIT,
// a lost connection means the server rolled the transaction back.
Failure ClassifyCurrentException(bool at_commit) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
  } catch (const pqxx::statement_completion_unknown& e) {
    if (at_commit) {
      return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
    }
    return {absl::UnavailableError(absl::StrCat("database connection lost: ", Message(e))), true};
  } catch (const pqxx::transaction_rollback& e) {
    // Serialization failure or deadlock: the server rolled back; a retry may succeed.
    return {absl::UnavailableError(absl::StrCat("transaction rolled back: ", Message(e))), false};
  } catch (const pqxx::broken_connection& e) {
    if (at_commit) {
      return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
    }
    return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), true};
  } catch (const pqxx::unique_violation& e) {
    return {absl::AlreadyExistsError(Message(e)), false};
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    // 08: connection exception; 57P: the server is shutting down or starting.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
      return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), true};
    }
    // 57014: statement timeout or cancel; 53: insufficient resources (disk full, memory, too
    // many connections). Nothing was committed and a later retry may succeed.
    if (state == "57014" || absl::StartsWith(state, "53")) {
      return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), false};
    }
    return {absl::InternalError(absl::StrCat("database error ", state, ": ", Message(e))), false};
  } catch (const std::exception& e) {
    return {absl::InternalError(absl::StrCat("database client error: ", Message(e))), false};
  } catch (...) {
    return {absl::InternalError("database client error: unknown exception"), false};
  }
}

// Appends libpq connection parameters to a URI (postgresql://...) or to a key=value conninfo.
// Later parameters override earlier ones in both forms.
std::string WithConnParams(const std::string& url,
                           const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = url;
  const bool uri = absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://");
  bool has_query = url.find('?') != std::string::npos;
  for (const auto& [k, v] : params) {
    if (uri) {
      out += has_query ? '&' : '?';
      has_query = true;
      out += k;
      out += '=';
      for (unsigned char c : v) {
        if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
          out += static_cast<char>(c);
        } else {
          absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
        }
      }
    } else {
      absl::StrAppend(&out, out.empty() ? "" : " ", k, "='");
      for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += '\'';
    }
  }
  return out;
}

int64_t ToInt64(uint64_t v) { return std::bit_cast<int64_t>(v); }
uint64_t ToUint64(int64_t v) { return std::bit_cast<uint64_t>(v); }

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

// Parses a one-dimensional text[] column. Each step consumes input, so the loop is bounded by
// the field's length.
std::vector<std::string> TextArray(const pqxx::field& f) {
  std::vector<std::string> out;
  pqxx::array_parser parser = f.as_array();
  for (size_t steps = 0; steps <= f.size() + 2; ++steps) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) break;
    if (juncture == pqxx::array_parser::string_value) out.push_back(std::move(value));
    if (juncture == pqxx::array_parser::null_value) out.emplace_back();
  }
  return out;
}

IdempotencyRecord IdempotencyFromRow(const pqxx::row& r) {
  IdempotencyRecord rec;
  rec.tenant_id = r[0].as<std::string>();
  rec.key = r[1].as<std::string>();
  rec.fingerprint = ToUint64(r[2].as<int64_t>());
  rec.response = Bytes(r[3]);
  return rec;
}

// A row of kLoadOpenHoldsSql, kLoadClosedHoldsSql or kGetHoldSql.
HoldRecord HoldFromRow(const pqxx::row& r) {
  HoldRecord h;
  h.tenant_id = r[0].as<std::string>();
  h.hold_id = r[1].as<std::string>();
  h.account_id = r[2].as<std::string>();
  h.amount = r[3].as<int64_t>();
  h.created_at_us = r[4].as<int64_t>();
  h.expires_at_us = r[5].as<int64_t>();
  h.status = static_cast<HoldStatus>(r[6].as<int>());
  h.idempotency_key = r[7].as<std::string>();
  if (!r[8].is_null() && !r[9].is_null()) {
    h.fingerprint = ToUint64(r[8].as<int64_t>());
    h.response = Bytes(r[9]);
  }
  return h;
}

// Column arrays of one multi-row statement.
struct TransferColumns {
  pg_internal::ArrayLiteral tenant_id, transfer_id, debit, credit, amount, kind, created_at,
      request_id, model, metadata, memo, hold_id, idempotency_key;
};

// Writes the batch in `txn` (not committed here) and fills `outcomes`. Exceptions of libpqxx
// pass through to the caller, which maps them.
TenantRecord TenantFromRow(const pqxx::row& r) {
  TenantRecord t;
  t.tenant_id = r[0].as<std::string>();
  t.display_name = r[1].as<std::string>();
  t.unit = r[2].as<std::string>();
  t.timezone = r[3].as<std::string>();
  t.created_at_us = r[4].as<int64_t>();
  return t;
}

absl::StatusOr<ApiKeyRecord> ApiKeyFromRow(const pqxx::row& r) {
  ApiKeyRecord k;
  k.key_id = r[0].as<std::string>();
  k.tenant_id = r[1].as<std::string>();
  std::optional<Role> role = ParseRole(r[2].as<std::string>());
  if (!role.has_value()) {
    return absl::InternalError(absl::StrCat("api_keys: unknown role of key ", k.key_id));
  }
  k.role = *role;
  k.key_hash = r[3].as<std::string>();
  k.created_at_us = r[4].as<int64_t>();
  k.revoked = r[5].as<bool>();
  return k;
}

LeaseRecord LeaseFromRow(const pqxx::row& r) {
  return LeaseRecord{.tenant_id = r[0].as<std::string>(),
                     .owner_id = r[1].as<std::string>(),
                     .owner_address = r[2].as<std::string>(),
                     .epoch = r[3].as<int64_t>(),
                     .expires_at_us = r[4].as<int64_t>()};
}

// Where a batch's statements go. In a transaction, each prepared statement runs at once (one
// round trip each). Collecting, each becomes "EXECUTE name(literals);" in one query string, which
// the server runs as one implicit transaction and commits before it answers: the whole batch in
// one round trip.
class BatchRunner {
 public:
  explicit BatchRunner(pqxx::work& txn) : txn_(&txn) {}
  BatchRunner() = default;

  bool collecting() const { return txn_ == nullptr; }

  template <typename... Args>
  void Exec0(const char* name, const Args&... args) {
    if (txn_ != nullptr) {
      txn_->exec_prepared0(name, args...);
      return;
    }
    absl::StrAppend(&sql_, "EXECUTE ", name, "(");
    const char* sep = "";
    ((sql_ += sep, AppendArg(args), sep = ","), ...);
    sql_ += ");\n";
  }

  // `text` as a string constant: E'...' with backslashes and quotes doubled, whatever the
  // session's standard_conforming_strings (the text holds no NUL: CheckStorableText).
  void AppendLiteral(absl::string_view text) {
    sql_ += "E'";
    for (char c : text) {
      if (c == '\\' || c == '\'') sql_ += c;
      sql_ += c;
    }
    sql_ += '\'';
  }

  template <typename T>
  void AppendArg(const T& arg) {
    if constexpr (std::is_convertible_v<const T&, absl::string_view>) {
      AppendLiteral(arg);  // the array literals, without a copy
    } else {
      AppendLiteral(pqxx::to_string(arg));
    }
  }

  // Only in a transaction: a statement whose rows the caller reads.
  template <typename... Args>
  pqxx::result Exec(const char* name, const Args&... args) {
    return txn_->exec_prepared(name, args...);
  }

  void Append(absl::string_view text) { sql_.append(text.data(), text.size()); }
  std::string& sql() { return sql_; }

 private:
  pqxx::work* txn_ = nullptr;
  std::string sql_;
};

// The audit_events columns of a batch, one array each.
struct AuditColumns {
  pg_internal::ArrayLiteral tenant_id, actor, action, target, detail, created_at;
  void Add(const AuditRecord& a) {
    tenant_id.AddText(a.tenant_id);
    actor.AddText(a.actor_key_id);
    action.AddText(a.action);
    target.AddText(a.target);
    detail.AddText(a.detail);
    created_at.AddInt(a.created_at_us);
  }
  void Insert(BatchRunner& run) && {
    run.Exec0(kInsertAudit, std::move(tenant_id).Finish(), std::move(actor).Finish(),
              std::move(action).Finish(), std::move(target).Finish(), std::move(detail).Finish(),
              std::move(created_at).Finish());
  }
};

// What a commit prunes now and then: batch ids older than `batch_ids_keep`, and hold batch rows
// whose every hold expired before `hold_batches_expired_before_us`.
struct Prune {
  absl::Duration batch_ids_keep;
  int64_t hold_batches_expired_before_us = 0;
};

absl::Status WriteBatch(BatchRunner& run, absl::Span<const Mutation* const> batch,
                        uint64_t batch_id, std::optional<Prune> prune,
                        std::vector<MutationOutcome>& outcomes) {
  outcomes.assign(batch.size(), MutationOutcome{});

  // (a) Idempotency keys. Only the first claim of a key in the batch is sent: a later one in the
  // same batch is a duplicate of it.
  std::map<Key, size_t> first_claim;
  {
    pg_internal::ArrayLiteral tenants, keys, fingerprints, responses;
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::optional<IdempotencyRecord>& idem = batch[i]->idempotency;
      if (!idem.has_value()) continue;
      if (!first_claim.emplace(Key{idem->tenant_id, idem->key}, i).second) continue;
      tenants.AddText(idem->tenant_id);
      keys.AddText(idem->key);
      fingerprints.AddInt(ToInt64(idem->fingerprint));
      responses.AddBytes(idem->response);
    }
    std::set<Key> inserted;
    if (!first_claim.empty() && run.collecting()) {
      // Every key is taken to be new; if one is not, the batch fails and is written again.
      run.Exec0(kInsertIdempotencyNew, std::move(tenants).Finish(), std::move(keys).Finish(),
                std::move(fingerprints).Finish(), std::move(responses).Finish());
      for (const auto& [key, index] : first_claim) inserted.insert(key);
    } else if (!first_claim.empty()) {
      pqxx::result r =
          run.Exec(kInsertIdempotency, std::move(tenants).Finish(), std::move(keys).Finish(),
                   std::move(fingerprints).Finish(), std::move(responses).Finish());
      for (const pqxx::row& row : r) {
        inserted.emplace(row[0].as<std::string>(), row[1].as<std::string>());
      }
    }
    // Keys that were not inserted exist already: their stored records answer the duplicates.
    std::map<Key, IdempotencyRecord> stored;
    if (inserted.size() < first_claim.size()) {
      pg_internal::ArrayLiteral dup_tenants, dup_keys;
      for (const auto& [key, index] : first_claim) {
        if (inserted.contains(key)) continue;
        dup_tenants.AddText(key.first);
        dup_keys.AddText(key.second);
      }
      pqxx::result r = run.Exec(kSelectIdempotency, std::move(dup_tenants).Finish(),
                                std::move(dup_keys).Finish());
      for (const pqxx::row& row : r) {
        IdempotencyRecord rec = IdempotencyFromRow(row);
        Key key{rec.tenant_id, rec.key};
        stored.emplace(std::move(key), std::move(rec));
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::optional<IdempotencyRecord>& idem = batch[i]->idempotency;
      if (!idem.has_value()) continue;
      Key key{idem->tenant_id, idem->key};
      const size_t first = first_claim.at(key);
      if (!inserted.contains(key)) {
        auto it = stored.find(key);
        if (it == stored.end()) {
          // Only a concurrent delete can do this; the batch can simply be retried.
          return absl::UnavailableError("idempotency key vanished during commit");
        }
        outcomes[i].committed = false;
        outcomes[i].existing = it->second;
      } else if (first != i) {
        outcomes[i].committed = false;
        outcomes[i].existing = *batch[first]->idempotency;
      }
    }
  }

  // (b) Everything of the mutations that are not duplicates, merged per row: one statement
  // cannot touch a row twice (ON CONFLICT DO UPDATE), so rows written more than once in the
  // batch are merged here the way sequential writes would leave them.
  std::map<Key, AccountRecord> accounts;
  std::map<Key, TeamRecord> teams;
  std::map<std::string, ApiKeyRecord> api_keys;
  std::map<Key, HoldRecord> holds;
  std::set<std::pair<std::string, int64_t>> dropped_segments;
  std::map<Key, PostedTotals> deltas;
  pg_internal::ArrayLiteral p_tenant, p_account, p_start, p_carried, p_expired, p_granted,
      p_created;
  pg_internal::ArrayLiteral t_id, t_name, t_unit, t_tz, t_created;
  TransferColumns tc;
  AuditColumns audit;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!outcomes[i].committed) continue;
    const Mutation& m = *batch[i];
    if (m.tenant.has_value()) {
      const TenantRecord& t = *m.tenant;
      t_id.AddText(t.tenant_id);
      t_name.AddText(t.display_name);
      t_unit.AddText(t.unit);
      t_tz.AddText(t.timezone);
      t_created.AddInt(t.created_at_us);
      for (absl::string_view sys : kSystemAccounts) {
        AccountRecord a;
        a.tenant_id = t.tenant_id;
        a.account_id = std::string(sys);
        a.display_name = std::string(sys);
        a.created_at_us = t.created_at_us;
        accounts.emplace(Key{a.tenant_id, a.account_id}, std::move(a));
      }
    }
    if (m.account.has_value()) {
      Key key{m.account->tenant_id, m.account->account_id};
      auto [it, inserted] = accounts.try_emplace(key, *m.account);
      if (!inserted) {
        const int64_t created = it->second.created_at_us;  // an update keeps created_at
        it->second = *m.account;
        it->second.created_at_us = created;
      }
    }
    if (m.team.has_value()) {
      teams[{m.team->tenant_id, m.team->team_id}] = *m.team;
    }
    if (m.api_key.has_value()) {
      auto [it, inserted] = api_keys.try_emplace(m.api_key->key_id, *m.api_key);
      if (!inserted) it->second.revoked = m.api_key->revoked;
    }
    for (const HoldRecord& h : m.holds) {
      // A hold only ever closes, here as in the statement: a later record of it in the batch
      // moves its status on from open, and an open record after a closing one (a compaction
      // rewriting a hold whose capture is in flight) changes nothing.
      auto [it, inserted] = holds.try_emplace({h.tenant_id, h.hold_id}, h);
      if (!inserted && it->second.status == HoldStatus::kOpen) it->second.status = h.status;
    }
    for (const HoldSegment& d : m.dropped_hold_segments) {
      dropped_segments.emplace(d.tenant_id, d.segment);
    }
    for (const PeriodRecord& p : m.periods) {
      // Not merged: a second row for one (account, period) must fail the batch.
      p_tenant.AddText(p.tenant_id);
      p_account.AddText(p.account_id);
      p_start.AddInt(p.period_start_us);
      p_carried.AddInt(p.carried);
      p_expired.AddInt(p.expired);
      p_granted.AddInt(p.granted);
      p_created.AddInt(p.created_at_us);
    }
    for (const TransferRecord& t : m.transfers) {
      if (!ApplyDebitSide(t, deltas[{t.tenant_id, t.debit_account_id}]) ||
          !ApplyCreditSide(t, deltas[{t.tenant_id, t.credit_account_id}])) {
        return absl::InternalError("transfers: balance delta out of range for bigint");
      }
      tc.tenant_id.AddText(t.tenant_id);
      tc.transfer_id.AddText(t.transfer_id);
      tc.debit.AddText(t.debit_account_id);
      tc.credit.AddText(t.credit_account_id);
      tc.amount.AddInt(t.amount);
      tc.kind.AddInt(static_cast<int64_t>(t.kind));
      tc.created_at.AddInt(t.created_at_us);
      tc.request_id.AddText(t.request_id);
      tc.model.AddText(t.model);
      tc.metadata.AddText(pg_internal::MetadataJson(t.metadata));
      tc.memo.AddText(t.memo);
      tc.hold_id.AddText(t.hold_id);
      tc.idempotency_key.AddText(t.idempotency_key);
    }
    for (const AuditRecord& a : m.audit) audit.Add(a);
  }

  if (t_id.size() > 0) {
    run.Exec0(kInsertTenants, std::move(t_id).Finish(), std::move(t_name).Finish(),
              std::move(t_unit).Finish(), std::move(t_tz).Finish(), std::move(t_created).Finish());
  }
  if (!accounts.empty()) {
    pg_internal::ArrayLiteral tenant, id, name, team, has_policy, alloc, rollover, daily, overdraft,
        status, created;
    for (const auto& [key, a] : accounts) {
      const Policy policy = a.policy.value_or(Policy{});
      tenant.AddText(a.tenant_id);
      id.AddText(a.account_id);
      name.AddText(a.display_name);
      team.AddText(a.team_id);
      has_policy.AddBool(a.policy.has_value());
      alloc.AddInt(policy.monthly_allocation);
      rollover.AddInt(policy.rollover_max);
      daily.AddInt(policy.daily_limit);
      overdraft.AddInt(policy.overdraft_limit);
      status.AddInt(static_cast<int64_t>(a.status));
      created.AddInt(a.created_at_us);
    }
    // Copies for the balance rows: the account columns are consumed by the first statement.
    pg_internal::ArrayLiteral b_tenant, b_id;
    for (const auto& [key, a] : accounts) {
      b_tenant.AddText(key.first);
      b_id.AddText(key.second);
    }
    run.Exec0(kUpsertAccounts, std::move(tenant).Finish(), std::move(id).Finish(),
              std::move(name).Finish(), std::move(team).Finish(), std::move(has_policy).Finish(),
              std::move(alloc).Finish(), std::move(rollover).Finish(), std::move(daily).Finish(),
              std::move(overdraft).Finish(), std::move(status).Finish(),
              std::move(created).Finish());
    // A new account starts with zero totals; an existing one keeps its row.
    run.Exec0(kInsertBalanceRows, std::move(b_tenant).Finish(), std::move(b_id).Finish());
  }
  if (!teams.empty()) {
    pg_internal::ArrayLiteral tenant, id, name, cap;
    for (const auto& [key, t] : teams) {
      tenant.AddText(t.tenant_id);
      id.AddText(t.team_id);
      name.AddText(t.display_name);
      cap.AddInt(t.monthly_cap);
    }
    run.Exec0(kUpsertTeams, std::move(tenant).Finish(), std::move(id).Finish(),
              std::move(name).Finish(), std::move(cap).Finish());
  }
  if (!api_keys.empty()) {
    pg_internal::ArrayLiteral id, tenant, role, hash, created, revoked;
    for (const auto& [key_id, k] : api_keys) {
      id.AddText(k.key_id);
      tenant.AddText(k.tenant_id);
      role.AddText(RoleName(k.role));
      hash.AddText(k.key_hash);
      created.AddInt(k.created_at_us);
      revoked.AddBool(k.revoked);
    }
    run.Exec0(kUpsertApiKeys, std::move(id).Finish(), std::move(tenant).Finish(),
              std::move(role).Finish(), std::move(hash).Finish(), std::move(created).Finish(),
              std::move(revoked).Finish());
  }
  if (!dropped_segments.empty()) {
    pg_internal::ArrayLiteral tenant, segment;
    for (const auto& [tenant_id, seg] : dropped_segments) {
      tenant.AddText(tenant_id);
      segment.AddInt(seg);
    }
    run.Exec0(kDropHoldSegments, std::move(tenant).Finish(), std::move(segment).Finish());
  }
  // Holds written open: one hold_batches row per tenant and segment. Any later state: a row of
  // `holds`.
  std::map<std::pair<std::string, int64_t>, std::vector<const HoldRecord*>> opened;
  size_t open_count = 0;
  for (const auto& [key, h] : holds) {
    if (h.status != HoldStatus::kOpen) continue;
    opened[{h.tenant_id, h.segment}].push_back(&h);
    ++open_count;
  }
  if (!opened.empty()) {
    pg_internal::ArrayLiteral tenant, segment, expires_max, encoded;
    for (const auto& [where, list] : opened) {
      int64_t latest = INT64_MIN;
      for (const HoldRecord* h : list) latest = std::max(latest, h->expires_at_us);
      tenant.AddText(where.first);
      segment.AddInt(where.second);
      expires_max.AddInt(latest);
      encoded.AddBytes(pg_internal::EncodeHolds(list));
    }
    run.Exec0(kInsertHoldBatches, std::move(tenant).Finish(), std::move(segment).Finish(),
              std::move(expires_max).Finish(), std::move(encoded).Finish());
  }
  if (holds.size() > open_count) {
    pg_internal::ArrayLiteral tenant, id, account, amount, created, expires, status, idem,
        fingerprint, response;
    for (const auto& [key, h] : holds) {
      if (h.status == HoldStatus::kOpen) continue;
      if (h.response.empty()) {
        fingerprint.AddNull();
        response.AddNull();
      } else {
        fingerprint.AddInt(ToInt64(h.fingerprint));
        response.AddBytes(h.response);
      }
      tenant.AddText(h.tenant_id);
      id.AddText(h.hold_id);
      account.AddText(h.account_id);
      amount.AddInt(h.amount);
      created.AddInt(h.created_at_us);
      expires.AddInt(h.expires_at_us);
      status.AddInt(static_cast<int64_t>(h.status));
      idem.AddText(h.idempotency_key);
    }
    run.Exec0(kUpsertHolds, std::move(tenant).Finish(), std::move(id).Finish(),
              std::move(account).Finish(), std::move(amount).Finish(), std::move(created).Finish(),
              std::move(expires).Finish(), std::move(status).Finish(), std::move(idem).Finish(),
              std::move(fingerprint).Finish(), std::move(response).Finish());
  }
  if (p_tenant.size() > 0) {
    run.Exec0(kInsertPeriods, std::move(p_tenant).Finish(), std::move(p_account).Finish(),
              std::move(p_start).Finish(), std::move(p_carried).Finish(),
              std::move(p_expired).Finish(), std::move(p_granted).Finish(),
              std::move(p_created).Finish());
  }
  if (tc.tenant_id.size() > 0) {
    run.Exec0(kInsertTransfers, std::move(tc.tenant_id).Finish(),
              std::move(tc.transfer_id).Finish(), std::move(tc.debit).Finish(),
              std::move(tc.credit).Finish(), std::move(tc.amount).Finish(),
              std::move(tc.kind).Finish(), std::move(tc.created_at).Finish(),
              std::move(tc.request_id).Finish(), std::move(tc.model).Finish(),
              std::move(tc.metadata).Finish(), std::move(tc.memo).Finish(),
              std::move(tc.hold_id).Finish(), std::move(tc.idempotency_key).Finish());
  }
  if (!deltas.empty()) {
    // Rows in key order: concurrent writers (a second process) lock balance rows in one order.
    pg_internal::ArrayLiteral tenant, id, credits, debits, granted, spent, expired;
    for (const auto& [key, d] : deltas) {
      tenant.AddText(key.first);
      id.AddText(key.second);
      credits.AddInt(d.credits);
      debits.AddInt(d.debits);
      granted.AddInt(d.granted);
      spent.AddInt(d.spent);
      expired.AddInt(d.expired);
    }
    run.Exec0(kAddBalances, std::move(tenant).Finish(), std::move(id).Finish(),
              std::move(credits).Finish(), std::move(debits).Finish(), std::move(granted).Finish(),
              std::move(spent).Finish(), std::move(expired).Finish());
  }
  // Last: an event references its tenant, which the batch may have just created.
  if (audit.tenant_id.size() > 0) std::move(audit).Insert(run);
  run.Exec0(kInsertBatch, ToInt64(batch_id));
  if (prune.has_value()) {
    run.Exec0(kPruneBatches, absl::ToDoubleSeconds(prune->batch_ids_keep));
    run.Exec0(kPruneHoldBatches, prune->hold_batches_expired_before_us);
  }
  return absl::OkStatus();
}

}  // namespace

namespace pg_internal {

void ArrayLiteral::Separator() {
  if (count_++ > 0) out_ += ',';
}

void ArrayLiteral::AddText(absl::string_view s) {
  Separator();
  out_.reserve(out_.size() + s.size() + 2);
  out_ += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out_ += '\\';
    out_ += c;
  }
  out_ += '"';
}

void ArrayLiteral::AddNull() {
  Separator();
  out_ += "NULL";
}

void ArrayLiteral::AddInt(int64_t v) {
  Separator();
  absl::StrAppend(&out_, v);
}

void ArrayLiteral::AddBool(bool v) {
  Separator();
  out_ += v ? 't' : 'f';
}

void ArrayLiteral::AddBytes(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  Separator();
  // The element is the bytea hex form \x..., quoted, with its backslash escaped.
  out_.reserve(out_.size() + 2 * bytes.size() + 6);
  out_ += "\"\\\\x";
  for (unsigned char c : bytes) {
    out_ += kHex[c >> 4];
    out_ += kHex[c & 0xf];
  }
  out_ += '"';
}

std::string ArrayLiteral::Finish() && {
  out_ += '}';
  return std::move(out_);
}

namespace {

constexpr char kHoldsFormat = 1;

void PutFixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

bool GetFixed(absl::string_view& in, int bytes, uint64_t& v) {
  if (in.size() < static_cast<size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(bytes);
  return true;
}

bool GetString(absl::string_view& in, std::string& s) {
  uint64_t n = 0;
  if (!GetFixed(in, 4, n) || in.size() < n) return false;
  s.assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string EncodeHolds(absl::Span<const HoldRecord* const> holds) {
  std::string out(1, kHoldsFormat);
  for (const HoldRecord* h : holds) {
    for (const std::string* text :
         {&h->hold_id, &h->account_id, &h->idempotency_key, &h->response}) {
      PutFixed(out, text->size(), 4);
      out += *text;
    }
    for (int64_t v : {h->amount, h->created_at_us, h->expires_at_us}) {
      PutFixed(out, static_cast<uint64_t>(v), 8);
    }
    PutFixed(out, h->fingerprint, 8);
  }
  return out;
}

absl::StatusOr<std::vector<HoldRecord>> DecodeHolds(const std::string& tenant_id,
                                                    absl::string_view bytes) {
  if (bytes.empty() || bytes[0] != kHoldsFormat) {
    return absl::DataLossError("hold_batches: unknown format of a holds value");
  }
  bytes.remove_prefix(1);
  std::vector<HoldRecord> out;
  while (!bytes.empty()) {
    HoldRecord h;
    h.tenant_id = tenant_id;
    h.status = HoldStatus::kOpen;
    uint64_t amount = 0, created = 0, expires = 0;
    if (!GetString(bytes, h.hold_id) || !GetString(bytes, h.account_id) ||
        !GetString(bytes, h.idempotency_key) || !GetString(bytes, h.response) ||
        !GetFixed(bytes, 8, amount) || !GetFixed(bytes, 8, created) ||
        !GetFixed(bytes, 8, expires) || !GetFixed(bytes, 8, h.fingerprint)) {
      return absl::DataLossError("hold_batches: a holds value is truncated");
    }
    h.amount = static_cast<int64_t>(amount);
    h.created_at_us = static_cast<int64_t>(created);
    h.expires_at_us = static_cast<int64_t>(expires);
    out.push_back(std::move(h));
  }
  return out;
}

std::string MetadataJson(const Metadata& metadata) {
  auto append_string = [](std::string& out, absl::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20) {
        // JSON forbids raw control characters in strings.
        out += "\\u00";
        out += kHex[u >> 4];
        out += kHex[u & 0xf];
      } else {
        out += c;
      }
    }
    out += '"';
  };
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : NormalizeMetadata(metadata)) {
    if (!first) out += ',';
    first = false;
    append_string(out, k);
    out += ':';
    append_string(out, v);
  }
  out += '}';
  return out;
}

}  // namespace pg_internal

PgStore::PgStore(std::string url, PgStoreOptions options)
    : url_(std::move(url)), options_(std::move(options)) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& url,
                                                       PgStoreOptions options) {
  options.read_pool_size = std::max(options.read_pool_size, 1);
  options.prune_every = std::max(options.prune_every, 1);
  options.idempotency_load_max = std::max<int64_t>(options.idempotency_load_max, 0);
  // Session settings travel in the connection string, so that they hold on every connection,
  // including one libpqxx reopens by itself.
  std::vector<std::pair<std::string, std::string>> params;
  if (!options.application_name.empty()) {
    params.emplace_back("application_name", options.application_name);
  }
  // An acknowledged Debit must survive a crash of the database: never relax durability, even
  // if the server or database default says otherwise.
  std::string server_options = "-c synchronous_commit=on";
  if (options.statement_timeout > absl::ZeroDuration()) {
    absl::StrAppend(&server_options,
                    " -c statement_timeout=", absl::ToInt64Milliseconds(options.statement_timeout));
  }
  if (!options.search_path.empty()) {
    absl::StrAppend(&server_options, " -c search_path=", options.search_path);
  }
  params.emplace_back("options", server_options);
  // libpq waits forever for a connection by default; an unreachable database must surface as
  // kUnavailable in bounded time.
  if (url.find("connect_timeout") == std::string::npos) {
    params.emplace_back("connect_timeout", "5");
  }
  std::unique_ptr<PgStore> store(new PgStore(WithConnParams(url, params), std::move(options)));
  const int writers = std::max(1, store->options_.writer_connections);
  {
    absl::MutexLock lock(&store->writer_mu_);
    store->writers_.resize(static_cast<size_t>(writers));
    store->writer_busy_.assign(static_cast<size_t>(writers), false);
  }
  // The first writer connection is opened at once: an unreachable database fails Open.
  absl::StatusOr<std::unique_ptr<PgConn>> conn = store->Connect(/*writer=*/true);
  if (!conn.ok()) return conn.status();
  store->writers_[0] = std::move(*conn);
  return store;
}

absl::StatusOr<std::unique_ptr<PgConn>> PgStore::Connect(bool writer) {
  try {
    auto conn = std::make_unique<PgConn>(url_);
    if (writer) {
      // Prepared now rather than on first use, so that a missing schema fails Open.
      for (const auto& [name, sql] : kWriterStatements) {
        conn->conn.prepare(name, sql);
        conn->conn.prepare_now(name);
      }
    }
    return conn;
  } catch (...) {
    return ClassifyCurrentException(false).status;
  }
}

absl::StatusOr<std::unique_ptr<PgConn>> PgStore::AcquireReader() {
  {
    absl::MutexLock lock(&pool_mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_.empty() || readers_open_ < options_.read_pool_size;
    };
    if (!pool_mu_.AwaitWithTimeout(absl::Condition(&ready), options_.pool_wait)) {
      return absl::UnavailableError("no free database connection for reading");
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConn> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++readers_open_;  // the place is taken; the connection is opened outside the lock
  }
  absl::StatusOr<std::unique_ptr<PgConn>> conn = Connect(/*writer=*/false);
  if (!conn.ok()) {
    absl::MutexLock lock(&pool_mu_);
    --readers_open_;
  }
  return conn;
}

void PgStore::ReleaseReader(std::unique_ptr<PgConn> conn) {
  std::vector<std::unique_ptr<PgConn>> dropped;  // closed outside the lock
  {
    absl::MutexLock lock(&pool_mu_);
    if (conn != nullptr && !conn->broken && conn->conn.is_open()) {
      idle_.push_back(std::move(conn));
      return;
    }
    --readers_open_;
    if (conn != nullptr) {
      // One connection broke: the idle ones most likely did too (a database restart). Drop
      // them, so that the retry gets a fresh connection rather than another stale one.
      readers_open_ -= static_cast<int>(idle_.size());
      dropped = std::move(idle_);
      idle_.clear();
    }
    dropped.push_back(std::move(conn));
  }
}

template <typename T, typename Fn>
absl::StatusOr<T> PgStore::WithReader(Fn&& fn) {
  absl::Status last = absl::UnavailableError("database unavailable");
  // A second attempt only after a broken connection: reads are safe to repeat.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<PgConn>> conn = AcquireReader();
    if (!conn.ok()) return conn.status();
    Failure failure;
    try {
      absl::StatusOr<T> result = fn((*conn)->conn);
      ReleaseReader(std::move(*conn));
      return result;
    } catch (...) {
      failure = ClassifyCurrentException(false);
    }
    (*conn)->broken = failure.broken || !(*conn)->conn.is_open();
    const bool retry = (*conn)->broken;
    ReleaseReader(std::move(*conn));
    if (!retry) return failure.status;
    last = failure.status;
  }
  return last;
}

namespace {

// Raised by tl_fence_check (migration 0006) when a lease of the batch is no longer this owner's.
constexpr char kFenceLostState[] = "TLF01";

absl::Status FenceLost() {
  return absl::AbortedError(
      "lease lost: a tenant of this batch is now served by another process (its fencing epoch "
      "changed); nothing of the batch was committed");
}

absl::Status CheckFences(pqxx::work& txn, const PgStore::FencePlan& plan) {
  if (!plan.enabled || plan.fenced == 0) return absl::OkStatus();
  pqxx::result r = txn.exec_prepared(kCheckFences, plan.tenants, plan.epochs, plan.owner_id);
  if (r.size() == plan.fenced) return absl::OkStatus();
  return FenceLost();
}

std::vector<std::string> LeaseCreatedTenants(pqxx::work& txn, const PgStore::FencePlan& plan) {
  std::vector<std::string> leased;
  if (!plan.enabled || !plan.creates) return leased;
  for (const pqxx::row& row : txn.exec_prepared(kInsertLeases, plan.created, plan.owner_id,
                                                plan.owner_address, plan.ttl_seconds)) {
    leased.push_back(row[0].as<std::string>());
  }
  return leased;
}

}  // namespace

absl::StatusOr<std::vector<MutationOutcome>> PgStore::Commit(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  // Checked before anything is sent: libpq cannot carry a NUL, and the database would reject
  // invalid UTF-8 only after the batch's other work.
  for (const Mutation* m : batch) {
    if (m == nullptr) return absl::InvalidArgumentError("batch holds a null mutation");
    if (absl::Status s = CheckStorableText(*m); !s.ok()) return s;
  }
  absl::StatusOr<FencePlan> fence = PlanFences(batch);
  if (!fence.ok()) return fence.status();
  const size_t slot = AcquireWriterSlot();
  absl::Cleanup release = [this, slot] { ReleaseWriterSlot(slot); };
  std::unique_ptr<PgConn>& writer_ = writers_[slot];
  std::optional<Prune> prune_now;
  if (++commits_ % options_.prune_every == 0) {
    prune_now = Prune{options_.batch_ids_keep,
                      absl::ToUnixMicros(absl::Now() - options_.closed_holds_window)};
  }
  // One round trip unless the batch needs the database's answers before its commit (a stored
  // idempotency key, found by the first attempt; a new tenant's lease).
  bool fast = true;
  absl::Status last = absl::UnavailableError("database unavailable");
  // A second attempt only when the connection broke before COMMIT was sent: the server then
  // rolled the transaction back, so nothing of the batch is durable and repeating it is safe.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (writer_ == nullptr || writer_->broken) {
      writer_.reset();
      absl::StatusOr<std::unique_ptr<PgConn>> conn = Connect(/*writer=*/true);
      if (!conn.ok()) return conn.status();
      writer_ = std::move(*conn);
    }
    std::vector<MutationOutcome> outcomes;
    Failure failure;
    // One round trip when the batch needs no answer from the database before its commit (it
    // creates no tenant, whose lease rows are read back): every statement in one query string.
    if (fast && !fence->creates) {
      try {
        BatchRunner run;
        if (fence->enabled && fence->fenced > 0) {
          run.Append("SELECT tl_fence_check(");
          run.AppendLiteral(fence->tenants);
          run.Append(",");
          run.AppendLiteral(fence->epochs);
          run.Append(",");
          run.AppendLiteral(fence->owner_id);
          run.Append(");\n");
        }
        absl::Status s = WriteBatch(run, batch, batch_id, prune_now, outcomes);
        if (!s.ok()) return s;
        std::optional<pqxx::nontransaction> txn;
        try {
          txn.emplace(writer_->conn);
        } catch (...) {
          // Nothing was sent: a connection found dead here is simply opened again.
          failure = ClassifyCurrentException(/*at_commit=*/false);
          writer_->broken = failure.broken || !writer_->conn.is_open();
          if (!writer_->broken) return failure.status;
          last = failure.status;
          continue;
        }
        txn->exec(run.sql());
        return outcomes;
      } catch (const pqxx::unique_violation&) {
        // Most likely an idempotency key stored already (a retry the cache no longer knew):
        // nothing was committed, and the careful path below sorts the keys out.
        fast = false;
        continue;
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == kFenceLostState) return FenceLost();
        failure = ClassifyCurrentException(/*at_commit=*/true);
      } catch (...) {
        // The commit is part of the one statement: a connection lost now leaves it in doubt.
        failure = ClassifyCurrentException(/*at_commit=*/true);
      }
      writer_->broken = failure.broken || !writer_->conn.is_open();
      if (!writer_->broken || absl::IsUnknown(failure.status)) return failure.status;
      last = failure.status;
      continue;
    }
    try {
      pqxx::work txn(writer_->conn);
      BatchRunner run(txn);
      // First, so that the lease rows stay locked until COMMIT.
      if (absl::Status f = CheckFences(txn, *fence); !f.ok()) return f;
      absl::Status s = WriteBatch(run, batch, batch_id, prune_now, outcomes);
      if (!s.ok()) return s;  // the transaction is rolled back as it goes out of scope
      std::vector<std::string> leased = LeaseCreatedTenants(txn, *fence);
      try {
        txn.commit();
        if (!leased.empty()) {
          absl::MutexLock lock(&fence_mu_);
          for (std::string& t : leased) fences_[std::move(t)] = 1;
        }
        return outcomes;
      } catch (...) {
        failure = ClassifyCurrentException(/*at_commit=*/true);
        writer_->broken = failure.broken || !writer_->conn.is_open();
        return failure.status;
      }
    } catch (...) {
      failure = ClassifyCurrentException(/*at_commit=*/false);
    }
    writer_->broken = failure.broken || !writer_->conn.is_open();
    if (!writer_->broken) return failure.status;
    last = failure.status;
  }
  return last;
}

size_t PgStore::AcquireWriterSlot() {
  absl::MutexLock lock(&writer_mu_);
  size_t slot = 0;
  auto free_slot = [this, &slot]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_) {
    for (size_t i = 0; i < writer_busy_.size(); ++i) {
      if (!writer_busy_[i]) {
        slot = i;
        return true;
      }
    }
    return false;
  };
  writer_mu_.Await(absl::Condition(&free_slot));
  writer_busy_[slot] = true;
  return slot;
}

void PgStore::ReleaseWriterSlot(size_t slot) {
  absl::MutexLock lock(&writer_mu_);
  writer_busy_[slot] = false;
}

absl::StatusOr<bool> PgStore::CommittedBatch(uint64_t batch_id) {
  const size_t slot = AcquireWriterSlot();
  absl::Cleanup release = [this, slot] { ReleaseWriterSlot(slot); };
  std::unique_ptr<PgConn>& writer_ = writers_[slot];
  absl::Status last = absl::UnavailableError("database unavailable");
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (writer_ == nullptr || writer_->broken) {
      writer_.reset();
      absl::StatusOr<std::unique_ptr<PgConn>> conn = Connect(/*writer=*/true);
      if (!conn.ok()) return conn.status();
      writer_ = std::move(*conn);
    }
    Failure failure;
    try {
      pqxx::nontransaction txn(writer_->conn);
      return txn.exec_prepared1(kCommittedBatch, ToInt64(batch_id))[0].as<bool>();
    } catch (...) {
      failure = ClassifyCurrentException(false);
    }
    writer_->broken = failure.broken || !writer_->conn.is_open();
    if (!writer_->broken) return failure.status;
    last = failure.status;
  }
  return last;
}

namespace {

// Adds to `holds` (rows of `holds` read already) the holds of the hold_batches rows of `tenant`
// ("" = every tenant), and to `segments` (when given) the segments of those rows. An entry whose
// hold has a row in `holds` is that row's business (the entry's answer fills the row's when the
// row carries none); the others are open holds. The engine deletes a segment's rows once its
// holds have all closed or expired (Mutation::dropped_hold_segments); rows are also pruned once
// every hold in them has been expired for the closed-hold window (rows of segment 0, written
// before segments, and rows a failed drop left).
template <typename Txn>
absl::Status MergeHoldBatches(Txn& txn, const std::string& tenant, std::vector<HoldRecord>& holds,
                              std::vector<HoldSegment>* segments = nullptr) {
  std::vector<HoldRecord> entries;
  absl::flat_hash_set<Key> seen;
  std::map<std::pair<std::string, int64_t>, int64_t> records;  // per segment
  for (const pqxx::row& r : txn.exec_params(kLoadHoldBatchesSql, tenant)) {
    absl::StatusOr<std::vector<HoldRecord>> decoded =
        pg_internal::DecodeHolds(r[0].as<std::string>(), pqxx::binarystring(r[1]).str());
    if (!decoded.ok()) return decoded.status();
    const int64_t segment = r[2].as<int64_t>();
    if (segment != 0) {
      records[{r[0].as<std::string>(), segment}] += static_cast<int64_t>(decoded->size());
    }
    for (HoldRecord& h : *decoded) {
      h.segment = segment;
      if (seen.insert(Key{h.tenant_id, h.hold_id}).second) entries.push_back(std::move(h));
    }
  }
  if (segments != nullptr) {
    for (const auto& [where, n] : records) {
      segments->push_back(HoldSegment{where.first, where.second, n});
    }
  }
  if (entries.empty()) return absl::OkStatus();
  absl::flat_hash_map<Key, HoldRecord*> loaded;
  loaded.reserve(holds.size());
  for (HoldRecord& h : holds) loaded.emplace(Key{h.tenant_id, h.hold_id}, &h);
  // Only the entries whose row (if any) was not read already: closed before the window.
  pg_internal::ArrayLiteral tenants, ids;
  for (const HoldRecord& h : entries) {
    if (loaded.contains(Key{h.tenant_id, h.hold_id})) continue;
    tenants.AddText(h.tenant_id);
    ids.AddText(h.hold_id);
  }
  absl::flat_hash_set<Key> closed_long_ago;
  if (ids.size() > 0) {
    for (const pqxx::row& r :
         txn.exec_params(kHoldRowsOfSql, std::move(tenants).Finish(), std::move(ids).Finish())) {
      closed_long_ago.emplace(r[0].as<std::string>(), r[1].as<std::string>());
    }
  }
  std::vector<HoldRecord> open;
  for (HoldRecord& e : entries) {
    const Key key{e.tenant_id, e.hold_id};
    if (auto it = loaded.find(key); it != loaded.end()) {
      if (it->second->response.empty()) {
        it->second->fingerprint = e.fingerprint;
        it->second->response = std::move(e.response);
      }
    } else if (!closed_long_ago.contains(key)) {
      open.push_back(std::move(e));
    }
  }
  holds.insert(holds.end(), std::make_move_iterator(open.begin()),
               std::make_move_iterator(open.end()));
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::Status CopyAccounts(pqxx::transaction_base& txn, std::vector<Snapshot::AccountBalance>& out) {
  pqxx::stream_from copy(txn, kCopyAccountsSql);
  std::tuple<std::string, std::string, std::string, std::string, bool, int64_t, int64_t, int64_t,
             int64_t, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>
      r;
  while (copy >> r) {
    Snapshot::AccountBalance& ab = out.emplace_back();
    AccountRecord& a = ab.account;
    a.tenant_id = std::move(std::get<0>(r));
    a.account_id = std::move(std::get<1>(r));
    a.display_name = std::move(std::get<2>(r));
    a.team_id = std::move(std::get<3>(r));
    if (std::get<4>(r)) {
      a.policy = Policy{.monthly_allocation = std::get<5>(r),
                        .rollover_max = std::get<6>(r),
                        .daily_limit = std::get<7>(r),
                        .overdraft_limit = std::get<8>(r)};
    }
    a.status = static_cast<AccountStatus>(std::get<9>(r));
    a.created_at_us = std::get<10>(r);
    ab.posted = PostedTotals{.credits = std::get<11>(r),
                             .debits = std::get<12>(r),
                             .granted = std::get<13>(r),
                             .spent = std::get<14>(r),
                             .expired = std::get<15>(r)};
  }
  copy.complete();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Snapshot> PgStore::Load() {
  const int64_t closed_since = absl::ToUnixMicros(absl::Now() - options_.closed_holds_window);
  const int64_t closed_max = options_.closed_holds_load_max;
  const int64_t idempotency_max = options_.idempotency_load_max;
  return WithReader<Snapshot>([&](pqxx::connection& conn) -> absl::StatusOr<Snapshot> {
    // One snapshot for all tables: balances consistent with the holds and keys beside them.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
    Snapshot s;
    for (const pqxx::row& r : txn.exec(kLoadTenantsSql)) s.tenants.push_back(TenantFromRow(r));
    for (const pqxx::row& r : txn.exec(kLoadApiKeysSql)) {
      absl::StatusOr<ApiKeyRecord> k = ApiKeyFromRow(r);
      if (!k.ok()) return k.status();
      s.api_keys.push_back(*std::move(k));
    }
    for (const pqxx::row& r : txn.exec(kLoadTeamsSql)) {
      TeamRecord t;
      t.tenant_id = r[0].as<std::string>();
      t.team_id = r[1].as<std::string>();
      t.display_name = r[2].as<std::string>();
      t.monthly_cap = r[3].as<int64_t>();
      s.teams.push_back(std::move(t));
    }
    if (absl::Status a = CopyAccounts(txn, s.accounts); !a.ok()) return a;
    for (const pqxx::row& r : txn.exec(kLoadOpenHoldsSql)) s.holds.push_back(HoldFromRow(r));
    const size_t first_closed = s.holds.size();
    for (const pqxx::row& r : txn.exec_params(kLoadClosedHoldsSql, closed_since, closed_max)) {
      s.holds.push_back(HoldFromRow(r));
    }
    // The oldest closed first: memory forgets closed holds in the order it learns of them.
    std::reverse(s.holds.begin() + first_closed, s.holds.end());
    if (absl::Status b = MergeHoldBatches(txn, "", s.holds, &s.hold_segments); !b.ok()) return b;
    for (const pqxx::row& r : txn.exec_params(kLoadIdempotencySql, idempotency_max)) {
      s.idempotency.push_back(IdempotencyFromRow(r));
    }
    for (const pqxx::row& r : txn.exec(kLoadLastPeriodsSql)) {
      PeriodRecord p;
      p.tenant_id = r[0].as<std::string>();
      p.account_id = r[1].as<std::string>();
      p.period_start_us = r[2].as<int64_t>();
      p.carried = r[3].as<int64_t>();
      p.expired = r[4].as<int64_t>();
      p.granted = r[5].as<int64_t>();
      p.created_at_us = r[6].as<int64_t>();
      s.last_periods.push_back(std::move(p));
    }
    txn.commit();
    return s;
  });
}

absl::StatusOr<std::vector<TransferRecord>> PgStore::ListTransfers(const TransferQuery& q) {
  if (q.limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  const int64_t limit = std::min(q.limit, kListTransfersMax);
  const int64_t before = q.before_seq != 0 ? q.before_seq : INT64_MAX;
  const int64_t since = q.since_us != 0 ? q.since_us : INT64_MIN;
  const int64_t until = q.until_us != 0 ? q.until_us : INT64_MAX;
  using Result = std::vector<TransferRecord>;
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    Result out;
    pqxx::result r =
        txn.exec_params(kListTransfersSql, q.tenant_id, q.account_id, before, since, until, limit);
    out.reserve(r.size());
    for (const pqxx::row& row : r) {
      TransferRecord t;
      t.tenant_id = q.tenant_id;
      t.seq = row[0].as<int64_t>();
      t.transfer_id = row[1].as<std::string>();
      t.debit_account_id = row[2].as<std::string>();
      t.credit_account_id = row[3].as<std::string>();
      t.amount = row[4].as<int64_t>();
      t.kind = static_cast<TransferKind>(row[5].as<int>());
      t.created_at_us = row[6].as<int64_t>();
      t.request_id = row[7].as<std::string>();
      t.model = row[8].as<std::string>();
      t.memo = row[9].as<std::string>();
      t.hold_id = row[10].as<std::string>();
      t.idempotency_key = row[11].as<std::string>();
      std::vector<std::string> keys = TextArray(row[12]);
      std::vector<std::string> values = TextArray(row[13]);
      if (keys.size() != values.size()) {
        return absl::InternalError("transfers: malformed metadata");
      }
      for (size_t i = 0; i < keys.size(); ++i) {
        t.metadata.emplace_back(std::move(keys[i]), std::move(values[i]));
      }
      out.push_back(std::move(t));
    }
    return out;
  });
}

absl::StatusOr<std::optional<HoldRecord>> PgStore::GetHold(const std::string& tenant_id,
                                                           const std::string& hold_id) {
  using Result = std::optional<HoldRecord>;
  for (absl::string_view s : {absl::string_view(tenant_id), absl::string_view(hold_id)}) {
    if (s.find('\0') != absl::string_view::npos) return Result(std::nullopt);  // no such id
  }
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec_params(kGetHoldSql, tenant_id, hold_id);
    if (r.empty()) return Result(std::nullopt);
    return Result(HoldFromRow(r[0]));
  });
}

absl::StatusOr<std::optional<IdempotencyRecord>> PgStore::GetIdempotency(
    const std::string& tenant_id, const std::string& key) {
  using Result = std::optional<IdempotencyRecord>;
  // The key comes from a request: a NUL would be cut off by libpq and match another key.
  for (absl::string_view s : {absl::string_view(tenant_id), absl::string_view(key)}) {
    if (s.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError("idempotency key contains a NUL byte");
    }
  }
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec_params(kGetIdempotencySql, tenant_id, key);
    if (r.empty()) return Result(std::nullopt);
    return Result(IdempotencyFromRow(r[0]));
  });
}

absl::StatusOr<ReconcileData> PgStore::Recompute(const std::string& tenant_id) {
  return WithReader<ReconcileData>([&](pqxx::connection& conn) -> absl::StatusOr<ReconcileData> {
    // Transfers, balances and holds from one snapshot, so that a commit landing in between
    // cannot show up as a mismatch.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
    ReconcileData data;
    __int128 sum = 0;  // wide: per-account differences may exceed int64 on the way
    for (const pqxx::row& r : txn.exec_params(kRecomputeSql, tenant_id)) {
      ReconcileData::Row row;
      row.account_id = r[0].as<std::string>();
      row.recomputed = PostedTotals{r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
                                    r[4].as<int64_t>(), r[5].as<int64_t>()};
      row.stored = PostedTotals{r[6].as<int64_t>(), r[7].as<int64_t>(), r[8].as<int64_t>(),
                                r[9].as<int64_t>(), r[10].as<int64_t>()};
      row.open_held = r[11].as<int64_t>();
      sum += static_cast<__int128>(row.recomputed.credits) - row.recomputed.debits;
      data.rows.push_back(std::move(row));
    }
    // Open holds recorded in hold batches (and without a row of `holds` since).
    std::vector<HoldRecord> batched;
    if (absl::Status b = MergeHoldBatches(txn, tenant_id, batched); !b.ok()) return b;
    std::map<std::string, int64_t> batched_held;
    for (const HoldRecord& h : batched) {
      int64_t& held = batched_held[h.account_id];
      if (!CheckedAdd(held, h.amount, held)) {
        return absl::DataLossError("hold_batches: open holds overflow an account's sum");
      }
    }
    for (ReconcileData::Row& row : data.rows) {
      auto it = batched_held.find(row.account_id);
      if (it != batched_held.end() && !CheckedAdd(row.open_held, it->second, row.open_held)) {
        return absl::DataLossError("hold_batches: open holds overflow an account's sum");
      }
    }
    data.transfers_checked = txn.exec_params1(kCountTransfersSql, tenant_id)[0].as<int64_t>();
    for (const pqxx::row& r : txn.exec_params(kRecomputePeriodsSql, tenant_id)) {
      PeriodGroup group;
      group.rows = r[1].as<int64_t>();
      group.last_start = r[2].as<int64_t>();
      group.expired = r[3].as<int64_t>();
      group.granted = r[4].as<int64_t>();
      data.periods_checked += group.rows;
      AddPeriodProblems(r[0].as<std::string>(), group, r[5].as<int64_t>(), r[6].as<int64_t>(),
                        data.period_problems);
    }
    SortPeriodProblems(data.period_problems);
    txn.commit();
    if (sum > INT64_MAX || sum < INT64_MIN) {
      return absl::InternalError("recompute: ledger sum out of range for bigint");
    }
    data.ledger_sum = static_cast<int64_t>(sum);
    return data;
  });
}

absl::StatusOr<std::vector<UsageSums>> PgStore::SumUsage(const std::string& tenant_id,
                                                         int64_t period_start_us,
                                                         int64_t day_start_us) {
  using Result = std::vector<UsageSums>;
  if (tenant_id.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("tenant_id contains a NUL byte");
  }
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    Result out;
    for (const pqxx::row& r :
         txn.exec_params(kSumUsageSql, tenant_id, period_start_us, day_start_us)) {
      out.push_back(UsageSums{.account_id = r[0].as<std::string>(),
                              .period_spent = r[1].as<int64_t>(),
                              .day_spent = r[2].as<int64_t>()});
    }
    return out;
  });
}

absl::Status PgStore::RepairBalances(
    const std::string& tenant_id, const std::vector<std::pair<std::string, PostedTotals>>& totals,
    const AuditRecord& audit) {
  Mutation audit_only;
  audit_only.audit.push_back(audit);
  if (absl::Status s = CheckStorableText(audit_only); !s.ok()) return s;
  if (tenant_id.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("tenant_id contains a NUL byte");
  }
  // One row per account, the last given winning (one statement cannot update a row twice).
  std::map<std::string, PostedTotals> rows;
  for (const auto& [account_id, t] : totals) {
    if (account_id.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("account_id contains a NUL byte");
    }
    rows[account_id] = t;
  }
  absl::StatusOr<bool> done = WithReader<bool>([&](pqxx::connection& conn) {
    pg_internal::ArrayLiteral id, credits, debits, granted, spent, expired;
    for (const auto& [account_id, t] : rows) {
      id.AddText(account_id);
      credits.AddInt(t.credits);
      debits.AddInt(t.debits);
      granted.AddInt(t.granted);
      spent.AddInt(t.spent);
      expired.AddInt(t.expired);
    }
    pqxx::work txn(conn);
    if (!rows.empty()) {
      txn.exec_params0(kRepairBalancesSql, tenant_id, std::move(id).Finish(),
                       std::move(credits).Finish(), std::move(debits).Finish(),
                       std::move(granted).Finish(), std::move(spent).Finish(),
                       std::move(expired).Finish());
    }
    AuditColumns columns;
    columns.Add(audit);
    txn.exec_params0(kInsertAuditSql, std::move(columns.tenant_id).Finish(),
                     std::move(columns.actor).Finish(), std::move(columns.action).Finish(),
                     std::move(columns.target).Finish(), std::move(columns.detail).Finish(),
                     std::move(columns.created_at).Finish());
    // A lost connection here leaves the repair in doubt; Reconcile can simply be run again.
    txn.commit();
    return absl::StatusOr<bool>(true);
  });
  return done.status();
}

// ---- leases and fencing -----------------------------------------------------------------------

void PgStore::EnableFencing(const LeaseOwner& owner) {
  absl::MutexLock lock(&fence_mu_);
  owner_ = owner;
}

void PgStore::AddFence(const std::string& tenant_id, int64_t epoch) {
  absl::MutexLock lock(&fence_mu_);
  fences_[tenant_id] = epoch;
}

void PgStore::RemoveFence(const std::string& tenant_id) {
  absl::MutexLock lock(&fence_mu_);
  fences_.erase(tenant_id);
}

std::optional<int64_t> PgStore::FenceEpoch(const std::string& tenant_id) const {
  absl::ReaderMutexLock lock(&fence_mu_);
  auto it = fences_.find(tenant_id);
  if (it == fences_.end()) return std::nullopt;
  return it->second;
}

absl::flat_hash_map<std::string, int64_t> PgStore::Fences() const {
  absl::MutexLock lock(&fence_mu_);
  return fences_;
}

absl::StatusOr<PgStore::FencePlan> PgStore::PlanFences(absl::Span<const Mutation* const> batch) {
  FencePlan plan;
  absl::MutexLock lock(&fence_mu_);
  if (!owner_.has_value()) return plan;
  plan.enabled = true;
  plan.owner_id = owner_->owner_id;
  plan.owner_address = owner_->address;
  plan.ttl_seconds = absl::ToDoubleSeconds(owner_->ttl);
  std::set<std::string> created, fenced;
  for (const Mutation* m : batch) {
    if (m->tenant) {
      created.insert(m->tenant->tenant_id);
      continue;
    }
    const std::string& t = MutationTenant(*m);
    if (!t.empty()) fenced.insert(t);
  }
  pg_internal::ArrayLiteral tenants, epochs, new_tenants;
  for (const std::string& t : fenced) {
    if (created.contains(t)) continue;
    auto it = fences_.find(t);
    if (it == fences_.end()) {
      return absl::AbortedError(
          absl::StrCat("lease lost: tenant ", t, " is not served by this process"));
    }
    tenants.AddText(t);
    epochs.AddInt(it->second);
    ++plan.fenced;
  }
  for (const std::string& t : created) new_tenants.AddText(t);
  plan.tenants = std::move(tenants).Finish();
  plan.epochs = std::move(epochs).Finish();
  plan.created = std::move(new_tenants).Finish();
  plan.creates = !created.empty();
  return plan;
}

absl::StatusOr<std::vector<LeaseRecord>> PgStore::ClaimLeases(bool claim) {
  std::optional<LeaseOwner> owner;
  {
    absl::MutexLock lock(&fence_mu_);
    owner = owner_;
  }
  if (!owner.has_value()) return absl::FailedPreconditionError("fencing is not enabled");
  using Result = std::vector<LeaseRecord>;
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    // One statement, which the server commits before it answers: a process paused meanwhile
    // (SIGSTOP, a frozen VM) cannot keep the lease rows locked, which would make the claim of
    // the process taking its tenants over wait for it.
    pqxx::nontransaction txn(conn);
    Result out;
    for (const pqxx::row& r : txn.exec_params(kClaimLeasesSql, owner->owner_id, owner->address,
                                              absl::ToDoubleSeconds(owner->ttl), claim)) {
      out.push_back(LeaseFromRow(r));
    }
    return out;
  });
}

absl::StatusOr<std::vector<LeaseRecord>> PgStore::ListLeases() {
  using Result = std::vector<LeaseRecord>;
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    Result out;
    for (const pqxx::row& r : txn.exec(kListLeasesSql)) out.push_back(LeaseFromRow(r));
    return out;
  });
}

absl::Status PgStore::ReleaseLeases() {
  std::optional<LeaseOwner> owner;
  {
    absl::MutexLock lock(&fence_mu_);
    owner = owner_;
    fences_.clear();
  }
  if (!owner.has_value()) return absl::OkStatus();
  absl::StatusOr<bool> r = WithReader<bool>([&](pqxx::connection& conn) -> absl::StatusOr<bool> {
    pqxx::nontransaction txn(conn);
    txn.exec_params(kReleaseLeasesSql, owner->owner_id);
    return true;
  });
  return r.status();
}

absl::StatusOr<std::vector<ApiKeyRecord>> PgStore::ListApiKeys() {
  using Result = std::vector<ApiKeyRecord>;
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    Result out;
    for (const pqxx::row& r : txn.exec(kLoadApiKeysSql)) {
      absl::StatusOr<ApiKeyRecord> k = ApiKeyFromRow(r);
      if (!k.ok()) return k.status();
      out.push_back(*std::move(k));
    }
    return out;
  });
}

absl::StatusOr<std::vector<AuditRecord>> PgStore::ListAudit(const AuditQuery& q) {
  if (q.tenant_id.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("tenant_id contains a NUL byte");
  }
  using Result = std::vector<AuditRecord>;
  return WithReader<Result>([&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::nontransaction txn(conn);
    Result out;
    const int64_t before = q.before_seq > 0 ? q.before_seq : INT64_MAX;
    for (const pqxx::row& r : txn.exec_params(kListAuditSql, q.tenant_id, before, q.limit)) {
      out.push_back(AuditRecord{.tenant_id = r[1].as<std::string>(),
                                .seq = r[0].as<int64_t>(),
                                .actor_key_id = r[2].as<std::string>(),
                                .action = r[3].as<std::string>(),
                                .target = r[4].as<std::string>(),
                                .detail = r[5].as<std::string>(),
                                .created_at_us = r[6].as<int64_t>()});
    }
    return out;
  });
}

}  // namespace tokenledger
