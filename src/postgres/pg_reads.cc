// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore's read paths, each on a pooled read connection (WithReader): ListTransfers, GetHold,
// GetIdempotency, Recompute and RepairBalances (reconciliation), SumUsage, ListAudit.
#include <algorithm>
#include <climits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "postgres/pg_batch_writer.h"
#include "postgres/pg_conn.h"
#include "postgres/pg_encode.h"
#include "postgres/pg_load.h"
#include "postgres/pg_rows.h"
#include "postgres/pg_sql_reads.h"
#include "postgres/pg_sql_writer.h"
#include "postgres/pg_store.h"
#include "store/store_rules.h"

namespace tokenledger {

using pg_internal::AuditColumns;
using pg_internal::HoldFromRow;
using pg_internal::IdempotencyFromRow;
using pg_internal::kCountTransfersSql;
using pg_internal::kGetHoldSql;
using pg_internal::kGetIdempotencySql;
using pg_internal::kInsertAuditSql;
using pg_internal::kListAuditSql;
using pg_internal::kListTransfersSql;
using pg_internal::kRecomputePeriodsSql;
using pg_internal::kRecomputeSql;
using pg_internal::kRepairBalancesSql;
using pg_internal::kSumUsageSql;
using pg_internal::TransferFromRow;

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
      absl::StatusOr<TransferRecord> t = TransferFromRow(row, q.tenant_id);
      if (!t.ok()) return t.status();
      out.push_back(*std::move(t));
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
    if (absl::Status b = pg_internal::MergeHoldBatches(txn, tenant_id, batched); !b.ok()) return b;
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
    // Rows by (account, model), in that order: an account's rows are added up into its sums.
    for (const pqxx::row& r :
         txn.exec_params(kSumUsageSql, tenant_id, period_start_us, day_start_us)) {
      std::string account_id = r[0].as<std::string>();
      if (out.empty() || out.back().account_id != account_id) {
        out.push_back(UsageSums{.account_id = std::move(account_id)});
      }
      UsageSums& u = out.back();
      std::string model = r[1].as<std::string>();
      const int64_t period = r[2].as<int64_t>();
      if (!CheckedAdd(u.period_spent, period, u.period_spent) ||
          !CheckedAdd(u.day_spent, r[3].as<int64_t>(), u.day_spent)) {
        return absl::InternalError("sum usage: out of range for bigint");
      }
      // A named model with usage in the period (a free model's sum is 0).
      if (!model.empty() && r[4].as<int64_t>() > 0) {
        u.model_spent.emplace_back(std::move(model), period);
      }
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
