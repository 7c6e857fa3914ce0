// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Ledger: the engine. Owns the in-memory state of every served tenant (ledger/tenant_state.h),
// decides every operation against it, and sends every durable effect through the Journal (the
// group-commit writer). It is a facade: each call is one forward to the part that does the job.
//
//   tenants.h        the registry of served tenants; creating a tenant
//   api_keys.h       the key ring: create, revoke, find, refresh
//   loader.h         building tenants' state from a store snapshot
//   budgets.h        accounts, teams, grants, adjustments, balances
//   holds.h          the hot path: Authorize, Check, Debit (capture a hold), Release
//   hold_journal.h   writing holds into segments; closing a hold
//   hold_sweep.h     expiring holds, forgetting closed ones, dropping and compacting segments
//   resets.h         period resets (reset a month)
//   reconcile.h      reconciliation against the transfers
//   submission.h     idempotency answers, submitting a mutation, applying its commit
//   spending_limits.h, calendar.h   limits, usage windows, checked arithmetic
//   context.h        what the parts share: journal, reader, clock, options, tenant registry
//
// Rules it keeps:
//  - Posted totals in memory change only when a commit completes, so they always equal the
//    store's balances. Debits in flight count against `available` at once; credits count only
//    once committed. A failed commit undoes exactly what its call reserved.
//  - Durable calls (everything but Authorize and Check) answer through their callback only after
//    the commit that holds them. Authorize answers at once; its hold is durable within one
//    commit interval.
//  - Every mutating call is idempotent under its key: the same key and request replays the
//    original answer (waiting for it if still in flight), another request under the same key
//    fails kAlreadyExists.
//  - A Debit or Release resolves the hold it names once (memory, else the store off the lock),
//    then acts once.
//
// Thread-safe. Lock order: the tenant registry's lock (TenantRegistry, rarely written), then one
// TenantState::mu per tenant, then the key ring's lock (ApiKeyRing). The registry's lock is
// only ever held alone or under the platform tenant's mu (CreateTenant). The journal's lock is
// taken under a tenant lock, never the other way round. Callbacks run with no engine lock held,
// so they may call the Ledger again. Checked by clang's -Wthread-safety.
#ifndef TOKENLEDGER_LEDGER_ENGINE_H_
#define TOKENLEDGER_LEDGER_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ledger/api_keys.h"
#include "ledger/budgets.h"
#include "ledger/calendar.h"
#include "ledger/context.h"
#include "ledger/engine_options.h"
#include "ledger/hold_journal.h"
#include "ledger/hold_sweep.h"
#include "ledger/holds.h"
#include "ledger/op_result.h"
#include "ledger/prices.h"
#include "ledger/reconcile.h"
#include "ledger/requests.h"
#include "ledger/resets.h"
#include "tokenledger/clock.h"
#include "tokenledger/journal.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {

struct EngineStats {
  size_t tenants = 0;
  size_t accounts = 0;
  size_t open_holds = 0;
  // What memory keeps to expire the open holds, and the hold segments with records in the store
  // (EngineOptions::hold_segment_span): both follow the open holds, not the holds placed.
  size_t expiry_entries = 0;
  size_t hold_segments = 0;
  uint64_t resets_performed = 0;  // (account, period) resets committed by this process
};

class Ledger {
 public:
  using ReconcileCallback = Reconciler::ReconcileCallback;

  // `journal` takes every durable write; `reader` answers reads that memory does not hold
  // (transfer listings). Neither is owned.
  Ledger(Journal* journal, LedgerStore* reader, const Clock* clock, EngineOptions options);
  ~Ledger();

  // Replaces the in-memory state with a snapshot of the store. Call before serving.
  absl::Status Load(const Snapshot& snapshot);
  // Ownership changes: serve the tenants of `snapshot` from it (replacing what memory held of
  // them; its keys are ignored), or stop serving a tenant (calls in flight finish against the
  // old state; their commits are refused by fencing).
  absl::Status AddTenants(const Snapshot& snapshot);
  void DropTenant(const std::string& tenant_id);
  std::vector<std::string> TenantIds() const;
  // Merges API keys read from the store: adds new ones, applies revocations (a periodic refresh
  // makes keys created or revoked by other processes effective here).
  void RefreshKeys(const std::vector<ApiKeyRecord>& keys);

