// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// FakeLeaseStore: an in-memory LeaseStore with the behaviour lease.h promises (PgStore's, without
// a database), for tests of what drives leases (ownership, routing) and of the lease contract
// itself. Several processes are modelled by several FakeLeaseStores sharing one FakeLeaseTable
// (the tenant_leases and tenants tables): each has its own owner and fences, as each process has.
//
// Leases expire on the given Clock (a ManualClock lets a test pass the TTL without waiting). A
// lease that changes owner gets epoch + 1; a new incarnation of the same node (owner ids
// "node/incarnation") takes its node's leases at once, as PgStore's claim does.
//
// Fencing: CheckFences(batch) answers what PgStore's Commit would for fencing alone (kAborted
// "lease lost" when a tenant of the batch has no fence here or its lease moved on), and leases a
// tenant the batch creates to this owner at epoch 1 (RecordCreatedTenants).
//
// Errors: ClaimLeases without EnableFencing is kFailedPrecondition. Thread-safe.
#ifndef TOKENLEDGER_TESTING_FAKE_LEASE_STORE_H_
#define TOKENLEDGER_TESTING_FAKE_LEASE_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "tokenledger/clock.h"
#include "tokenledger/lease.h"
#include "tokenledger/store.h"

namespace tokenledger {

// The durable side shared by every fake process: tenants, leases and API keys.
class FakeLeaseTable {
 public:
  // `clock` must outlive the table.
  explicit FakeLeaseTable(const Clock* clock) : clock_(clock) {}
  FakeLeaseTable(const FakeLeaseTable&) = delete;
  FakeLeaseTable& operator=(const FakeLeaseTable&) = delete;

  // A tenant whose lease can be claimed (a row of `tenants`).
  void AddTenant(const std::string& tenant_id);
  void SetApiKeys(std::vector<ApiKeyRecord> keys);

 private:
  friend class FakeLeaseStore;

  // The lease rows held by `owner` after renewing them and, with `claim`, taking every missing
  // or expired one and those of an earlier incarnation of the owner's node.
  std::vector<LeaseRecord> Claim(const LeaseOwner& owner, bool claim);
  std::vector<LeaseRecord> List() const;
  void Release(const std::string& owner_id);
  // Whether `owner_id` holds the lease of `tenant_id` at `epoch`.
  bool Holds(const std::string& owner_id, const std::string& tenant_id, int64_t epoch) const;
  // Leases the tenants a batch created to `owner` at epoch 1 (unless leased already); returns
  // those it leased.
  std::vector<std::string> LeaseCreated(const LeaseOwner& owner,
                                        const std::set<std::string>& created);
  std::vector<ApiKeyRecord> ApiKeys() const;

  const Clock* const clock_;
  mutable absl::Mutex mu_;
  std::set<std::string> tenants_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LeaseRecord> leases_ ABSL_GUARDED_BY(mu_);
  std::vector<ApiKeyRecord> api_keys_ ABSL_GUARDED_BY(mu_);
};

class FakeLeaseStore final : public LeaseStore {
 public:
  // `table` must outlive this store.
  explicit FakeLeaseStore(FakeLeaseTable* table) : table_(table) {}
  FakeLeaseStore(const FakeLeaseStore&) = delete;
  FakeLeaseStore& operator=(const FakeLeaseStore&) = delete;

  void EnableFencing(const LeaseOwner& owner) override;
  void AddFence(const std::string& tenant_id, int64_t epoch) override;
  void RemoveFence(const std::string& tenant_id) override;
  std::optional<int64_t> FenceEpoch(const std::string& tenant_id) const override;
  absl::flat_hash_map<std::string, int64_t> Fences() const override;
  absl::StatusOr<std::vector<LeaseRecord>> ClaimLeases(bool claim) override;
  absl::StatusOr<std::vector<LeaseRecord>> ListLeases() override;
  absl::Status ReleaseLeases() override;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys() override;

  // What fencing decides for `batch` (OK when fencing is not enabled): kAborted when a tenant it
  // writes (and does not create) has no fence here or is no longer this owner's at that epoch.
  absl::Status CheckFences(absl::Span<const Mutation* const> batch) const;
  // After `batch` committed: its new tenants are leased to this owner (epoch 1) and fenced.
  void RecordCreatedTenants(absl::Span<const Mutation* const> batch);

 private:
  FakeLeaseTable* const table_;
  mutable absl::Mutex mu_;
  std::optional<LeaseOwner> owner_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> fences_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_TESTING_FAKE_LEASE_STORE_H_
