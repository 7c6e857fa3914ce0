// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/reconcile.h"

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ledger/errors.h"
#include "ledger/spending_limits.h"

namespace tokenledger {
namespace {

void CompareTotals(const std::string& account, const PostedTotals& want, const PostedTotals& got,
                   absl::string_view source, std::vector<ReconcileMismatch>& out) {
  const std::pair<const char*, int64_t PostedTotals::*> fields[] = {
      {"credits", &PostedTotals::credits},
      {"debits", &PostedTotals::debits},
      {"granted", &PostedTotals::granted},
      {"spent", &PostedTotals::spent},
      {"expired", &PostedTotals::expired}};
  for (const auto& [name, member] : fields) {
    if (want.*member != got.*member) {
      out.push_back(
          ReconcileMismatch{account, name, want.*member, got.*member, std::string(source)});
    }
  }
}

}  // namespace

void Reconciler::Reconcile(const std::string& tenant, bool fix, ReconcileCallback done,
                           const std::string& actor) {
  if (!cx_.tenants.Find(tenant)) return std::move(done)(TenantNotFound());
  auto slot = std::make_shared<ReconcileCallback>(std::move(done));
  absl::Status s = cx_.journal->RunExclusive([this, tenant, fix, actor, slot](LedgerStore& store) {
    Run(store, tenant, fix, actor, std::move(*slot));
  });
  if (!s.ok()) std::move (*slot)(s);
}

// Runs on the writer's thread between batches: everything queued before it is committed and
// applied, so the store, the transfers and the posted totals in memory must agree exactly.
void Reconciler::Run(LedgerStore& store, const std::string& tenant, bool fix,
                     const std::string& actor, ReconcileCallback done) {
  ReconcileReport report;
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());  // dropped since the call was queued
  TenantState& t = *owner;
  report.expired_holds_released = sweep_.SweepTenant(t);
  absl::StatusOr<ReconcileData> data = store.Recompute(tenant);
  if (!data.ok()) return std::move(done)(data.status());
  report.transfers_checked = data->transfers_checked;
  report.ledger_sum = data->ledger_sum;
  report.periods_checked = data->periods_checked;
  for (const auto& p : data->period_problems) {
    report.mismatches.push_back(
        ReconcileMismatch{p.account_id, absl::StrCat("period ", p.period_start_us, " ", p.field),
                          p.expected, p.found, "periods"});
  }
  std::vector<std::pair<std::string, PostedTotals>> store_repairs;
  {
    absl::MutexLock lock(&t.mu);
    store_repairs = CompareAccounts(t, *data, fix, report);
  }
  if (fix && !report.mismatches.empty()) {
    if (absl::Status s = RepairStore(store, tenant, actor, report, store_repairs); !s.ok()) {
      return std::move(done)(s);
    }
  }
  if (fix) {
    report.fixed = true;
    for (const auto& m : report.mismatches) {
      if (m.source != "periods") report.repaired.push_back(m);  // period rows are not rewritten
    }
  }
  std::move(done)(std::move(report));
}

std::vector<std::pair<std::string, PostedTotals>> Reconciler::CompareAccounts(
    TenantState& t, const ReconcileData& data, bool fix, ReconcileReport& report) const {
  std::vector<std::pair<std::string, PostedTotals>> store_repairs;
  // Holds: each account's `held` must be the sum of its open holds (a hold whose capture or
  // release is in flight has already left `held`).
  absl::flat_hash_map<std::string, int64_t> held;
  for (const auto& [id, h] : t.holds) {
    if (h.phase == HoldPhase::kOpen) held[h.account_id] += h.amount;
  }
  for (const auto& row : data.rows) {
    ++report.accounts_checked;
    size_t before = report.mismatches.size();
    CompareTotals(row.account_id, row.recomputed, row.stored, "store", report.mismatches);
    if (report.mismatches.size() != before) {
      store_repairs.emplace_back(row.account_id, row.recomputed);
    }
    auto it = t.accounts.find(row.account_id);
    if (it == t.accounts.end()) {
      report.mismatches.push_back(ReconcileMismatch{row.account_id, "present", 1, 0, "cache"});
      continue;
    }
    before = report.mismatches.size();
    CompareTotals(row.account_id, row.recomputed, it->second.posted, "cache", report.mismatches);
    const int64_t want_held = held[row.account_id];
    if (it->second.held != want_held) {
      report.mismatches.push_back(
          ReconcileMismatch{row.account_id, "held", want_held, it->second.held, "cache"});
    }
    if (fix && report.mismatches.size() != before) {
      it->second.posted = row.recomputed;
      AddHeld(t, it->second, want_held - it->second.held);
    }
  }
  return store_repairs;
}

absl::Status Reconciler::RepairStore(
    LedgerStore& store, const std::string& tenant, const std::string& actor,
    const ReconcileReport& report,
    const std::vector<std::pair<std::string, PostedTotals>>& repairs) const {
  std::string detail = absl::StrCat("repaired ", report.mismatches.size(), " mismatches:");
  for (const ReconcileMismatch& m : report.mismatches) {
    absl::StrAppend(&detail, " ", m.account_id, " ", m.field, " ", m.found, "->", m.expected, " (",
                    m.source, ");");
  }
  AuditRecord audit{.tenant_id = tenant,
                    .actor_key_id = actor,
                    .action = "Reconcile",
                    .target = tenant,
                    .detail = std::move(detail),
                    .created_at_us = cx_.clock->NowMicros()};
  return store.RepairBalances(tenant, repairs, audit);
}

}  // namespace tokenledger
