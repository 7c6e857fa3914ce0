// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore as a LeaseStore (lease.h): this process's fences, the fence plan of a batch (checked
// by Commit, pg_commit.cc), and the lease statements, which run on the read connections.
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "postgres/pg_conn.h"
#include "postgres/pg_encode.h"
#include "postgres/pg_rows.h"
#include "postgres/pg_sql_leases.h"
#include "postgres/pg_sql_load.h"
#include "postgres/pg_store.h"

namespace tokenledger {

using pg_internal::ApiKeyFromRow;
using pg_internal::ArrayLiteral;
using pg_internal::kClaimLeasesSql;
using pg_internal::kListLeasesSql;
using pg_internal::kLoadApiKeysSql;
using pg_internal::kReleaseLeasesSql;
using pg_internal::LeaseFromRow;

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
  ArrayLiteral tenants, epochs, new_tenants;
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

}  // namespace tokenledger
