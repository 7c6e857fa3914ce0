// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "store/memory_store.h"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

using Key = std::pair<std::string, std::string>;

absl::Status CheckText(absl::string_view field, absl::string_view value) {
  // libpq passes text as C strings and PostgreSQL text holds no NUL: a NUL would truncate the
  // value silently, so it is refused instead.
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains a NUL byte"));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
  }
  return absl::OkStatus();
}

// The errors PgStore reports for constraint violations (its SQL error mapping): unique
// violations are kAlreadyExists, everything else kInternal.
absl::Status ForeignKeyViolation(absl::string_view table, absl::string_view what) {
  return absl::InternalError(absl::StrCat(table, ": foreign key violation: ", what));
}
absl::Status CheckViolation(absl::string_view table, absl::string_view what) {
  return absl::InternalError(absl::StrCat(table, ": check violation: ", what));
}
absl::Status UniqueViolation(absl::string_view table, absl::string_view what) {
  return absl::AlreadyExistsError(absl::StrCat(table, ": duplicate key: ", what));
}

std::string Quoted(absl::string_view a, absl::string_view b) {
  return absl::StrCat("(\"", a, "\", \"", b, "\")");
}

bool ValidPolicy(const std::optional<Policy>& p) {
  return !p.has_value() || (p->monthly_allocation >= 0 && p->rollover_max >= 0 &&
                            p->daily_limit >= 0 && p->overdraft_limit >= 0);
}

bool AddTotals(const PostedTotals& a, const PostedTotals& b, PostedTotals& out) {
  return CheckedAdd(a.credits, b.credits, out.credits) &&
         CheckedAdd(a.debits, b.debits, out.debits) &&
         CheckedAdd(a.granted, b.granted, out.granted) && CheckedAdd(a.spent, b.spent, out.spent) &&
         CheckedAdd(a.expired, b.expired, out.expired);
}

}  // namespace

absl::Status CheckStorableText(const Mutation& m) {
  absl::Status status;
  // Keeps the first error only: the message names one field.
  auto check = [&status](absl::string_view field, absl::string_view value) {
    if (status.ok()) status = CheckText(field, value);
  };
  if (m.idempotency.has_value()) {
    check("idempotency.tenant_id", m.idempotency->tenant_id);
    check("idempotency.key", m.idempotency->key);
    // The response is bytea: any bytes.
  }
  for (const TransferRecord& t : m.transfers) {
    check("transfer.tenant_id", t.tenant_id);
    check("transfer.transfer_id", t.transfer_id);
    check("transfer.debit_account_id", t.debit_account_id);
    check("transfer.credit_account_id", t.credit_account_id);
    check("transfer.request_id", t.request_id);
    check("transfer.model", t.model);
    check("transfer.memo", t.memo);
    check("transfer.hold_id", t.hold_id);
    check("transfer.idempotency_key", t.idempotency_key);
    for (const auto& [k, v] : t.metadata) {
      check("transfer.metadata key", k);
      check("transfer.metadata value", v);
    }
  }
  for (const HoldRecord& h : m.holds) {
    check("hold.tenant_id", h.tenant_id);
    check("hold.hold_id", h.hold_id);
    check("hold.account_id", h.account_id);
    check("hold.idempotency_key", h.idempotency_key);
  }
  for (const HoldSegment& d : m.dropped_hold_segments) {
    check("dropped segment.tenant_id", d.tenant_id);
  }
  for (const PeriodRecord& p : m.periods) {
    check("period.tenant_id", p.tenant_id);
    check("period.account_id", p.account_id);
  }
  for (const AuditRecord& a : m.audit) {
    check("audit.tenant_id", a.tenant_id);
    check("audit.actor_key_id", a.actor_key_id);
    check("audit.action", a.action);
    check("audit.target", a.target);
    check("audit.detail", a.detail);
  }
  if (m.tenant.has_value()) {
    check("tenant.tenant_id", m.tenant->tenant_id);
    check("tenant.display_name", m.tenant->display_name);
    check("tenant.unit", m.tenant->unit);
    check("tenant.timezone", m.tenant->timezone);
  }
  if (m.account.has_value()) {
    check("account.tenant_id", m.account->tenant_id);
    check("account.account_id", m.account->account_id);
    check("account.display_name", m.account->display_name);
    check("account.team_id", m.account->team_id);
  }
  if (m.team.has_value()) {
    check("team.tenant_id", m.team->tenant_id);
    check("team.team_id", m.team->team_id);
    check("team.display_name", m.team->display_name);
  }
  if (m.api_key.has_value()) {
    check("api_key.key_id", m.api_key->key_id);
    check("api_key.tenant_id", m.api_key->tenant_id);
    check("api_key.key_hash", m.api_key->key_hash);
  }
  return status;
}

