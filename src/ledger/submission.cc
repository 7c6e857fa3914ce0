// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/submission.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "ledger/invariant.h"

namespace tokenledger {
namespace {

// The audit event of a change: what it touched, described for people.
AuditRecord AuditOf(const Mutation& m, const IdemArgs& idem, int64_t now_us) {
  AuditRecord a{.tenant_id = MutationTenant(m),
                .actor_key_id = idem.actor,
                .action = idem.audit_action,
                .created_at_us = now_us};
  if (m.tenant) {
    a.target = m.tenant->tenant_id;
    a.detail =
        absl::StrCat("tenant created: unit ", m.tenant->unit, ", timezone ", m.tenant->timezone);
  } else if (m.api_key) {
    a.target = m.api_key->key_id;
    a.detail = m.api_key->revoked ? "key revoked"
                                  : absl::StrCat("key created, role ", RoleName(m.api_key->role));
  } else if (m.account) {
    const AccountRecord& r = *m.account;
    a.target = r.account_id;
    a.detail = absl::StrCat("account set: status ", static_cast<int>(r.status), ", team '",
                            r.team_id, "', ");
    if (r.policy) {
      absl::StrAppend(&a.detail, "policy monthly_allocation ", r.policy->monthly_allocation,
                      ", rollover_max ", r.policy->rollover_max, ", daily_limit ",
                      r.policy->daily_limit, ", overdraft_limit ", r.policy->overdraft_limit);
      for (const ModelLimit& l : r.policy->model_limits) {
        absl::StrAppend(&a.detail, ", model_limit '", l.model, "' ", l.limit);
      }
    } else {
      absl::StrAppend(&a.detail, "no policy");
    }
  } else if (m.team) {
    a.target = m.team->team_id;
    a.detail = absl::StrCat("team set: monthly_cap ", m.team->monthly_cap);
  } else if (!m.prices.empty()) {
    const PriceRecord& p = m.prices.front();
    a.target = p.model;
    a.detail = absl::StrCat("price set: per million input ", p.input_per_million, ", output ",
                            p.output_per_million, ", cached input ", p.cached_input_per_million,
                            ", effective at ", p.effective_at_us);
  } else if (!m.transfers.empty()) {
    const TransferRecord& t = m.transfers.front();
    const bool credit = t.credit_account_id.front() != '@';
    a.target = credit ? t.credit_account_id : t.debit_account_id;
    a.detail = absl::StrCat(TransferKindName(t.kind), " ", credit ? "+" : "-", t.amount, " (",
                            t.transfer_id, ")", t.memo.empty() ? "" : ": ", t.memo);
  }
  return a;
}

// Answers a submitted call once its commit is done: applies (or undoes) its change under the
// tenant's lock, then answers the call and the retries that waited for it, with no lock held.
void Complete(std::shared_ptr<TenantState> t, const std::string& key, const OpResult& result,
              absl::StatusOr<MutationOutcome> outcome, StateChange apply, StateChange undo,
              ResultCallback done) {
  absl::StatusOr<OpResult> answer = result;
  std::vector<ResultCallback> waiters;
  {
    TenantState& ts = *t;
    absl::MutexLock lock(&ts.mu);
    IdempotencyEntry* e = ts.idempotency.Find(key);
    TL_INVARIANT(e != nullptr && e->pending);
    waiters = std::move(e->waiters);
    if (outcome.ok() && outcome->committed) {
      if (apply) apply(ts);
      e->pending = false;
    } else if (outcome.ok()) {
      // The key was already in the store (older than the memory window): replay what it holds.
      if (undo) undo(ts);
      const IdempotencyRecord& stored = outcome->existing;
      answer = Replay(stored.fingerprint, stored.response, e->fingerprint);
      *e = IdempotencyEntry{stored.fingerprint, false, stored.response, {}};
    } else {
      if (undo) undo(ts);
      answer = outcome.status();
      ts.idempotency.Erase(key);  // nothing was recorded: a retry may try again
    }
  }
  std::move(done)(answer);
  for (auto& w : waiters) std::move(w)(answer);
}

}  // namespace

bool AnswerFromIdempotency(TenantState& t, const IdemArgs& idem, ResultCallback& done,
                           DeferredAnswers& later) {
  IdempotencyEntry* e = t.idempotency.Find(idem.key);
  if (e == nullptr) return false;
  if (e->pending && e->fingerprint == idem.fingerprint) {
    e->waiters.push_back(std::move(done));
    return true;
  }
  later.Answer(std::move(done), Replay(e->fingerprint, e->response, idem.fingerprint));
  return true;
}

bool SubmitLocked(LedgerContext& cx, TenantState& t, const IdemArgs& idem, const OpResult& result,
                  Mutation m, StateChange apply, StateChange undo, ResultCallback done,
                  DeferredAnswers& later) {
  std::string response = EncodeResult(result);
  m.idempotency = IdempotencyRecord{t.record.tenant_id, idem.key, idem.fingerprint, response};
  if (!idem.audit_action.empty()) m.audit.push_back(AuditOf(m, idem, cx.clock->NowMicros()));
  // Held in a shared slot so that the call can still be answered when Submit refuses the work.
  auto slot = std::make_shared<ResultCallback>(std::move(done));
  absl::Status s =
      cx.journal->Submit(std::move(m), [t = t.shared_from_this(), key = idem.key, result,
                                        apply = std::move(apply), undo = std::move(undo),
                                        slot](absl::StatusOr<MutationOutcome> outcome) mutable {
        Complete(std::move(t), key, result, std::move(outcome), std::move(apply), std::move(undo),
                 std::move(*slot));
      });
  if (!s.ok()) {
    later.Answer(std::move(*slot), s);
    return false;
  }
  t.idempotency.Insert(idem.key, IdempotencyEntry{idem.fingerprint, true, response, {}});
  return true;
}

}  // namespace tokenledger
