// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "testing/fake_lease_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tokenledger {
namespace {

// The node part of an owner id ("node/incarnation").
absl::string_view NodeOf(absl::string_view owner_id) {
  return owner_id.substr(0, owner_id.find('/'));
}

absl::Status LeaseLost(absl::string_view tenant_id) {
  return absl::AbortedError(
      absl::StrCat("lease lost: tenant ", tenant_id, " is not served by this process"));
}

}  // namespace

void FakeLeaseTable::AddTenant(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  tenants_.insert(tenant_id);
}

void FakeLeaseTable::SetApiKeys(std::vector<ApiKeyRecord> keys) {
  absl::MutexLock lock(&mu_);
  api_keys_ = std::move(keys);
}

std::vector<LeaseRecord> FakeLeaseTable::Claim(const LeaseOwner& owner, bool claim) {
  const int64_t now = clock_->NowMicros();
  const int64_t expires = now + absl::ToInt64Microseconds(owner.ttl);
  absl::MutexLock lock(&mu_);
  std::vector<LeaseRecord> held;
  for (const std::string& tenant : tenants_) {
    auto it = leases_.find(tenant);
    const bool mine = it != leases_.end() && it->second.owner_id == owner.owner_id;
    if (!claim && !mine) continue;
    if (it == leases_.end()) {
      it = leases_.emplace(tenant, LeaseRecord{.tenant_id = tenant, .epoch = 1}).first;
    } else if (!mine) {
      LeaseRecord& l = it->second;
      const bool same_node = NodeOf(l.owner_id) == NodeOf(owner.owner_id);
      if (l.expires_at_us >= now && !same_node) continue;  // another owner's, still valid
      ++l.epoch;
    }
    LeaseRecord& l = it->second;
    l.owner_id = owner.owner_id;
    l.owner_address = owner.address;
    l.expires_at_us = expires;
    held.push_back(l);
  }
  return held;
}

std::vector<LeaseRecord> FakeLeaseTable::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<LeaseRecord> out;
  out.reserve(leases_.size());
  for (const auto& [tenant, l] : leases_) out.push_back(l);
  return out;
}

void FakeLeaseTable::Release(const std::string& owner_id) {
  const int64_t past = clock_->NowMicros() - 1000000;  // a second ago, as PgStore does
  absl::MutexLock lock(&mu_);
  for (auto& [tenant, l] : leases_) {
    if (l.owner_id == owner_id) l.expires_at_us = past;
  }
}

bool FakeLeaseTable::Holds(const std::string& owner_id, const std::string& tenant_id,
                           int64_t epoch) const {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(tenant_id);
  return it != leases_.end() && it->second.owner_id == owner_id && it->second.epoch == epoch;
}

std::vector<std::string> FakeLeaseTable::LeaseCreated(const LeaseOwner& owner,
                                                      const std::set<std::string>& created) {
  const int64_t expires = clock_->NowMicros() + absl::ToInt64Microseconds(owner.ttl);
  absl::MutexLock lock(&mu_);
  std::vector<std::string> leased;
  for (const std::string& tenant : created) {
    tenants_.insert(tenant);
    LeaseRecord l{.tenant_id = tenant,
                  .owner_id = owner.owner_id,
                  .owner_address = owner.address,
                  .epoch = 1,
                  .expires_at_us = expires};
    if (leases_.emplace(tenant, std::move(l)).second) leased.push_back(tenant);
  }
  return leased;
}

std::vector<ApiKeyRecord> FakeLeaseTable::ApiKeys() const {
  absl::MutexLock lock(&mu_);
  return api_keys_;
}

void FakeLeaseStore::EnableFencing(const LeaseOwner& owner) {
  absl::MutexLock lock(&mu_);
  owner_ = owner;
}

void FakeLeaseStore::AddFence(const std::string& tenant_id, int64_t epoch) {
  absl::MutexLock lock(&mu_);
  fences_[tenant_id] = epoch;
}

void FakeLeaseStore::RemoveFence(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  fences_.erase(tenant_id);
}

std::optional<int64_t> FakeLeaseStore::FenceEpoch(const std::string& tenant_id) const {
  absl::MutexLock lock(&mu_);
  auto it = fences_.find(tenant_id);
  if (it == fences_.end()) return std::nullopt;
  return it->second;
}

absl::flat_hash_map<std::string, int64_t> FakeLeaseStore::Fences() const {
  absl::MutexLock lock(&mu_);
  return fences_;
}

absl::StatusOr<std::vector<LeaseRecord>> FakeLeaseStore::ClaimLeases(bool claim) {
  std::optional<LeaseOwner> owner;
  {
    absl::MutexLock lock(&mu_);
    owner = owner_;
  }
  if (!owner.has_value()) return absl::FailedPreconditionError("fencing is not enabled");
  return table_->Claim(*owner, claim);
}

absl::StatusOr<std::vector<LeaseRecord>> FakeLeaseStore::ListLeases() { return table_->List(); }

absl::Status FakeLeaseStore::ReleaseLeases() {
  std::optional<LeaseOwner> owner;
  {
    absl::MutexLock lock(&mu_);
    owner = owner_;
    fences_.clear();
  }
  if (owner.has_value()) table_->Release(owner->owner_id);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ApiKeyRecord>> FakeLeaseStore::ListApiKeys() {
  return table_->ApiKeys();
}

absl::Status FakeLeaseStore::CheckFences(absl::Span<const Mutation* const> batch) const {
  absl::MutexLock lock(&mu_);
  if (!owner_.has_value()) return absl::OkStatus();
  std::set<std::string> created;
  for (const Mutation* m : batch) {
    if (m->tenant.has_value()) created.insert(m->tenant->tenant_id);
  }
  for (const Mutation* m : batch) {
    const std::string& tenant = MutationTenant(*m);
    if (m->tenant.has_value() || tenant.empty() || created.contains(tenant)) continue;
    auto it = fences_.find(tenant);
    if (it == fences_.end() || !table_->Holds(owner_->owner_id, tenant, it->second)) {
      return LeaseLost(tenant);
    }
  }
  return absl::OkStatus();
}

void FakeLeaseStore::RecordCreatedTenants(absl::Span<const Mutation* const> batch) {
  std::set<std::string> created;
  for (const Mutation* m : batch) {
    if (m->tenant.has_value()) created.insert(m->tenant->tenant_id);
  }
  absl::MutexLock lock(&mu_);
  if (!owner_.has_value()) return;
  for (const std::string& t : table_->LeaseCreated(*owner_, created)) fences_[t] = 1;
}

}  // namespace tokenledger
