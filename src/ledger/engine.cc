// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/engine.h"

#include <utility>

#include "ledger/loader.h"
#include "ledger/tenants.h"

namespace tokenledger {

Ledger::Ledger(Journal* journal, LedgerStore* reader, const Clock* clock, EngineOptions options)
    : cx_(journal, reader, clock, options),
      keys_(cx_),
      hold_journal_(cx_),
      hold_sweep_(cx_, hold_journal_),
      holds_(cx_, hold_journal_),
      budgets_(cx_, holds_),
      prices_(cx_),
      resets_(cx_),
      reconciler_(cx_, hold_sweep_) {}

Ledger::~Ledger() = default;

// ---- loading and ownership ---------------------------------------------------------------------

absl::Status Ledger::Load(const Snapshot& snapshot) {
  absl::StatusOr<TenantRegistry::TenantMap> tenants = BuildTenants(cx_, snapshot);
  if (!tenants.ok()) return tenants.status();
  keys_.Clear();
  keys_.Refresh(snapshot.api_keys);
  cx_.tenants.ReplaceAll(*std::move(tenants));
  return absl::OkStatus();
}

absl::Status Ledger::AddTenants(const Snapshot& snapshot) {
  absl::StatusOr<TenantRegistry::TenantMap> tenants = BuildTenants(cx_, snapshot);
  if (!tenants.ok()) return tenants.status();
  cx_.tenants.Merge(*std::move(tenants));
  return absl::OkStatus();
}

void Ledger::DropTenant(const std::string& tenant_id) { cx_.tenants.Drop(tenant_id); }

std::vector<std::string> Ledger::TenantIds() const { return cx_.tenants.Ids(); }

void Ledger::RefreshKeys(const std::vector<ApiKeyRecord>& keys) { keys_.Refresh(keys); }

// ---- tenants and keys --------------------------------------------------------------------------

void Ledger::CreateTenant(TenantRecord tenant, const IdemArgs& idem, ResultCallback done) {
  tokenledger::CreateTenant(cx_, std::move(tenant), idem, std::move(done));
}

void Ledger::CreateApiKey(const std::string& scope, ApiKeyRecord key, const IdemArgs& idem,
                          ResultCallback done) {
  keys_.Create(scope, std::move(key), idem, std::move(done));
}

void Ledger::RevokeApiKey(const std::string& scope, const std::string& key_id, const IdemArgs& idem,
                          ResultCallback done) {
  keys_.Revoke(scope, key_id, idem, std::move(done));
}

std::optional<ApiKeyRecord> Ledger::FindKeyByHash(const std::string& key_hash) const {
  return keys_.FindByHash(key_hash);
}

std::optional<TenantRecord> Ledger::FindTenant(const std::string& tenant_id) const {
  if (tenant_id.empty()) return std::nullopt;
  std::shared_ptr<TenantState> t = cx_.tenants.Find(tenant_id);
  if (!t) return std::nullopt;
  return t->record;
}

// ---- budgets -----------------------------------------------------------------------------------

void Ledger::UpsertAccount(const std::string& tenant, AccountRecord account, const IdemArgs& idem,
                           ResultCallback done) {
  budgets_.UpsertAccount(tenant, std::move(account), idem, std::move(done));
}

void Ledger::UpsertTeam(const std::string& tenant, TeamRecord team, const IdemArgs& idem,
                        ResultCallback done) {
  budgets_.UpsertTeam(tenant, std::move(team), idem, std::move(done));
}

void Ledger::Grant(const std::string& tenant, const std::string& account_id, int64_t amount,
                   const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  budgets_.Grant(tenant, account_id, amount, memo, idem, std::move(done));
}

void Ledger::Adjust(const std::string& tenant, const std::string& account_id, int64_t amount_delta,
                    const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  budgets_.Adjust(tenant, account_id, amount_delta, memo, idem, std::move(done));
}

absl::StatusOr<BalanceView> Ledger::GetBalance(const std::string& tenant,
                                               const std::string& account_id) const {
  return budgets_.GetBalance(tenant, account_id);
}

absl::StatusOr<std::vector<TransferRecord>> Ledger::ListTransfers(
    const TransferQuery& query) const {
  return budgets_.ListTransfers(query);
}

absl::StatusOr<AccountRecord> Ledger::GetAccount(const std::string& tenant,
                                                 const std::string& account_id) const {
  return budgets_.GetAccount(tenant, account_id);
}

// ---- the gateway's hot path --------------------------------------------------------------------

absl::StatusOr<OpResult> Ledger::Authorize(const std::string& tenant, const AuthorizeArgs& args,
                                           const IdemArgs& idem) {
  return holds_.Authorize(tenant, args, idem);
}

void Ledger::Debit(const std::string& tenant, DebitArgs args, const IdemArgs& idem,
                   ResultCallback done) {
  holds_.Debit(tenant, args, idem, std::move(done));
}

void Ledger::Release(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
                     ResultCallback done) {
  holds_.Release(tenant, hold_id, idem, std::move(done));
}

absl::StatusOr<CheckResult> Ledger::Check(const std::string& tenant, const CheckArgs& args) {
  return holds_.Check(tenant, args);
}

absl::StatusOr<CheckResult> Ledger::Check(const std::string& tenant, const std::string& account_id,
                                          int64_t amount) {
  return holds_.Check(tenant, CheckArgs{.account_id = account_id, .amount = amount});
}

// ---- prices ------------------------------------------------------------------------------------

void Ledger::SetPrice(const std::string& tenant, const SetPriceArgs& args, const IdemArgs& idem,
                      ResultCallback done) {
  prices_.SetPrice(tenant, args, idem, std::move(done));
}

absl::StatusOr<PriceListing> Ledger::ListPrices(const std::string& tenant, const std::string& model,
                                                int64_t as_of_us) const {
  return prices_.ListPrices(tenant, model, as_of_us);
}

// ---- admin -------------------------------------------------------------------------------------

void Ledger::Reconcile(const std::string& tenant, bool fix, ReconcileCallback done,
                       const std::string& actor) {
  reconciler_.Reconcile(tenant, fix, std::move(done), actor);
}

absl::StatusOr<std::vector<AuditRecord>> Ledger::ListAudit(const AuditQuery& query) const {
  if (query.limit < 1 || query.limit > 1000) {
    return absl::InvalidArgumentError("page_size: must be 1 to 1000");
  }
  return cx_.reader->ListAudit(query);
}

int64_t Ledger::ExpireHolds() { return hold_sweep_.SweepAll(); }

int64_t Ledger::JournalHolds(bool all) { return hold_journal_.JournalDue(all); }

void Ledger::RunResets(const std::string& tenant, absl::Time as_of, CountCallback done,
                       size_t accounts_max) {
  resets_.Run(tenant, as_of, std::move(done), accounts_max);
}

EngineStats Ledger::stats() const {
  std::vector<std::shared_ptr<TenantState>> tenants = cx_.tenants.All();
  EngineStats s;
  s.tenants = tenants.size();
  for (const auto& owner : tenants) {
    TenantState& t = *owner;
    absl::MutexLock lock(&t.mu);
    s.accounts += t.accounts.size();
    s.open_holds += t.open_holds;
    s.expiry_entries += t.expiry.size();
    s.hold_segments += t.hold_segments.size();
  }
  s.resets_performed = cx_.resets_performed.load(std::memory_order_relaxed);
  return s;
}

}  // namespace tokenledger
