// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/tenants.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ledger/context.h"
#include "ledger/submission.h"
#include "types/validate.h"

namespace tokenledger {

TenantRegistry::TenantRegistry(size_t idempotency_keys_max)
    : idempotency_keys_max_(idempotency_keys_max), platform_(NewTenantState(TenantRecord{})) {}

std::shared_ptr<TenantState> TenantRegistry::NewTenantState(const TenantRecord& record) const {
  auto t = std::make_shared<TenantState>(record, idempotency_keys_max_);
  if (!absl::LoadTimeZone(record.timezone.empty() ? "UTC" : record.timezone, &t->tz)) {
    t->tz = absl::UTCTimeZone();  // validated at creation; a zone missing from this host
  }
  TenantState& ts = *t;
  absl::MutexLock lock(&ts.mu);
  if (!record.tenant_id.empty()) {
    for (absl::string_view id : kSystemAccounts) ts.accounts[std::string(id)] = AccountState{};
  }
  return t;
}

std::vector<std::shared_ptr<TenantState>> TenantRegistry::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<TenantState>> all;
  all.reserve(tenants_.size());
  for (const auto& [id, t] : tenants_) all.push_back(t);
  return all;
}

std::vector<std::string> TenantRegistry::Ids() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> ids;
  ids.reserve(tenants_.size());
  for (const auto& [id, t] : tenants_) ids.push_back(id);
  return ids;
}

void TenantRegistry::ReplaceAll(TenantMap tenants) {
  absl::MutexLock lock(&mu_);
  tenants_ = std::move(tenants);
}

void TenantRegistry::Merge(TenantMap tenants) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, t] : tenants) tenants_[id] = std::move(t);
}

void TenantRegistry::Drop(const std::string& tenant_id) {
  std::shared_ptr<TenantState> dropped;  // destroyed outside the lock
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant_id);
  if (it == tenants_.end()) return;
  dropped = std::move(it->second);
  tenants_.erase(it);
}

bool TenantRegistry::ReserveNew(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  if (tenants_.contains(tenant_id) || creating_.contains(tenant_id)) return false;
  creating_.insert(tenant_id);
  return true;
}

void TenantRegistry::AddNew(const TenantRecord& record) {
  auto state = NewTenantState(record);
  absl::MutexLock lock(&mu_);
  creating_.erase(record.tenant_id);
  tenants_[record.tenant_id] = std::move(state);
}

void TenantRegistry::AbandonNew(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  creating_.erase(tenant_id);
}

namespace {

// Checks the new tenant and fills in its defaults.
absl::Status ValidateNewTenant(TenantRecord& tenant, const IdemArgs& idem) {
  absl::Status v = ValidateId("tenant_id", tenant.tenant_id);
  if (v.ok()) v = ValidateText("display_name", tenant.display_name);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (tenant.unit.empty()) tenant.unit = "usd_micros";
  if (tenant.timezone.empty()) tenant.timezone = "UTC";
  absl::TimeZone tz;
  if (v.ok() && tenant.unit != "usd_micros" && tenant.unit != "tokens") {
    v = absl::InvalidArgumentError("unit: must be \"usd_micros\" or \"tokens\"");
  }
  if (v.ok() && (!ValidateText("timezone", tenant.timezone).ok() ||
                 !absl::LoadTimeZone(tenant.timezone, &tz))) {
    v = absl::InvalidArgumentError(
        absl::StrCat("timezone: unknown IANA time zone '", tenant.timezone, "'"));
  }
  return v;
}

}  // namespace

void CreateTenant(LedgerContext& cx, TenantRecord tenant, const IdemArgs& idem,
                  ResultCallback done) {
  if (absl::Status v = ValidateNewTenant(tenant, idem); !v.ok()) return std::move(done)(v);
  tenant.created_at_us = cx.clock->NowMicros();
  TenantState& p = *cx.tenants.platform();
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&p.mu);
  if (AnswerFromIdempotency(p, idem, done, later)) return;
  if (!cx.tenants.ReserveNew(tenant.tenant_id)) {
    return later.Answer(std::move(done),
                        absl::AlreadyExistsError(absl::StrCat(
                            "tenant_id: tenant '", tenant.tenant_id, "' already exists")));
  }
  Mutation m;
  m.tenant = tenant;
  OpResult result{.id = tenant.tenant_id, .flag = true};
  TenantRegistry& registry = cx.tenants;
  auto apply = [&registry, tenant](TenantState&) { registry.AddNew(tenant); };
  auto undo = [&registry, id = tenant.tenant_id](TenantState&) { registry.AbandonNew(id); };
  if (!SubmitLocked(cx, p, idem, result, std::move(m), std::move(apply), std::move(undo),
                    std::move(done), later)) {
    registry.AbandonNew(tenant.tenant_id);
  }
}

}  // namespace tokenledger
