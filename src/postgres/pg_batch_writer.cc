// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_batch_writer.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <utility>

#include "postgres/pg_conn.h"
#include "postgres/pg_rows.h"
#include "postgres/pg_sql_writer.h"
#include "store/store_rules.h"

namespace tokenledger {
namespace pg_internal {

void AuditColumns::Add(const AuditRecord& a) {
  tenant_id.AddText(a.tenant_id);
  actor.AddText(a.actor_key_id);
  action.AddText(a.action);
  target.AddText(a.target);
  detail.AddText(a.detail);
  created_at.AddInt(a.created_at_us);
}

void AuditColumns::Insert(BatchRunner& run) && {
  run.Exec0(kInsertAudit, std::move(tenant_id).Finish(), std::move(actor).Finish(),
            std::move(action).Finish(), std::move(target).Finish(), std::move(detail).Finish(),
            std::move(created_at).Finish());
}

namespace {

using SegmentKey = std::pair<std::string, int64_t>;  // (tenant_id, segment)

// The first claim of each idempotency key in the batch (a later one is a duplicate of it).
using FirstClaims = std::map<Key, size_t>;

// Column arrays of one multi-row statement.
struct TransferColumns {
  ArrayLiteral tenant_id, transfer_id, debit, credit, amount, kind, created_at, request_id, model,
      metadata, memo, hold_id, idempotency_key;
  // NULL for a transfer without usage (or without a price, or an occurred_at).
  ArrayLiteral input_tokens, output_tokens, cached_input_tokens, price_effective_at, occurred_at;
};

struct PriceColumns {
  ArrayLiteral tenant, model, effective_at, input, output, cached_input, created;
};

struct PeriodColumns {
  ArrayLiteral tenant, account, start, carried, expired, granted, created;
};

struct TenantColumns {
  ArrayLiteral id, name, unit, tz, created;
};

// Everything of the mutations that are not duplicates, merged per row.
struct BatchRows {
  std::map<Key, AccountRecord> accounts;
  std::map<Key, TeamRecord> teams;
  std::map<std::string, ApiKeyRecord> api_keys;
  std::map<Key, HoldRecord> holds;
  std::set<SegmentKey> dropped_segments;
  std::map<Key, PostedTotals> deltas;
  PeriodColumns periods;
  PriceColumns prices;
  TenantColumns tenants;
  TransferColumns transfers;
  AuditColumns audit;
};

// ---- (a) idempotency keys ---------------------------------------------------------------------

// Inserts the first claims' keys; returns those the database took (new keys).
std::set<Key> InsertKeys(BatchRunner& run, absl::Span<const Mutation* const> batch,
                         const FirstClaims& first_claim) {
  ArrayLiteral tenants, keys, fingerprints, responses;
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::optional<IdempotencyRecord>& idem = batch[i]->idempotency;
    if (!idem.has_value() || first_claim.at(Key{idem->tenant_id, idem->key}) != i) continue;
    tenants.AddText(idem->tenant_id);
    keys.AddText(idem->key);
    fingerprints.AddInt(ToInt64(idem->fingerprint));
    responses.AddBytes(idem->response);
  }
  std::set<Key> inserted;
  if (first_claim.empty()) return inserted;
  if (run.collecting()) {
    // Every key is taken to be new; if one is not, the batch fails and is written again.
    run.Exec0(kInsertIdempotencyNew, std::move(tenants).Finish(), std::move(keys).Finish(),
              std::move(fingerprints).Finish(), std::move(responses).Finish());
    for (const auto& [key, index] : first_claim) inserted.insert(key);
    return inserted;
  }
  pqxx::result r =
      run.Exec(kInsertIdempotency, std::move(tenants).Finish(), std::move(keys).Finish(),
               std::move(fingerprints).Finish(), std::move(responses).Finish());
  for (const pqxx::row& row : r)
    inserted.emplace(row[0].as<std::string>(), row[1].as<std::string>());
  return inserted;
}

// The stored records of the keys that were not inserted: they exist already.
std::map<Key, IdempotencyRecord> StoredKeys(BatchRunner& run, const FirstClaims& first_claim,
                                            const std::set<Key>& inserted) {
  std::map<Key, IdempotencyRecord> stored;
  if (inserted.size() >= first_claim.size()) return stored;
  ArrayLiteral dup_tenants, dup_keys;
  for (const auto& [key, index] : first_claim) {
    if (inserted.contains(key)) continue;
    dup_tenants.AddText(key.first);
    dup_keys.AddText(key.second);
  }
  pqxx::result r =
      run.Exec(kSelectIdempotency, std::move(dup_tenants).Finish(), std::move(dup_keys).Finish());
  for (const pqxx::row& row : r) {
    IdempotencyRecord rec = IdempotencyFromRow(row);
    Key key{rec.tenant_id, rec.key};
    stored.emplace(std::move(key), std::move(rec));
  }
  return stored;
}

// Only the first claim of a key in the batch is sent; a duplicate (of a stored key, or of an
// earlier claim in the batch) is answered with the record that claimed it and skipped.
absl::Status ClaimIdempotencyKeys(BatchRunner& run, absl::Span<const Mutation* const> batch,
                                  std::vector<MutationOutcome>& outcomes) {
  FirstClaims first_claim;
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::optional<IdempotencyRecord>& idem = batch[i]->idempotency;
    if (idem.has_value()) first_claim.emplace(Key{idem->tenant_id, idem->key}, i);
  }
  const std::set<Key> inserted = InsertKeys(run, batch, first_claim);
  const std::map<Key, IdempotencyRecord> stored = StoredKeys(run, first_claim, inserted);
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
  return absl::OkStatus();
}

// ---- (b) merging the rows of the mutations that are not duplicates ----------------------------

// A tenant and its system accounts (store_rules.h).
void MergeTenant(const TenantRecord& t, BatchRows& rows) {
  rows.tenants.id.AddText(t.tenant_id);
  rows.tenants.name.AddText(t.display_name);
  rows.tenants.unit.AddText(t.unit);
  rows.tenants.tz.AddText(t.timezone);
  rows.tenants.created.AddInt(t.created_at_us);
  for (AccountRecord& a : SystemAccountsOf(t)) {
    Key key{a.tenant_id, a.account_id};
    rows.accounts.emplace(std::move(key), std::move(a));
  }
}

// Accounts keep their first created_at and take the rest from the last write; teams take the
// last write; API keys keep their first record with the last revoked flag.
void MergeAccountTeamKey(const Mutation& m, BatchRows& rows) {
  if (m.account.has_value()) {
    Key key{m.account->tenant_id, m.account->account_id};
    auto [it, inserted] = rows.accounts.try_emplace(key, *m.account);
    if (!inserted) {
      const int64_t created = it->second.created_at_us;  // an update keeps created_at
      it->second = *m.account;
      it->second.created_at_us = created;
    }
  }
  if (m.team.has_value()) rows.teams[{m.team->tenant_id, m.team->team_id}] = *m.team;
  if (m.api_key.has_value()) {
    auto [it, inserted] = rows.api_keys.try_emplace(m.api_key->key_id, *m.api_key);
    if (!inserted) it->second.revoked = m.api_key->revoked;
  }
}

absl::Status MergeHoldsAndPeriods(const Mutation& m, BatchRows& rows) {
  for (const HoldRecord& h : m.holds) {
    // The holds table's CHECK (amount >= 0), for the open holds too: hold_batches stores them
    // encoded, where no CHECK can see them.
    if (h.amount < 0) return absl::InternalError("holds: check violation: amount >= 0");
    // A hold only ever closes, here as in the statement: a later record of it in the batch
    // moves its status on from open, and an open record after a closing one (a compaction
    // rewriting a hold whose capture is in flight) changes nothing.
    auto [it, inserted] = rows.holds.try_emplace({h.tenant_id, h.hold_id}, h);
    if (!inserted && it->second.status == HoldStatus::kOpen) it->second.status = h.status;
  }
  for (const HoldSegment& d : m.dropped_hold_segments) {
    rows.dropped_segments.emplace(d.tenant_id, d.segment);
  }
  for (const PeriodRecord& p : m.periods) {
    // Not merged: a second row for one (account, period) must fail the batch.
    rows.periods.tenant.AddText(p.tenant_id);
    rows.periods.account.AddText(p.account_id);
    rows.periods.start.AddInt(p.period_start_us);
    rows.periods.carried.AddInt(p.carried);
    rows.periods.expired.AddInt(p.expired);
    rows.periods.granted.AddInt(p.granted);
    rows.periods.created.AddInt(p.created_at_us);
  }
  return absl::OkStatus();
}

// Not merged: a second row for one (tenant, model, effective_at) must fail the batch.
void MergePrices(const Mutation& m, BatchRows& rows) {
  PriceColumns& pc = rows.prices;
  for (const PriceRecord& p : m.prices) {
    pc.tenant.AddText(p.tenant_id);
    pc.model.AddText(p.model);
    pc.effective_at.AddInt(p.effective_at_us);
    pc.input.AddInt(p.input_per_million);
    pc.output.AddInt(p.output_per_million);
    pc.cached_input.AddInt(p.cached_input_per_million);
    pc.created.AddInt(p.created_at_us);
  }
}

void AddOptionalInt(ArrayLiteral& column, const std::optional<int64_t>& v) {
  if (v.has_value()) {
    column.AddInt(*v);
  } else {
    column.AddNull();
  }
}

absl::Status MergeTransfers(const Mutation& m, BatchRows& rows) {
  TransferColumns& tc = rows.transfers;
  for (const TransferRecord& t : m.transfers) {
    if (!ApplyDebitSide(t, rows.deltas[{t.tenant_id, t.debit_account_id}]) ||
        !ApplyCreditSide(t, rows.deltas[{t.tenant_id, t.credit_account_id}])) {
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
    tc.metadata.AddText(MetadataJson(t.metadata));
    tc.memo.AddText(t.memo);
    tc.hold_id.AddText(t.hold_id);
    tc.idempotency_key.AddText(t.idempotency_key);
    if (t.usage.has_value()) {
      tc.input_tokens.AddInt(t.usage->input_tokens);
      tc.output_tokens.AddInt(t.usage->output_tokens);
      tc.cached_input_tokens.AddInt(t.usage->cached_input_tokens);
    } else {
      tc.input_tokens.AddNull();
      tc.output_tokens.AddNull();
      tc.cached_input_tokens.AddNull();
    }
    AddOptionalInt(tc.price_effective_at, t.price_effective_at_us);
    AddOptionalInt(tc.occurred_at, t.occurred_at_us);
  }
  for (const AuditRecord& a : m.audit) rows.audit.Add(a);
  return absl::OkStatus();
}

absl::Status MergeRows(absl::Span<const Mutation* const> batch,
                       const std::vector<MutationOutcome>& outcomes, BatchRows& rows) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!outcomes[i].committed) continue;
    const Mutation& m = *batch[i];
    if (m.tenant.has_value()) MergeTenant(*m.tenant, rows);
    MergeAccountTeamKey(m, rows);
    if (absl::Status s = MergeHoldsAndPeriods(m, rows); !s.ok()) return s;
    MergePrices(m, rows);
    if (absl::Status s = MergeTransfers(m, rows); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ---- (c) the statements, in the order they run -----------------------------------------------

void WriteTenants(BatchRunner& run, TenantColumns& t) {
  if (t.id.size() == 0) return;
  run.Exec0(kInsertTenants, std::move(t.id).Finish(), std::move(t.name).Finish(),
            std::move(t.unit).Finish(), std::move(t.tz).Finish(), std::move(t.created).Finish());
}

// The accounts, then a balance row for each (a new account starts with zero totals; an existing
// one keeps its row).
void WriteAccounts(BatchRunner& run, const std::map<Key, AccountRecord>& accounts) {
  if (accounts.empty()) return;
  ArrayLiteral tenant, id, name, team, has_policy, alloc, rollover, daily, overdraft, status,
      created, model_limits;
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
    model_limits.AddText(ModelLimitsJson(policy.model_limits));
  }
  // Copies for the balance rows: the account columns are consumed by the first statement.
  ArrayLiteral b_tenant, b_id;
  for (const auto& [key, a] : accounts) {
    b_tenant.AddText(key.first);
    b_id.AddText(key.second);
  }
  run.Exec0(kUpsertAccounts, std::move(tenant).Finish(), std::move(id).Finish(),
            std::move(name).Finish(), std::move(team).Finish(), std::move(has_policy).Finish(),
            std::move(alloc).Finish(), std::move(rollover).Finish(), std::move(daily).Finish(),
            std::move(overdraft).Finish(), std::move(status).Finish(), std::move(created).Finish(),
            std::move(model_limits).Finish());
  run.Exec0(kInsertBalanceRows, std::move(b_tenant).Finish(), std::move(b_id).Finish());
}

void WriteTeams(BatchRunner& run, const std::map<Key, TeamRecord>& teams) {
  if (teams.empty()) return;
  ArrayLiteral tenant, id, name, cap;
  for (const auto& [key, t] : teams) {
    tenant.AddText(t.tenant_id);
    id.AddText(t.team_id);
    name.AddText(t.display_name);
    cap.AddInt(t.monthly_cap);
  }
  run.Exec0(kUpsertTeams, std::move(tenant).Finish(), std::move(id).Finish(),
            std::move(name).Finish(), std::move(cap).Finish());
}

void WriteApiKeys(BatchRunner& run, const std::map<std::string, ApiKeyRecord>& api_keys) {
  if (api_keys.empty()) return;
  ArrayLiteral id, tenant, role, hash, created, revoked;
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

void DropHoldSegments(BatchRunner& run, const std::set<SegmentKey>& dropped) {
  if (dropped.empty()) return;
  ArrayLiteral tenant, segment;
  for (const auto& [tenant_id, seg] : dropped) {
    tenant.AddText(tenant_id);
    segment.AddInt(seg);
  }
  run.Exec0(kDropHoldSegments, std::move(tenant).Finish(), std::move(segment).Finish());
}

// Holds written open: one hold_batches row per tenant and segment. Returns how many holds that
// was.
size_t WriteOpenHolds(BatchRunner& run, const std::map<Key, HoldRecord>& holds) {
  std::map<SegmentKey, std::vector<const HoldRecord*>> opened;
  size_t open_count = 0;
  for (const auto& [key, h] : holds) {
    if (h.status != HoldStatus::kOpen) continue;
    opened[{h.tenant_id, h.segment}].push_back(&h);
    ++open_count;
  }
  if (opened.empty()) return open_count;
  ArrayLiteral tenant, segment, expires_max, encoded;
  for (const auto& [where, list] : opened) {
    int64_t latest = INT64_MIN;
    for (const HoldRecord* h : list) latest = std::max(latest, h->expires_at_us);
    tenant.AddText(where.first);
    segment.AddInt(where.second);
    expires_max.AddInt(latest);
    encoded.AddBytes(EncodeHolds(list));
  }
  run.Exec0(kInsertHoldBatches, std::move(tenant).Finish(), std::move(segment).Finish(),
            std::move(expires_max).Finish(), std::move(encoded).Finish());
  return open_count;
}

// Holds in any later state: a row of `holds` each.
void WriteClosedHolds(BatchRunner& run, const std::map<Key, HoldRecord>& holds) {
  ArrayLiteral tenant, id, account, amount, created, expires, status, idem, fingerprint, response,
      model;
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
    model.AddText(h.model);
  }
  run.Exec0(kUpsertHolds, std::move(tenant).Finish(), std::move(id).Finish(),
            std::move(account).Finish(), std::move(amount).Finish(), std::move(created).Finish(),
            std::move(expires).Finish(), std::move(status).Finish(), std::move(idem).Finish(),
            std::move(fingerprint).Finish(), std::move(response).Finish(),
            std::move(model).Finish());
}

void WritePrices(BatchRunner& run, PriceColumns& p) {
  if (p.tenant.size() == 0) return;
  run.Exec0(kInsertPrices, std::move(p.tenant).Finish(), std::move(p.model).Finish(),
            std::move(p.effective_at).Finish(), std::move(p.input).Finish(),
            std::move(p.output).Finish(), std::move(p.cached_input).Finish(),
            std::move(p.created).Finish());
}

void WritePeriods(BatchRunner& run, PeriodColumns& p) {
  if (p.tenant.size() == 0) return;
  run.Exec0(kInsertPeriods, std::move(p.tenant).Finish(), std::move(p.account).Finish(),
            std::move(p.start).Finish(), std::move(p.carried).Finish(),
            std::move(p.expired).Finish(), std::move(p.granted).Finish(),
            std::move(p.created).Finish());
}

void WriteTransfers(BatchRunner& run, TransferColumns& tc) {
  if (tc.tenant_id.size() == 0) return;
  run.Exec0(kInsertTransfers, std::move(tc.tenant_id).Finish(), std::move(tc.transfer_id).Finish(),
            std::move(tc.debit).Finish(), std::move(tc.credit).Finish(),
            std::move(tc.amount).Finish(), std::move(tc.kind).Finish(),
            std::move(tc.created_at).Finish(), std::move(tc.request_id).Finish(),
            std::move(tc.model).Finish(), std::move(tc.metadata).Finish(),
            std::move(tc.memo).Finish(), std::move(tc.hold_id).Finish(),
            std::move(tc.idempotency_key).Finish(), std::move(tc.input_tokens).Finish(),
            std::move(tc.output_tokens).Finish(), std::move(tc.cached_input_tokens).Finish(),
            std::move(tc.price_effective_at).Finish(), std::move(tc.occurred_at).Finish());
}

// One aggregated update per touched account.
void WriteBalances(BatchRunner& run, const std::map<Key, PostedTotals>& deltas) {
  if (deltas.empty()) return;
  // Rows in key order: concurrent writers (a second process) lock balance rows in one order.
  ArrayLiteral tenant, id, credits, debits, granted, spent, expired;
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

// The batch id (CommittedBatch) and, now and then, the prune of old batch ids and hold batches.
void WriteBatchId(BatchRunner& run, uint64_t batch_id, const std::optional<Prune>& prune) {
  run.Exec0(kInsertBatch, ToInt64(batch_id));
  if (prune.has_value()) {
    run.Exec0(kPruneBatches, absl::ToDoubleSeconds(prune->batch_ids_keep));
    run.Exec0(kPruneHoldBatches, prune->hold_batches_expired_before_us);
  }
}

}  // namespace

absl::Status WriteBatch(BatchRunner& run, absl::Span<const Mutation* const> batch,
                        uint64_t batch_id, std::optional<Prune> prune,
                        std::vector<MutationOutcome>& outcomes) {
  outcomes.assign(batch.size(), MutationOutcome{});
  if (absl::Status s = ClaimIdempotencyKeys(run, batch, outcomes); !s.ok()) return s;
  BatchRows rows;
  if (absl::Status s = MergeRows(batch, outcomes, rows); !s.ok()) return s;
  WriteTenants(run, rows.tenants);
  WriteAccounts(run, rows.accounts);
  WriteTeams(run, rows.teams);
  WriteApiKeys(run, rows.api_keys);
  WritePrices(run, rows.prices);
  DropHoldSegments(run, rows.dropped_segments);
  const size_t open_count = WriteOpenHolds(run, rows.holds);
  if (rows.holds.size() > open_count) WriteClosedHolds(run, rows.holds);
  WritePeriods(run, rows.periods);
  WriteTransfers(run, rows.transfers);
  WriteBalances(run, rows.deltas);
  // Last: an event references its tenant, which the batch may have just created.
  if (rows.audit.tenant_id.size() > 0) std::move(rows.audit).Insert(run);
  WriteBatchId(run, batch_id, prune);
  return absl::OkStatus();
}

}  // namespace pg_internal
}  // namespace tokenledger