void AddPeriodProblems(const std::string& account_id, const PeriodGroup& group,
                       int64_t found_expired, int64_t found_granted,
                       std::vector<ReconcileData::PeriodProblem>& out) {
  if (found_expired != group.expired) {
    out.push_back({account_id, group.last_start, "expired", group.expired, found_expired});
  }
  if (found_granted != group.granted) {
    out.push_back({account_id, group.last_start, "granted", group.granted, found_granted});
  }
}

void SortPeriodProblems(std::vector<ReconcileData::PeriodProblem>& problems) {
  std::sort(problems.begin(), problems.end(),
            [](const ReconcileData::PeriodProblem& a, const ReconcileData::PeriodProblem& b) {
              return std::tie(a.account_id, a.period_start_us, a.field) <
                     std::tie(b.account_id, b.period_start_us, b.field);
            });
}

Metadata NormalizeMetadata(const Metadata& metadata) {
  // std::string compares as unsigned char, the bytewise order PostgreSQL's "C" collation uses.
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : metadata) sorted[k] = v;
  return Metadata(sorted.begin(), sorted.end());
}

absl::StatusOr<std::vector<MutationOutcome>> MemoryStore::Commit(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  for (const Mutation* m : batch) {
    if (m == nullptr) return absl::InvalidArgumentError("batch holds a null mutation");
    if (absl::Status s = CheckStorableText(*m); !s.ok()) return s;
  }

  absl::MutexLock lock(&mu_);
  // Phase 0: idempotency. A key already stored, or claimed earlier in this batch, makes its
  // mutation a duplicate that is skipped entirely.
  std::vector<MutationOutcome> outcomes(batch.size());
  std::map<Key, const IdempotencyRecord*> new_keys;  // first claim in the batch
  std::vector<const Mutation*> live;
  live.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Mutation& m = *batch[i];
    if (m.idempotency.has_value()) {
      Key key{m.idempotency->tenant_id, m.idempotency->key};
      if (auto it = idempotency_.find(key); it != idempotency_.end()) {
        outcomes[i].committed = false;
        outcomes[i].existing = it->second;
        continue;
      }
      if (auto it = new_keys.find(key); it != new_keys.end()) {
        outcomes[i].committed = false;
        outcomes[i].existing = *it->second;
        continue;
      }
      new_keys.emplace(std::move(key), &*m.idempotency);
    }
    live.push_back(&m);
  }

  // Phase 1: check every constraint and stage the final value of every row written, without
  // touching the state, so that a failure leaves nothing behind (all or nothing).
  std::map<std::string, TenantRecord> tenant_writes;
  std::map<Key, AccountRecord> account_writes;
  std::map<Key, TeamRecord> team_writes;
  std::map<std::string, ApiKeyRecord> key_writes;
  std::set<std::string> new_hashes;
  std::map<Key, HoldRecord> hold_writes;
  std::map<PeriodKey, PeriodRecord> new_periods;
  std::vector<TransferRecord> new_transfers;
  std::set<Key> new_transfer_ids;
  std::map<Key, PostedTotals> balance_writes;  // final totals of every balance row written

  auto tenant_exists = [&](const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return tenants_.contains(id) || tenant_writes.contains(id);
  };
  auto account_exists = [&](const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return accounts_.contains(key) || account_writes.contains(key);
  };

  // Tenants, each with its system accounts and their zero balances.
  for (const Mutation* m : live) {
    if (!m->tenant.has_value()) continue;
    const TenantRecord& t = *m->tenant;
    if (tenant_exists(t.tenant_id)) {
      return UniqueViolation("tenants", absl::StrCat("tenant_id \"", t.tenant_id, "\""));
    }
    tenant_writes[t.tenant_id] = t;
    for (absl::string_view sys : kSystemAccounts) {
      AccountRecord a;
      a.tenant_id = t.tenant_id;
      a.account_id = std::string(sys);
      a.display_name = std::string(sys);
      a.created_at_us = t.created_at_us;
      Key key{t.tenant_id, a.account_id};
      account_writes[key] = std::move(a);
      balance_writes[key] = PostedTotals{};
    }
  }

  // Accounts: upserted. A row written twice keeps its first created_at (an update never changes
  // it) and takes everything else from the last write, as PgStore's in-batch dedupe does.
  for (const Mutation* m : live) {
    if (!m->account.has_value()) continue;
    const AccountRecord& a = *m->account;
    Key key{a.tenant_id, a.account_id};
    if (!ValidPolicy(a.policy)) return CheckViolation("accounts", "negative policy value");
    if (a.status < AccountStatus::kActive || a.status > AccountStatus::kClosed) {
      return CheckViolation("accounts", "status out of range");
    }
    if (!tenant_exists(a.tenant_id)) {
      return ForeignKeyViolation("accounts", absl::StrCat("no tenant \"", a.tenant_id, "\""));
    }
    AccountRecord rec = a;
    if (auto it = account_writes.find(key); it != account_writes.end()) {
      rec.created_at_us = it->second.created_at_us;
    } else if (auto it = accounts_.find(key); it != accounts_.end()) {
      rec.created_at_us = it->second.created_at_us;
    }
    if (!balances_.contains(key) && !balance_writes.contains(key)) {
      balance_writes[key] = PostedTotals{};
    }
    account_writes[key] = std::move(rec);
  }

  // Teams: upserted, the last write wins.
  for (const Mutation* m : live) {
    if (!m->team.has_value()) continue;
    const TeamRecord& t = *m->team;
    if (t.monthly_cap < 0) return CheckViolation("teams", "negative monthly_cap");
    if (!tenant_exists(t.tenant_id)) {
      return ForeignKeyViolation("teams", absl::StrCat("no tenant \"", t.tenant_id, "\""));
    }
    team_writes[{t.tenant_id, t.team_id}] = t;
  }

  // API keys: inserted; a key_id that exists only has its revoked flag updated.
  for (const Mutation* m : live) {
    if (!m->api_key.has_value()) continue;
    const ApiKeyRecord& k = *m->api_key;
    if (k.role < Role::kOperator || k.role > Role::kAuditor ||
        (k.role == Role::kOperator) != k.tenant_id.empty()) {
      return CheckViolation("api_keys", "role and tenant_id do not match");
    }
    if (auto it = key_writes.find(k.key_id); it != key_writes.end()) {
      it->second.revoked = k.revoked;
      continue;
    }
    if (auto it = api_keys_.find(k.key_id); it != api_keys_.end()) {
      ApiKeyRecord rec = it->second;
      rec.revoked = k.revoked;
      key_writes[k.key_id] = std::move(rec);
      continue;
    }
    if (!k.tenant_id.empty() && !tenant_exists(k.tenant_id)) {
      return ForeignKeyViolation("api_keys", absl::StrCat("no tenant \"", k.tenant_id, "\""));
    }
    if (key_hashes_.contains(k.key_hash) || !new_hashes.insert(k.key_hash).second) {
      return UniqueViolation("api_keys", "key_hash");
    }
    key_writes[k.key_id] = k;
  }

  // Holds: inserted; a hold_id that exists only has its status updated.
  for (const Mutation* m : live) {
    for (const HoldRecord& h : m->holds) {
      if (h.amount <= 0) return CheckViolation("holds", "amount > 0");
      if (h.status < HoldStatus::kOpen || h.status > HoldStatus::kExpired) {
        return CheckViolation("holds", "status out of range");
      }
      Key key{h.tenant_id, h.hold_id};
      // A hold only ever closes (like PgStore's WHERE status = 1): a late creation record, or a
      // compaction's rewrite, does not reopen a hold whose capture committed first. An open
      // hold's record written again (its segment compacted) replaces the one before, as in
      // PgStore, where the old segment's row is deleted in the same commit.
      auto close_or_move = [&h](HoldRecord& rec) {
        if (rec.status != HoldStatus::kOpen) return;
        if (h.status == HoldStatus::kOpen) {
          rec = h;
        } else {
          rec.status = h.status;
        }
      };
      if (auto it = hold_writes.find(key); it != hold_writes.end()) {
        close_or_move(it->second);
        continue;
      }
      if (auto it = holds_.find(key); it != holds_.end()) {
        HoldRecord rec = it->second;
        close_or_move(rec);
        hold_writes[key] = std::move(rec);
        continue;
      }
      if (!account_exists({h.tenant_id, h.account_id})) {
        return ForeignKeyViolation("holds",
                                   absl::StrCat("no account ", Quoted(h.tenant_id, h.account_id)));
      }
      hold_writes[key] = h;
    }
  }

  // Periods: inserted; an (account, period) that exists fails the batch (the exactly-once guard
  // of resets).
  for (const Mutation* m : live) {
    for (const PeriodRecord& p : m->periods) {
      if (p.expired < 0 || p.granted < 0) {
        return CheckViolation("periods", "expired >= 0 AND granted >= 0");
      }
      if (!account_exists({p.tenant_id, p.account_id})) {
        return ForeignKeyViolation("periods",
                                   absl::StrCat("no account ", Quoted(p.tenant_id, p.account_id)));
      }
      PeriodKey key{{p.tenant_id, p.account_id}, p.period_start_us};
      if (periods_.contains(key) || !new_periods.emplace(key, p).second) {
        return UniqueViolation("periods", absl::StrCat("period ", p.period_start_us, " of ",
                                                       Quoted(p.tenant_id, p.account_id)));
      }
    }
  }

  // Transfers, appended in batch order with increasing seq; balance deltas summed per account
  // first and then added to the stored totals, as PgStore's one aggregated update does.
  int64_t seq = next_seq_;
  std::map<Key, PostedTotals> deltas;
  for (const Mutation* m : live) {
    for (const TransferRecord& t : m->transfers) {
      if (t.amount <= 0) return CheckViolation("transfers", "amount > 0");
      if (t.debit_account_id == t.credit_account_id) {
        return CheckViolation("transfers", "debit_account_id <> credit_account_id");
      }
      if (t.kind < TransferKind::kGrant || t.kind > TransferKind::kAdjustment) {
        return CheckViolation("transfers", "kind out of range");
      }
      Key debit{t.tenant_id, t.debit_account_id};
      Key credit{t.tenant_id, t.credit_account_id};
      if (!account_exists(debit)) {
        return ForeignKeyViolation(
            "transfers", absl::StrCat("no debit account ", Quoted(debit.first, debit.second)));
      }
      if (!account_exists(credit)) {
        return ForeignKeyViolation(
            "transfers", absl::StrCat("no credit account ", Quoted(credit.first, credit.second)));
      }
      Key id{t.tenant_id, t.transfer_id};
      if (transfer_ids_.contains(id) || !new_transfer_ids.insert(id).second) {
        return UniqueViolation("transfers",
                               absl::StrCat("transfer_id ", Quoted(id.first, id.second)));
      }
      if (!ApplyDebitSide(t, deltas[debit]) || !ApplyCreditSide(t, deltas[credit])) {
        return absl::InternalError("transfers: balance delta out of range for bigint");
      }
      TransferRecord rec = t;
      rec.seq = seq++;
      rec.metadata = NormalizeMetadata(t.metadata);
      new_transfers.push_back(std::move(rec));
    }
  }
  for (const auto& [key, delta] : deltas) {
    PostedTotals base;
    if (auto it = balance_writes.find(key); it != balance_writes.end()) {
      base = it->second;
    } else if (auto it = balances_.find(key); it != balances_.end()) {
      base = it->second;
    }
    PostedTotals sum;
    if (!AddTotals(base, delta, sum)) {
      return absl::InternalError("balances: bigint out of range");
    }
    balance_writes[key] = sum;
  }

  if (batches_.contains(batch_id)) {
    return UniqueViolation("commit_batches", absl::StrCat("batch_id ", batch_id));
  }

  // Phase 2: apply. Nothing here can fail.
  for (auto& [id, t] : tenant_writes) tenants_[id] = std::move(t);
  for (auto& [key, a] : account_writes) accounts_[key] = std::move(a);
  for (auto& [key, t] : team_writes) teams_[key] = std::move(t);
  for (auto& [id, k] : key_writes) api_keys_[id] = std::move(k);
  key_hashes_.insert(new_hashes.begin(), new_hashes.end());
  // Dropping a segment deletes its records of holds still open there (PgStore: the segment's
  // hold_batches rows); a hold's later state is a record of its own and stays.
  for (const Mutation* m : live) {
    for (const HoldSegment& d : m->dropped_hold_segments) {
      if (d.segment == 0) continue;
      hold_segments_.erase({d.tenant_id, d.segment});
      for (auto it = holds_.lower_bound({d.tenant_id, ""});
           it != holds_.end() && it->first.first == d.tenant_id;) {
        if (it->second.status == HoldStatus::kOpen && it->second.segment == d.segment) {
          it = holds_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  for (auto& [key, h] : hold_writes) {
    if (h.status == HoldStatus::kOpen && h.segment != 0) {
      hold_segments_.emplace(h.tenant_id, h.segment);
    }
    holds_[key] = std::move(h);
  }
  for (auto& [key, p] : new_periods) periods_[key] = std::move(p);
  for (TransferRecord& t : new_transfers) {
    const size_t pos = transfers_.size();
    transfer_ids_.insert({t.tenant_id, t.transfer_id});
    transfers_by_account_[{t.tenant_id, t.debit_account_id}].push_back(pos);
    transfers_by_account_[{t.tenant_id, t.credit_account_id}].push_back(pos);
    transfers_.push_back(std::move(t));
  }
  next_seq_ = seq;
  for (const Mutation* m : live) {
    for (const AuditRecord& a : m->audit) AppendAuditLocked(a);
  }
  for (auto& [key, totals] : balance_writes) balances_[key] = totals;
  for (auto& [key, rec] : new_keys) idempotency_[key] = *rec;
  batches_.insert(batch_id);
  return outcomes;
}

absl::StatusOr<bool> MemoryStore::CommittedBatch(uint64_t batch_id) {
  absl::MutexLock lock(&mu_);
  return batches_.contains(batch_id);
}

absl::StatusOr<Snapshot> MemoryStore::Load() {
  absl::MutexLock lock(&mu_);
  Snapshot s;
  for (const auto& [id, t] : tenants_) s.tenants.push_back(t);
  for (const auto& [id, k] : api_keys_) s.api_keys.push_back(k);
  for (const auto& [key, t] : teams_) s.teams.push_back(t);
  for (const auto& [key, a] : accounts_) {
    Snapshot::AccountBalance ab;
    ab.account = a;
    if (auto it = balances_.find(key); it != balances_.end()) ab.posted = it->second;
    s.accounts.push_back(std::move(ab));
  }
  for (const auto& [key, h] : holds_) s.holds.push_back(h);
  std::map<std::pair<std::string, int64_t>, int64_t> records;
  for (const auto& [key, h] : holds_) {
    if (h.segment != 0) ++records[{h.tenant_id, h.segment}];
  }
  for (const auto& [tenant_id, segment] : hold_segments_) {
    auto it = records.find({tenant_id, segment});
    s.hold_segments.push_back(
        HoldSegment{tenant_id, segment, it == records.end() ? 0 : it->second});
  }
  for (const auto& [key, rec] : idempotency_) s.idempotency.push_back(rec);
  // periods_ is ordered by (tenant, account, period_start): the last row of each account is its
  // latest reset.
  for (auto it = periods_.begin(); it != periods_.end(); ++it) {
    auto next = std::next(it);
    if (next == periods_.end() || next->first.first != it->first.first) {
      s.last_periods.push_back(it->second);
    }
  }
  return s;
}

absl::StatusOr<std::vector<TransferRecord>> MemoryStore::ListTransfers(const TransferQuery& q) {
  if (q.limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  const size_t limit = static_cast<size_t>(std::min(q.limit, kListTransfersMax));
  absl::MutexLock lock(&mu_);
  std::vector<TransferRecord> out;
  auto it = transfers_by_account_.find({q.tenant_id, q.account_id});
  if (it == transfers_by_account_.end()) return out;
  const std::vector<size_t>& positions = it->second;
  // Positions ascend with seq: binary-search the first one at or past before_seq, so that a
  // deep page does not walk the newer transfers.
  size_t lo = 0;
  size_t hi = positions.size();
  while (q.before_seq != 0 && lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (transfers_[positions[mid]].seq < q.before_seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const auto end = q.before_seq != 0 ? positions.begin() + lo : positions.end();
  for (auto rit = std::make_reverse_iterator(end); rit != positions.rend() && out.size() < limit;
       ++rit) {
    const TransferRecord& t = transfers_[*rit];
    if (q.since_us != 0 && t.created_at_us < q.since_us) continue;
    if (q.until_us != 0 && t.created_at_us >= q.until_us) continue;
    out.push_back(t);
  }
  return out;
}

absl::StatusOr<std::optional<IdempotencyRecord>> MemoryStore::GetIdempotency(
    const std::string& tenant_id, const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = idempotency_.find({tenant_id, key});
  if (it == idempotency_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<HoldRecord>> MemoryStore::GetHold(const std::string& tenant_id,
                                                               const std::string& hold_id) {
  absl::MutexLock lock(&mu_);
  auto it = holds_.find({tenant_id, hold_id});
  if (it == holds_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ReconcileData> MemoryStore::Recompute(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, ReconcileData::Row> rows;
  for (auto it = accounts_.lower_bound({tenant_id, ""});
       it != accounts_.end() && it->first.first == tenant_id; ++it) {
    ReconcileData::Row& row = rows[it->first.second];
    row.account_id = it->first.second;
    if (auto b = balances_.find(it->first); b != balances_.end()) row.stored = b->second;
  }
  ReconcileData data;
  // RESET_EXPIRE debits and RESET_GRANT credits per (account, created_at), for the period checks.
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>> resets;
  for (const TransferRecord& t : transfers_) {
    if (t.tenant_id != tenant_id) continue;
    ++data.transfers_checked;
    if (t.kind == TransferKind::kResetExpire) {
      int64_t& sum = resets[{t.debit_account_id, t.created_at_us}].first;
      if (!CheckedAdd(sum, t.amount, sum)) {
        return absl::InternalError("recompute: sum out of range for bigint");
      }
    } else if (t.kind == TransferKind::kResetGrant) {
      int64_t& sum = resets[{t.credit_account_id, t.created_at_us}].second;
      if (!CheckedAdd(sum, t.amount, sum)) {
        return absl::InternalError("recompute: sum out of range for bigint");
      }
    }
    ReconcileData::Row& debit = rows[t.debit_account_id];
    debit.account_id = t.debit_account_id;
    ReconcileData::Row& credit = rows[t.credit_account_id];
    credit.account_id = t.credit_account_id;
    if (!ApplyDebitSide(t, debit.recomputed) || !ApplyCreditSide(t, credit.recomputed)) {
      return absl::InternalError("recompute: sum out of range for bigint");
    }
  }
  for (auto it = holds_.lower_bound({tenant_id, ""});
       it != holds_.end() && it->first.first == tenant_id; ++it) {
    const HoldRecord& h = it->second;
    if (h.status != HoldStatus::kOpen) continue;
    ReconcileData::Row& row = rows[h.account_id];
    row.account_id = h.account_id;
    if (!CheckedAdd(row.open_held, h.amount, row.open_held)) {
      return absl::InternalError("recompute: open holds out of range for bigint");
    }
  }
  // Summed wide: per-account differences can exceed int64 on the way even when the total is 0.
  __int128 sum = 0;
  for (auto& [id, row] : rows) {
    sum += static_cast<__int128>(row.recomputed.credits) - row.recomputed.debits;
    data.rows.push_back(std::move(row));
  }
  if (sum > INT64_MAX || sum < INT64_MIN) {
    return absl::InternalError("recompute: ledger sum out of range for bigint");
  }
  data.ledger_sum = static_cast<int64_t>(sum);
  // Period rows, grouped like the reset transfers: by (account, created_at).
  std::map<std::pair<std::string, int64_t>, PeriodGroup> groups;
  for (auto it = periods_.lower_bound({{tenant_id, ""}, INT64_MIN});
       it != periods_.end() && it->first.first.first == tenant_id; ++it) {
    const PeriodRecord& p = it->second;
    ++data.periods_checked;
    PeriodGroup& g = groups[{p.account_id, p.created_at_us}];
    g.last_start = g.rows == 0 ? p.period_start_us : std::max(g.last_start, p.period_start_us);
    ++g.rows;
    if (!CheckedAdd(g.expired, p.expired, g.expired) ||
        !CheckedAdd(g.granted, p.granted, g.granted)) {
      return absl::InternalError("recompute: period sums out of range for bigint");
    }
  }
  for (const auto& [key, g] : groups) {
    auto found = resets.find(key);
    const std::pair<int64_t, int64_t> sums =
        found == resets.end() ? std::pair<int64_t, int64_t>{0, 0} : found->second;
    AddPeriodProblems(key.first, g, sums.first, sums.second, data.period_problems);
  }
  SortPeriodProblems(data.period_problems);
  return data;
}

absl::StatusOr<std::vector<UsageSums>> MemoryStore::SumUsage(const std::string& tenant_id,
                                                             int64_t period_start_us,
                                                             int64_t day_start_us) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, UsageSums> sums;
  for (const TransferRecord& t : transfers_) {
    if (t.tenant_id != tenant_id || t.kind != TransferKind::kUsage) continue;
    const bool in_period = t.created_at_us >= period_start_us;
    const bool in_day = t.created_at_us >= day_start_us;
    if (!in_period && !in_day) continue;
    UsageSums& u = sums[t.debit_account_id];
    u.account_id = t.debit_account_id;
    if ((in_period && !CheckedAdd(u.period_spent, t.amount, u.period_spent)) ||
        (in_day && !CheckedAdd(u.day_spent, t.amount, u.day_spent))) {
      return absl::InternalError("sum usage: out of range for bigint");
    }
  }
  std::vector<UsageSums> out;
  out.reserve(sums.size());
  for (auto& [id, u] : sums) out.push_back(std::move(u));
  return out;
}

absl::Status MemoryStore::RepairBalances(
    const std::string& tenant_id, const std::vector<std::pair<std::string, PostedTotals>>& totals,
    const AuditRecord& audit) {
  absl::MutexLock lock(&mu_);
  // All or nothing: check every row before writing any.
  for (const auto& [account_id, t] : totals) {
    if (!accounts_.contains({tenant_id, account_id})) {
      return ForeignKeyViolation("balances",
                                 absl::StrCat("no account ", Quoted(tenant_id, account_id)));
    }
  }
  for (const auto& [account_id, t] : totals) balances_[{tenant_id, account_id}] = t;
  AppendAuditLocked(audit);
  return absl::OkStatus();
}

void MemoryStore::AppendAuditLocked(const AuditRecord& a) {
  AuditRecord rec = a;
  rec.seq = static_cast<int64_t>(audit_.size()) + 1;
  audit_.push_back(std::move(rec));
}

absl::StatusOr<std::vector<AuditRecord>> MemoryStore::ListAudit(const AuditQuery& q) {
  absl::MutexLock lock(&mu_);
  std::vector<AuditRecord> out;
  for (auto it = audit_.rbegin(); it != audit_.rend() && out.size() < static_cast<size_t>(q.limit);
       ++it) {
    if (it->tenant_id != q.tenant_id) continue;
    if (q.before_seq != 0 && it->seq >= q.before_seq) continue;
    out.push_back(*it);
  }
  return out;
}

void MemoryStore::CorruptBalanceForTest(const std::string& tenant_id, const std::string& account_id,
                                        const PostedTotals& totals) {
  absl::MutexLock lock(&mu_);
  balances_[{tenant_id, account_id}] = totals;
}

size_t MemoryStore::transfer_count() const {
  absl::MutexLock lock(&mu_);
  return transfers_.size();
}

}  // namespace tokenledger
