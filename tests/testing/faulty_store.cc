// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "testing/faulty_store.h"

namespace tokenledger {

FaultyStore::FaultyStore(LedgerStore* inner) : inner_(inner) {}

void FaultyStore::FailNextCommits(int n, absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_commits_ = n;
  fail_status_ = std::move(status);
}

void FaultyStore::CommitThenReportInDoubt(int n) {
  absl::MutexLock lock(&mu_);
  in_doubt_commits_ = n;
}

void FaultyStore::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

void FaultyStore::GoAwayAfterNextCommit() {
  absl::MutexLock lock(&mu_);
  go_away_after_commit_ = true;
}

int64_t FaultyStore::commit_calls() const {
  absl::MutexLock lock(&mu_);
  return commit_calls_;
}

int64_t FaultyStore::commits_forwarded() const {
  absl::MutexLock lock(&mu_);
  return commits_forwarded_;
}

absl::Status FaultyStore::Reachable() const {
  absl::MutexLock lock(&mu_);
  if (unavailable_) return absl::UnavailableError("store unavailable (injected)");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MutationOutcome>> FaultyStore::Commit(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  absl::StatusOr<std::vector<MutationOutcome>> result = CommitOnce(batch, batch_id);
  absl::MutexLock lock(&mu_);
  if (go_away_after_commit_) {
    go_away_after_commit_ = false;
    unavailable_ = true;
  }
  return result;
}

absl::StatusOr<std::vector<MutationOutcome>> FaultyStore::CommitOnce(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  bool in_doubt = false;
  {
    // Decide under the lock, commit outside it: the inner store may be slow.
    absl::MutexLock lock(&mu_);
    ++commit_calls_;
    if (unavailable_) return absl::UnavailableError("store unavailable (injected)");
    if (fail_commits_ > 0) {
      --fail_commits_;
      // An OK status would claim a commit that did not happen: make it an error.
      if (fail_status_.ok()) return absl::InternalError("commit failed (injected)");
      return fail_status_;
    }
    if (in_doubt_commits_ > 0) {
      --in_doubt_commits_;
      in_doubt = true;
    }
    ++commits_forwarded_;
  }
  absl::StatusOr<std::vector<MutationOutcome>> result = inner_->Commit(batch, batch_id);
  if (in_doubt && result.ok()) return absl::UnknownError("commit in doubt");
  return result;
}

absl::StatusOr<bool> FaultyStore::CommittedBatch(uint64_t batch_id) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->CommittedBatch(batch_id);
}

absl::StatusOr<Snapshot> FaultyStore::Load() {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->Load();
}

absl::StatusOr<std::vector<TransferRecord>> FaultyStore::ListTransfers(const TransferQuery& q) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->ListTransfers(q);
}

absl::StatusOr<std::optional<IdempotencyRecord>> FaultyStore::GetIdempotency(
    const std::string& tenant_id, const std::string& key) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->GetIdempotency(tenant_id, key);
}

absl::StatusOr<std::optional<HoldRecord>> FaultyStore::GetHold(const std::string& tenant_id,
                                                               const std::string& hold_id) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->GetHold(tenant_id, hold_id);
}

absl::StatusOr<ReconcileData> FaultyStore::Recompute(const std::string& tenant_id) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->Recompute(tenant_id);
}

absl::StatusOr<std::vector<UsageSums>> FaultyStore::SumUsage(const std::string& tenant_id,
                                                             int64_t period_start_us,
                                                             int64_t day_start_us) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->SumUsage(tenant_id, period_start_us, day_start_us);
}

absl::Status FaultyStore::RepairBalances(
    const std::string& tenant_id, const std::vector<std::pair<std::string, PostedTotals>>& totals,
    const AuditRecord& audit) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->RepairBalances(tenant_id, totals, audit);
}

absl::StatusOr<std::vector<AuditRecord>> FaultyStore::ListAudit(const AuditQuery& q) {
  if (absl::Status s = Reachable(); !s.ok()) return s;
  return inner_->ListAudit(q);
}

}  // namespace tokenledger
