// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Ledger: the engine. Owns the hot state of every tenant (src/cache), decides every operation
// against it, and sends every durable effect through the Journal (the group-commit writer).
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
//
// Thread-safe. Locks: `tenants_mu_` (the map of tenants, rarely written), then one TenantState::mu
// per tenant; `keys_mu_` for API keys. The journal's lock is taken under a tenant lock, never the
// other way round. Callbacks run with no engine lock held, so they may call the Ledger again.
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
#include "cache/tenant_cache.h"
#include "tokenledger/clock.h"
#include "tokenledger/journal.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {

class DeferredAnswers;  // engine.cc

struct EngineOptions {
  size_t idempotency_keys_max = 200000;  // per tenant, in memory; older keys are found in the store
  size_t open_holds_max = 1000000;       // per tenant; past it Authorize sheds load
  // Closed holds are remembered for `closed_hold_retention`, and at most `closed_holds_max` of
  // them per tenant (the oldest forgotten first, at each sweep), so that memory does not grow
  // with an hour of traffic. A Debit or Release naming a hold no longer in memory asks the
  // store how it closed: a second capture is refused whether the hold is remembered or not, and
  // a Release of a hold released or expired long ago answers 0 released, as for a remembered one.
  absl::Duration closed_hold_retention = absl::Hours(1);
  size_t closed_holds_max = 200000;
  size_t expire_batch_max = 10000;  // holds expired (or journaled) per sweep and tenant
  // How long an allowed Authorize's hold lives in memory only before JournalHolds writes it.
  // A hold captured or released before then is written once, closed, with its Authorize's
  // answer (one that expires before then is never written); a crash loses the holds of the last
  // `hold_journal_delay` (a hold is a reservation; a Debit naming a lost hold is a direct debit).
  // Zero: every hold is queued to the journal at once (written with the next group commit).
  absl::Duration hold_journal_delay = absl::ZeroDuration();
  // Open holds are journaled into segments, a new one per `hold_segment_span` of the clock. Once
  // a segment is no longer written to and every hold in it has closed (its closing row
  // committed) or expired, ExpireHolds deletes its records (Mutation::dropped_hold_segments), so
  // that the store keeps the records of open holds, not of every hold of the last hour, and a
  // start-up reads those.
  absl::Duration hold_segment_span = absl::Seconds(1);
  // A sealed segment this old whose records are mostly of closed holds (an eighth or less still
  // open: the stragglers of the gateway's cycle) has its open holds written again into the
  // current segment, in the commit that drops it, so that a few long-lived holds do not keep
  // every record beside them until they close.
  absl::Duration hold_segment_compact_after = absl::Seconds(30);
  // Open holds a sweep looks at to find a compaction's holds (the scan resumes at the next).
  size_t hold_compaction_scan_max = 50000;
};

// The idempotency key of a call and the fingerprint of its request (method and fields, key
// excluded; see api/fingerprint).
struct IdemArgs {
  std::string key;
  uint64_t fingerprint = 0;
  // When set, the change is recorded in the audit trail under this action (the API method),
  // with `actor` (the caller's key id) as who made it.
  std::string audit_action;
  std::string actor;
};

struct AuthorizeArgs {
  std::string account_id;
  int64_t amount = 0;
  int64_t hold_ttl_seconds = 0;  // 0 = default
  std::string model;
  Metadata metadata;
};

struct DebitArgs {
  std::string account_id;
  std::string hold_id;  // empty = direct debit
  int64_t amount = 0;
  std::string request_id;
  std::string model;
  Metadata metadata;
};

// The calendar month and day containing `at` in `tz`.
CalendarWindows WindowsAt(const absl::TimeZone& tz, absl::Time at);

struct BalanceView {
  std::string account_id;
  PostedTotals posted;
  int64_t held = 0;
  int64_t pending_debit = 0;
  int64_t available = 0;
  AccountStatus status = AccountStatus::kActive;
  std::string unit;
  int64_t period_start_us = 0;
  int64_t period_end_us = 0;
  int64_t period_spent = 0;  // USAGE in the current period
  int64_t day_spent = 0;     // USAGE in the current day (tenant time zone)
};

struct CheckResult {
  bool would_allow = false;
  int64_t available = 0;
  DenyReason deny_reason = DenyReason::kNone;
};

struct ReconcileMismatch {
  std::string account_id;
  std::string field;
  int64_t expected = 0;
  int64_t found = 0;
  std::string source;  // "store" or "cache"
};