  // ---- tenants and keys (scope "" is the platform: operator calls) ----
  void CreateTenant(TenantRecord tenant, const IdemArgs& idem, ResultCallback done);
  // `key.tenant_id` is the key's tenant; `scope` the caller's ("" for the operator).
  void CreateApiKey(const std::string& scope, ApiKeyRecord key, const IdemArgs& idem,
                    ResultCallback done);
  // A tenant admin (scope = its tenant) may revoke only its tenant's keys.
  void RevokeApiKey(const std::string& scope, const std::string& key_id, const IdemArgs& idem,
                    ResultCallback done);
  std::optional<ApiKeyRecord> FindKeyByHash(const std::string& key_hash) const;
  std::optional<TenantRecord> FindTenant(const std::string& tenant_id) const;

  // ---- budgets ----
  void UpsertAccount(const std::string& tenant, AccountRecord account, const IdemArgs& idem,
                     ResultCallback done);
  void UpsertTeam(const std::string& tenant, TeamRecord team, const IdemArgs& idem,
                  ResultCallback done);
  void Grant(const std::string& tenant, const std::string& account_id, int64_t amount,
             const std::string& memo, const IdemArgs& idem, ResultCallback done);
  void Adjust(const std::string& tenant, const std::string& account_id, int64_t amount_delta,
              const std::string& memo, const IdemArgs& idem, ResultCallback done);
  absl::StatusOr<BalanceView> GetBalance(const std::string& tenant,
                                         const std::string& account_id) const;
  absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& query) const;
  absl::StatusOr<AccountRecord> GetAccount(const std::string& tenant,
                                           const std::string& account_id) const;

  // ---- the gateway's hot path ----
  absl::StatusOr<OpResult> Authorize(const std::string& tenant, const AuthorizeArgs& args,
                                     const IdemArgs& idem);
  void Debit(const std::string& tenant, DebitArgs args, const IdemArgs& idem, ResultCallback done);
  void Release(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
               ResultCallback done);
  absl::StatusOr<CheckResult> Check(const std::string& tenant, const CheckArgs& args);
  absl::StatusOr<CheckResult> Check(const std::string& tenant, const std::string& account_id,
                                    int64_t amount);

  // ---- prices (see ledger/prices.h) ----
  void SetPrice(const std::string& tenant, const SetPriceArgs& args, const IdemArgs& idem,
                ResultCallback done);
  absl::StatusOr<PriceListing> ListPrices(const std::string& tenant, const std::string& model,
                                          int64_t as_of_us = 0) const;

  // ---- admin ----
  // A repair (fix) is recorded in the audit trail under `actor`.
  void Reconcile(const std::string& tenant, bool fix, ReconcileCallback done,
                 const std::string& actor = "");
  // The tenant's audit trail, newest first.
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const AuditQuery& query) const;
  // Releases every open hold past its expiry, in memory: an expiry is not written (it follows
  // from expires_at, and a hold loaded open past it is loaded expired). Returns how many.
  int64_t ExpireHolds();
  // Journals the open holds whose journaling delay (EngineOptions::hold_journal_delay) is over,
  // or with `all`, every hold not yet journaled (before a shutdown). Returns how many.
  int64_t JournalHolds(bool all = false);

  // Performs every period reset due at `as_of` and not yet performed, in `tenant` ("" = every
  // tenant), through the journal: per account with a policy, for each period started since its
  // last reset, carry min(rollover_max, max(available, 0)), forfeit the rest to @expired, grant
  // the allocation. Exactly once per (account, period): the reset's idempotency key and period
  // row are unique in the store. `done` (may be null) gets how many resets this call committed.
  // At most `accounts_max` accounts are queued by one call (the scheduler spreads a large reset
  // over several ticks so that the writer's queue keeps room for the hot path).
  using CountCallback = PeriodResets::CountCallback;
  void RunResets(const std::string& tenant, absl::Time as_of, CountCallback done,
                 size_t accounts_max = std::numeric_limits<size_t>::max());

  EngineStats stats() const;
  const Clock& clock() const { return *cx_.clock; }

 private:
  // Declared in construction order: each part is built from those above it.
  LedgerContext cx_;
  ApiKeyRing keys_;
  HoldJournal hold_journal_;
  HoldSweep hold_sweep_;
  Holds holds_;
  Budgets budgets_;
  Prices prices_;
  PeriodResets resets_;
  Reconciler reconciler_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_ENGINE_H_
