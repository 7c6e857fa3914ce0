// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/api_keys.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ledger/errors.h"
#include "ledger/submission.h"
#include "types/validate.h"

namespace tokenledger {

void ApiKeyRing::Clear() {
  absl::MutexLock lock(&mu_);
  by_id_.clear();
  ids_by_hash_.clear();
}

void ApiKeyRing::Refresh(const std::vector<ApiKeyRecord>& keys) {
  absl::MutexLock lock(&mu_);
  for (const auto& k : keys) {
    auto [it, added] = by_id_.try_emplace(k.key_id, k);
    if (!added && k.revoked) it->second.revoked = true;
    if (added) ids_by_hash_[k.key_hash] = k.key_id;
  }
}

void ApiKeyRing::Add(const ApiKeyRecord& key) {
  absl::MutexLock lock(&mu_);
  by_id_[key.key_id] = key;
  ids_by_hash_[key.key_hash] = key.key_id;
}

void ApiKeyRing::MarkRevoked(const std::string& key_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(key_id);
  if (it != by_id_.end()) it->second.revoked = true;
}

std::optional<ApiKeyRecord> ApiKeyRing::FindInScope(const std::string& scope,
                                                    const std::string& key_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(key_id);
  if (it == by_id_.end() || (!scope.empty() && it->second.tenant_id != scope)) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<ApiKeyRecord> ApiKeyRing::FindByHash(const std::string& key_hash) const {
  absl::MutexLock lock(&mu_);
  auto id = ids_by_hash_.find(key_hash);
  if (id == ids_by_hash_.end()) return std::nullopt;
  auto it = by_id_.find(id->second);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

absl::Status ApiKeyRing::ValidateCreate(const std::string& scope, const ApiKeyRecord& key,
                                        const IdemArgs& idem) const {
  absl::Status v = ValidateIdempotencyKey(idem.key);
  if (v.ok()) v = ValidateId("tenant_id", key.tenant_id);
  if (v.ok() && key.role == Role::kOperator) {
    v = absl::InvalidArgumentError("role: operator keys are configured, not created");
  }
  if (v.ok() && !scope.empty() && scope != key.tenant_id) {
    v = absl::PermissionDeniedError(
        "tenant_id: a tenant admin may create keys only for its tenant");
  }
  if (v.ok() && !cx_.tenants.Find(key.tenant_id)) {
    v = absl::NotFoundError(absl::StrCat("tenant_id: tenant '", key.tenant_id, "' not found"));
  }
  return v;
}

void ApiKeyRing::Create(const std::string& scope, ApiKeyRecord key, const IdemArgs& idem,
                        ResultCallback done) {
  if (absl::Status v = ValidateCreate(scope, key, idem); !v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(scope);
  TenantState& t = *owner;
  key.created_at_us = cx_.clock->NowMicros();
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  Mutation m;
  m.api_key = key;
  OpResult result{.id = key.key_id, .flag = true};
  auto apply = [this, key](TenantState&) { Add(key); };
  SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done),
               later);
}

void ApiKeyRing::Revoke(const std::string& scope, const std::string& key_id, const IdemArgs& idem,
                        ResultCallback done) {
  absl::Status v = ValidateServerId("key_id", key_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(scope);
  if (owner == nullptr) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  std::optional<ApiKeyRecord> key = FindInScope(scope, key_id);
  if (!key) {
    return later.Answer(std::move(done),
                        absl::NotFoundError(absl::StrCat("key_id: key '", key_id, "' not found")));
  }
  Mutation m;
  key->revoked = true;
  m.api_key = *key;
  OpResult result{.id = key_id, .flag = true};
  auto apply = [this, key_id](TenantState&) { MarkRevoked(key_id); };
  SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done),
               later);
}

}  // namespace tokenledger