struct ReconcileReport {
  int64_t accounts_checked = 0;
  int64_t transfers_checked = 0;
  int64_t ledger_sum = 0;
  std::vector<ReconcileMismatch> mismatches;
  int64_t expired_holds_released = 0;
  int64_t periods_checked = 0;
  bool fixed = false;
  std::vector<ReconcileMismatch> repaired;
};

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
  using ReconcileCallback = absl::AnyInvocable<void(absl::StatusOr<ReconcileReport>) &&>;

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
  absl::StatusOr<CheckResult> Check(const std::string& tenant, const std::string& account_id,
                                    int64_t amount);

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
  using CountCallback = absl::AnyInvocable<void(absl::StatusOr<int64_t>) &&>;
  void RunResets(const std::string& tenant, absl::Time as_of, CountCallback done,
                 size_t accounts_max = std::numeric_limits<size_t>::max());

  EngineStats stats() const;
  const Clock& clock() const { return *clock_; }

 private:
  using TenantMap = absl::flat_hash_map<std::string, std::shared_ptr<TenantState>>;
  absl::StatusOr<TenantMap> BuildTenants(const Snapshot& snapshot);
  std::shared_ptr<TenantState> GetTenant(const std::string& tenant_id) const;
  std::shared_ptr<TenantState> NewTenantState(const TenantRecord& record) const;
  std::string NewId(absl::string_view prefix);

  // Looks the key up. Returns true when the call was answered (replay, conflict, or queued
  // behind its in-flight original); `done` has then been consumed.
  bool AnswerFromIdempotency(TenantState& t, const IdemArgs& idem, ResultCallback& done,
                             DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Submits `m` with the idempotency record of `result`, and on success records the key as
  // pending and returns true. `apply` runs on commit, `undo` on failure or duplicate; both under
  // t.mu. When the journal refuses the work, answers `done` with its status and returns false.
  bool SubmitLocked(std::shared_ptr<TenantState> t, const IdemArgs& idem, const OpResult& result,
                    Mutation m, absl::AnyInvocable<void(TenantState&)> apply,
                    absl::AnyInvocable<void(TenantState&)> undo, ResultCallback done,
                    DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu);
  void Complete(std::shared_ptr<TenantState> t, std::string key, OpResult result,
                absl::StatusOr<MutationOutcome> outcome,
                absl::AnyInvocable<void(TenantState&)> apply,
                absl::AnyInvocable<void(TenantState&)> undo, ResultCallback done);

  void Credit(const std::string& tenant, const std::string& account_id, int64_t amount,
              TransferKind kind, absl::string_view source, const std::string& memo,
              const IdemArgs& idem, ResultCallback done);
  // Answers `done` and returns true, except for a hold id memory does not know when
  // !unknown_hold_is_direct: then returns false, `done` untouched, nothing changed (the caller
  // asks the store, then calls again with true: such a hold is then a direct debit).
  bool Spend(const std::string& tenant, const DebitArgs& args, TransferKind kind,
             absl::string_view sink, const std::string& memo, const IdemArgs& idem,
             ResultCallback& done, bool unknown_hold_is_direct);
  // For a Debit naming a hold that memory does not know (forgotten once closed, or closed before
  // this process loaded; Spend found no key of this call in memory): answers `done` and returns
  // true when the store says the hold was captured or released (a refusal, or the replay of this
  // call stored under its key), or when the store cannot be asked. Returns false (`done`
  // untouched) when the Debit goes on.
  bool AnswerForForgottenHold(const std::string& tenant, const DebitArgs& args,
                              const IdemArgs& idem, ResultCallback& done);
  // Releases hold `hold_id`; answers `done` and returns true, except for a hold memory does not
  // know when `stored` is empty: then returns false, `done` untouched, nothing changed (the
  // caller asks the store, then calls again with the stored hold's status).
  bool ReleaseHold(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
                   ResultCallback& done, std::optional<HoldStatus> stored);
  absl::Status LoadUsage(TenantState& t, int64_t now_us);
  struct ResetTally;
  // Queues the resets due for one account; false when the journal is full.
  bool SubmitResets(const std::shared_ptr<TenantState>& t, const std::string& account_id,
                    int64_t period_us, const std::shared_ptr<ResetTally>& tally,
                    DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu);
  void CloseHold(TenantState& t, const std::string& hold_id, HoldState& h, HoldPhase phase)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  int64_t ExpireTenantHolds(const std::shared_ptr<TenantState>& t);
  // The segment an open hold journaled at `now_us` goes to (EngineOptions::hold_segment_span);
  // never lower than one used before, so that segments below it are sealed.
  int64_t CurrentHoldSegment(TenantState& t, int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  int64_t HoldSegmentSpanMicros() const;
  // Records that hold `id` (open) is journaled now, into the current segment; returns it.
  int64_t JournalIntoSegment(TenantState& t, const std::string& id, HoldState& h, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Takes hold `h` out of the count of its segment (it closed, or its journaling was refused).
  void LeaveSegment(TenantState& t, const std::string& id, HoldState& h)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Queues the deletion of the sealed segments whose holds have all closed or expired, and of
  // those compacted (EngineOptions::hold_segment_compact_after) with the rewrite of their open
  // holds.
  void SweepSegments(TenantState& t, int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  int64_t JournalTenantHolds(const std::shared_ptr<TenantState>& t, bool all);
  // The store's row of hold `hold_id` in `status`. A hold not journaled yet also carries its
  // Authorize's fingerprint and answer (from the idempotency cache), so that the one row written
  // for it still replays that Authorize after a restart.
  HoldRecord HoldRow(TenantState& t, const std::string& hold_id, const HoldState& h,
                     HoldStatus status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  void ApplyPostedTransfer(TenantState& t, const TransferRecord& tr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  void RunReconcile(LedgerStore& store, const std::string& tenant, bool fix,
                    const std::string& actor, ReconcileCallback done);

  Journal* const journal_;
  LedgerStore* const reader_;
  const Clock* const clock_;
  const EngineOptions options_;

  mutable absl::Mutex tenants_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<TenantState>> tenants_
      ABSL_GUARDED_BY(tenants_mu_);
  absl::flat_hash_set<std::string> tenants_creating_ ABSL_GUARDED_BY(tenants_mu_);
  std::shared_ptr<TenantState> platform_;  // idempotency scope of operator calls

  std::atomic<uint64_t> resets_performed_{0};

  mutable absl::Mutex keys_mu_;
  absl::flat_hash_map<std::string, ApiKeyRecord> keys_by_id_ ABSL_GUARDED_BY(keys_mu_);
  absl::flat_hash_map<std::string, std::string> key_ids_by_hash_ ABSL_GUARDED_BY(keys_mu_);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_ENGINE_H_
