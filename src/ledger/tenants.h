// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The tenants this process serves: a registry from tenant id to its TenantState, the platform
// scope (the idempotency scope of operator calls, tenant id ""), and the creation of tenants
// (CreateTenant, an operator call through the journal).
//
// Thread-safe. The registry's lock is the first in the engine's lock order: it may be taken
// under the platform's TenantState::mu (CreateTenant), and nothing is locked under it. A
// TenantState found stays valid after the tenant is dropped (shared ownership): calls in flight
// finish against it, and their commits are refused by fencing.
#ifndef TOKENLEDGER_LEDGER_TENANTS_H_
#define TOKENLEDGER_LEDGER_TENANTS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"
#include "ledger/tenant_state.h"
#include "tokenledger/types.h"

namespace tokenledger {

struct LedgerContext;

class TenantRegistry {
 public:
  using TenantMap = absl::flat_hash_map<std::string, std::shared_ptr<TenantState>>;

  // Each tenant's key cache keeps `idempotency_keys_max` keys.
  explicit TenantRegistry(size_t idempotency_keys_max);

  // A fresh state for `record` (its system accounts included, unless it is the platform).
  std::shared_ptr<TenantState> NewTenantState(const TenantRecord& record) const;

  // The tenant's state, the platform's for "", or null when not served. On the hot path: inline.
  std::shared_ptr<TenantState> Find(const std::string& tenant_id) const {
    if (tenant_id.empty()) return platform_;
    absl::ReaderMutexLock lock(&mu_);
    auto it = tenants_.find(tenant_id);
    return it == tenants_.end() ? nullptr : it->second;
  }
  const std::shared_ptr<TenantState>& platform() const { return platform_; }
  // Every served tenant (the platform excluded), to visit without the registry's lock.
  std::vector<std::shared_ptr<TenantState>> All() const;
  std::vector<std::string> Ids() const;

  // Serve exactly `tenants` (Load), or these too, replacing what was served of them.
  void ReplaceAll(TenantMap tenants);
  void Merge(TenantMap tenants);
  // Stops serving the tenant; its state is destroyed once the last call holding it is done.
  void Drop(const std::string& tenant_id);

  // A creation reserves its id until it commits (Add) or fails (Abandon): false when the
  // tenant exists or another creation of it is under way.
  bool ReserveNew(const std::string& tenant_id);
  void AddNew(const TenantRecord& record);
  void AbandonNew(const std::string& tenant_id);

 private:
  const size_t idempotency_keys_max_;
  mutable absl::Mutex mu_;
  TenantMap tenants_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  const std::shared_ptr<TenantState> platform_;  // idempotency scope of operator calls
};

// Creates a tenant (an operator call, idempotent in the platform scope); answers once it is
// committed, and serves it from then on. kInvalidArgument for a bad id, unit or time zone,
// kAlreadyExists when the tenant exists.
void CreateTenant(LedgerContext& cx, TenantRecord tenant, const IdemArgs& idem,
                  ResultCallback done);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_TENANTS_H_
