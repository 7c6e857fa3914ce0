// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/holds.h"

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ledger/errors.h"
#include "ledger/ids.h"
#include "ledger/pricing.h"
#include "ledger/spending_limits.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

// Exactly one of an amount and an estimate, and a valid one.
absl::Status ValidateAmountOrEstimate(int64_t amount, const std::optional<UsageEstimate>& estimate,
                                      bool allow_zero) {
  if (!estimate) return ValidateAmount("amount", amount, allow_zero);
  if (amount != 0) {
    return absl::InvalidArgumentError("amount: give either amount or estimate, not both");
  }
  absl::Status v = ValidateAmount("estimate.input_tokens", estimate->input_tokens, true);
  if (v.ok()) v = ValidateAmount("estimate.max_output_tokens", estimate->max_output_tokens, true);
  if (v.ok() && estimate->input_tokens == 0 && estimate->max_output_tokens == 0) {
    v = absl::InvalidArgumentError("estimate: input_tokens and max_output_tokens are both 0");
  }
  return v;
}

// Exactly one of an amount and usage, and a valid one.
absl::Status ValidateAmountOrUsage(const DebitArgs& args) {
  if (args.occurred_at_us < 0) {
    return absl::InvalidArgumentError("occurred_at: must not be negative");
  }
  if (!args.usage) return ValidateAmount("amount", args.amount);
  if (args.amount != 0) {
    return absl::InvalidArgumentError("amount: give either amount or usage, not both");
  }
  const TokenUsage& u = *args.usage;
  absl::Status v = ValidateAmount("usage.input_tokens", u.input_tokens, true);
  if (v.ok()) v = ValidateAmount("usage.output_tokens", u.output_tokens, true);
  if (v.ok()) v = ValidateAmount("usage.cached_input_tokens", u.cached_input_tokens, true);
  if (v.ok() && u.input_tokens == 0 && u.output_tokens == 0 && u.cached_input_tokens == 0) {
    v = absl::InvalidArgumentError("usage: every token count is 0");
  }
  return v;
}

absl::Status ValidateAuthorize(const AuthorizeArgs& args, const IdemArgs& idem) {
  absl::Status v = ValidateId("account_id", args.account_id);
  if (v.ok()) v = ValidateAmountOrEstimate(args.amount, args.estimate, /*allow_zero=*/false);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (v.ok() && (args.hold_ttl_seconds < 0 || args.hold_ttl_seconds > kHoldTtlSecondsMax)) {
    v = absl::InvalidArgumentError(
        absl::StrCat("hold_ttl_seconds: must be between 0 and ", kHoldTtlSecondsMax));
  }
  if (v.ok()) v = ValidateText("model", args.model);
  if (v.ok()) v = ValidateMetadata("metadata", args.metadata);
  return v;
}

absl::Status ValidateDebit(const DebitArgs& args, const IdemArgs& idem) {
  absl::Status v = ValidateId("account_id", args.account_id);
  if (v.ok()) v = ValidateAmountOrUsage(args);
  if (v.ok() && !args.hold_id.empty()) v = ValidateServerId("hold_id", args.hold_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (v.ok()) v = ValidateText("request_id", args.request_id);
  if (v.ok()) v = ValidateText("model", args.model);
  if (v.ok()) v = ValidateMetadata("metadata", args.metadata);
  return v;
}

// The amount of an Authorize or a Check: as given, or its estimate priced at `now_us`.
absl::StatusOr<int64_t> AmountOf(const TenantState& t, int64_t amount,
                                 const std::optional<UsageEstimate>& estimate,
                                 const std::string& model, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (!estimate) return amount;
  const TokenUsage usage{.input_tokens = estimate->input_tokens,
                         .output_tokens = estimate->max_output_tokens};
  absl::StatusOr<Priced> priced = t.prices.Price(model, usage, now_us, t.record.unit, "estimate");
  if (!priced.ok()) return priced.status();
  return priced->amount;
}

// The amount of a Debit: as given, or its usage priced at the time it occurred.
absl::StatusOr<Priced> DebitAmount(const TenantState& t, const DebitArgs& args, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (!args.usage) return Priced{.amount = args.amount};
  if (args.occurred_at_us > now_us) {
    return absl::InvalidArgumentError("occurred_at: in the future (it must be at most now)");
  }
  const int64_t at = args.occurred_at_us == 0 ? now_us : args.occurred_at_us;
  return t.prices.Price(args.model, *args.usage, at, t.record.unit, "usage");
}

absl::Status AlreadyCaptured() {
  return absl::FailedPreconditionError("hold_id: already captured");
}

// Reserves (sign +1) or gives back (-1) what a debit in flight holds: its amount as pending on
// both accounts, the captured hold's amount out of `held`, and the hold's phase.
// A debit of a limited model counts its amount as pending against that model's limit
// (`pending_model`, empty: none).
void ReserveSpend(TenantState& ts, const TransferRecord& tr, const std::string& hold_id,
                  int64_t captured, const std::string& pending_model, int sign)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
  AccountState& acc = ts.accounts.at(tr.debit_account_id);
  acc.pending_debit += sign * tr.amount;
  AddHeld(ts, acc, -sign * captured);
  if (!pending_model.empty()) acc.Models().UsageOf(pending_model).pending += sign * tr.amount;
  ts.accounts.at(tr.credit_account_id).pending_credit += sign * tr.amount;
  if (!hold_id.empty()) {
    HoldState& hold = ts.holds.at(hold_id);
    AddModelHeld(acc, hold.model, -sign * captured);
    hold.phase = sign > 0 ? HoldPhase::kCapturing : HoldPhase::kOpen;
  }
}

// Takes (sign +1) or gives back (-1) a release in flight: the hold's amount out of `held`.
void ReserveRelease(TenantState& ts, const std::string& hold_id, int64_t released, int sign)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
  HoldState& hs = ts.holds.at(hold_id);
  AccountState& acc = ts.accounts.at(hs.account_id);
  AddHeld(ts, acc, -sign * released);
  AddModelHeld(acc, hs.model, -sign * released);
  hs.phase = sign > 0 ? HoldPhase::kReleasing : HoldPhase::kOpen;
}

}  // namespace

// ---- Authorize and Check ----------------------------------------------------------------------

absl::StatusOr<OpResult> Holds::Authorize(const std::string& tenant, const AuthorizeArgs& args,
                                          const IdemArgs& idem) {
  if (absl::Status v = ValidateAuthorize(args, idem); !v.ok()) return v;
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return TenantNotFound();
  TenantState& t = *owner;
  absl::MutexLock lock(&t.mu);
  if (IdempotencyEntry* e = t.idempotency.Find(idem.key)) {
    if (e->pending && e->fingerprint == idem.fingerprint) {
      return absl::AbortedError("idempotency_key: the original request is still in flight; retry");
    }
    return Replay(e->fingerprint, e->response, idem.fingerprint);
  }
  auto acct = t.accounts.find(args.account_id);
  if (acct == t.accounts.end()) return AccountNotFound(args.account_id);
  AccountState& a = acct->second;
  if (a.status == AccountStatus::kClosed) return AccountClosed();
  const int64_t now = cx_.clock->NowMicros();
  absl::StatusOr<int64_t> amount = AmountOf(t, args.amount, args.estimate, args.model, now);
  if (!amount.ok()) return amount.status();
  OpResult result{.amount = *amount, .available = a.Available()};
  result.deny_reason = Decide(t, a, *amount, now, args.model);
  if (result.deny_reason != DenyReason::kNone) {
    result.decision = Decision::kDenied;
  } else if (absl::Status s = ReserveHold(t, a, args, *amount, now, result); !s.ok()) {
    return s;
  }
  std::string response = EncodeResult(result);
  if (result.decision == Decision::kAllowed) {
    if (absl::Status s = PlaceHold(t, a, args, idem, now, result, response); !s.ok()) return s;
  }
  // A denial changes nothing and is not journaled: its key is remembered in memory only, and a
  // retry after a restart is decided afresh.
  t.idempotency.Insert(idem.key,
                       IdempotencyEntry{idem.fingerprint, false, std::move(response), {}});
  return result;
}

absl::Status Holds::ReserveHold(TenantState& t, AccountState& a, const AuthorizeArgs& args,
                                int64_t amount, int64_t now_us, OpResult& result) const {
  if (t.open_holds >= cx_.options.open_holds_max) {
    return absl::ResourceExhaustedError("too many open holds in this tenant");
  }
  if (t.journal_full) {
    return absl::ResourceExhaustedError(
        "write queue full: holds cannot be journaled now; retry with backoff");
  }
  int64_t held;
  if (!CheckedAdd(a.held, amount, held)) return Overflow("amount");
  const int64_t ttl = args.hold_ttl_seconds == 0 ? kHoldTtlSecondsDefault : args.hold_ttl_seconds;
  result.id = NewId("h_");
  result.amount = amount;
  result.expires_at_us = now_us + ttl * 1'000'000;
  result.available = SaturatedSub(result.available, amount);
  return absl::OkStatus();
}

absl::Status Holds::PlaceHold(TenantState& t, AccountState& a, const AuthorizeArgs& args,
                              const IdemArgs& idem, int64_t now_us, const OpResult& result,
                              const std::string& response) const {
  const std::string& hold_id = result.id;
  // The hold row carries the answer (one row per Authorize), and the call does not wait for
  // its commit. With a journaling delay the row is written by JournalDue once the delay is
  // over, or in its closed state by a capture or release before then; without one, it is
  // queued now and durable within one commit interval. If that commit fails, the hold stays a
  // valid reservation here and is written with its capture or release.
  const bool delayed = cx_.options.hold_journal_delay > absl::ZeroDuration();
  int64_t segment = 0;
  std::string limited = LimitedModel(a, args.model);
  if (!delayed) {
    segment = journal_.CurrentSegment(t, now_us);
    Mutation m;
    m.holds.push_back(HoldRecord{.tenant_id = t.record.tenant_id,
                                 .hold_id = hold_id,
                                 .account_id = args.account_id,
                                 .amount = result.amount,
                                 .created_at_us = now_us,
                                 .expires_at_us = result.expires_at_us,
                                 .status = HoldStatus::kOpen,
                                 .idempotency_key = idem.key,
                                 .model = limited,
                                 .fingerprint = idem.fingerprint,
                                 .response = response,
                                 .segment = segment});
    if (absl::Status s = cx_.journal->SubmitDeferred(std::move(m), nullptr); !s.ok()) return s;
  } else {
    t.unjournaled.emplace_back(now_us + absl::ToInt64Microseconds(cx_.options.hold_journal_delay),
                               hold_id);
  }
  AddHeld(t, a, result.amount);
  AddModelHeld(a, limited, result.amount);
  ++t.open_holds;
  t.expiry.emplace(std::make_pair(result.expires_at_us, hold_id), segment);
  t.holds[hold_id] = HoldState{.account_id = args.account_id,
                               .amount = result.amount,
                               .created_at_us = now_us,
                               .expires_at_us = result.expires_at_us,
                               .phase = HoldPhase::kOpen,
                               .journaled = !delayed,
                               .answer_known = true,
                               .available_after = result.available,
                               .fingerprint = idem.fingerprint,
                               .idempotency_key = idem.key,
                               .model = std::move(limited),
                               .segment = segment};
  if (segment != 0) {
    HoldSegmentState& seg = t.hold_segments[segment];
    ++seg.open;
    ++seg.journaled;
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckResult> Holds::Check(const std::string& tenant, const CheckArgs& args) {
  absl::Status v = ValidateId("account_id", args.account_id);
  if (v.ok()) v = ValidateAmountOrEstimate(args.amount, args.estimate, /*allow_zero=*/true);
  if (v.ok()) v = ValidateText("model", args.model);
  if (!v.ok()) return v;
  const std::string& account_id = args.account_id;
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return TenantNotFound();
  TenantState& t = *owner;
  absl::MutexLock lock(&t.mu);
  auto acct = t.accounts.find(account_id);
  if (acct == t.accounts.end()) return AccountNotFound(account_id);
  AccountState& a = acct->second;
  const int64_t now = cx_.clock->NowMicros();
  absl::StatusOr<int64_t> amount = AmountOf(t, args.amount, args.estimate, args.model, now);
  if (!amount.ok()) return amount.status();
  CheckResult r{.available = a.Available(), .amount = *amount};
  r.deny_reason = Decide(t, a, *amount, now, args.model);
  r.would_allow = r.deny_reason == DenyReason::kNone;
  return r;
}

// ---- Debit -----------------------------------------------------------------------------------

void Holds::Debit(const std::string& tenant, const DebitArgs& args, const IdemArgs& idem,
                  ResultCallback done) {
  if (absl::Status v = ValidateDebit(args, idem); !v.ok()) return std::move(done)(v);
  {
    std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
    if (!owner) return std::move(done)(TenantNotFound());
    TenantState& t = *owner;
    DeferredAnswers later;  // given after the lock is released
    absl::MutexLock lock(&t.mu);
    if (AnswerFromMemory(t, args.account_id, idem, done, later)) return;
    if (args.hold_id.empty() || t.holds.contains(args.hold_id)) {
      return SpendLocked(t, args, TransferKind::kUsage, kUsageAccount, "", idem, std::move(done),
                         later);
    }
  }
  // Memory knows neither the hold (forgotten once closed, or closed before this process
  // loaded) nor this call's key: the store says how the hold closed, off the tenant's lock.
  if (std::optional<absl::StatusOr<OpResult>> answer = StoredAnswerForDebit(tenant, args, idem)) {
    return std::move(done)(*std::move(answer));
  }
  // Unknown to the store, open there but forgotten here (it expired), or expired: the debit
  // goes on, as a direct debit unless the tenant was reloaded with the hold meanwhile.
  Spend(tenant, args, TransferKind::kUsage, kUsageAccount, "", idem, std::move(done));
}

void Holds::Spend(const std::string& tenant, const DebitArgs& args, TransferKind kind,
                  absl::string_view sink, const std::string& memo, const IdemArgs& idem,
                  ResultCallback done) {
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromMemory(t, args.account_id, idem, done, later)) return;
  SpendLocked(t, args, kind, sink, memo, idem, std::move(done), later);
}

bool Holds::AnswerFromMemory(TenantState& t, const std::string& account_id, const IdemArgs& idem,
                             ResultCallback& done, DeferredAnswers& later) const {
  if (AnswerFromIdempotency(t, idem, done, later)) return true;
  auto acct = t.accounts.find(account_id);
  if (acct == t.accounts.end()) {
    later.Answer(std::move(done), AccountNotFound(account_id));
    return true;
  }
  if (acct->second.status == AccountStatus::kClosed) {
    later.Answer(std::move(done), AccountClosed());
    return true;
  }
  return false;
}

std::optional<absl::StatusOr<OpResult>> Holds::StoredAnswerForDebit(const std::string& tenant,
                                                                    const DebitArgs& args,
                                                                    const IdemArgs& idem) const {
  absl::StatusOr<std::optional<HoldRecord>> stored = cx_.reader->GetHold(tenant, args.hold_id);
  if (!stored.ok()) return stored.status();
  const std::optional<HoldRecord>& h = *stored;
  if (!h || (h->status != HoldStatus::kCaptured && h->status != HoldStatus::kReleased)) {
    return std::nullopt;
  }
  if (h->account_id != args.account_id) {
    return absl::InvalidArgumentError("hold_id: the hold belongs to another account");
  }
  // This very call may have been the capture: its key, evicted from memory, is in the store.
  absl::StatusOr<std::optional<IdempotencyRecord>> mine =
      cx_.reader->GetIdempotency(tenant, idem.key);
  if (!mine.ok()) return mine.status();
  if (mine->has_value()) return Replay((*mine)->fingerprint, (*mine)->response, idem.fingerprint);
  if (h->status == HoldStatus::kCaptured) return AlreadyCaptured();
  return absl::FailedPreconditionError("hold_id: already released");
}

absl::StatusOr<int64_t> Holds::ResolveCapture(TenantState& t, const DebitArgs& args, int64_t now_us,
                                              Mutation& m) const {
  if (args.hold_id.empty()) return 0;
  auto h = t.holds.find(args.hold_id);
  if (h == t.holds.end()) return 0;  // the store was asked: a direct debit
  HoldState& hold = h->second;
  if (hold.account_id != args.account_id) {
    return absl::InvalidArgumentError("hold_id: the hold belongs to another account");
  }
  if (hold.phase == HoldPhase::kCapturing || hold.phase == HoldPhase::kCaptured) {
    return AlreadyCaptured();
  }
  if (hold.phase == HoldPhase::kReleasing || hold.phase == HoldPhase::kReleased) {
    return absl::FailedPreconditionError("hold_id: already released");
  }
  if (hold.phase == HoldPhase::kOpen && hold.expires_at_us <= now_us) {
    journal_.Close(t, args.hold_id, hold, HoldPhase::kExpired);  // then a direct debit
    m.holds.push_back(journal_.Row(t, args.hold_id, hold, HoldStatus::kExpired));
    return 0;
  }
  if (hold.phase != HoldPhase::kOpen) return 0;  // expired: a direct debit
  m.holds.push_back(journal_.Row(t, args.hold_id, hold, HoldStatus::kCaptured));
  return hold.amount;
}

void Holds::SpendLocked(TenantState& t, const DebitArgs& args, TransferKind kind,
                        absl::string_view sink, const std::string& memo, const IdemArgs& idem,
                        ResultCallback done, DeferredAnswers& later) {
  AccountState& a = t.accounts.at(args.account_id);
  const int64_t now = cx_.clock->NowMicros();
  absl::StatusOr<Priced> priced = DebitAmount(t, args, now);
  if (!priced.ok()) return later.Answer(std::move(done), priced.status());
  const int64_t amount = priced->amount;
  Mutation m;
  absl::StatusOr<int64_t> captured = ResolveCapture(t, args, now, m);
  if (!captured.ok()) return later.Answer(std::move(done), captured.status());
  AccountState& out = t.accounts.at(sink);
  if (!FitsAdd(a.posted.debits, a.pending_debit, amount) ||
      !FitsAdd(a.posted.spent, a.pending_debit, amount) ||
      !FitsAdd(out.posted.credits, out.pending_credit, amount)) {
    return later.Answer(std::move(done), Overflow("amount"));
  }
  std::string hold_id = *captured > 0 ? args.hold_id : "";
  TransferRecord tr{.tenant_id = t.record.tenant_id,
                    .transfer_id = NewId("t_"),
                    .debit_account_id = args.account_id,
                    .credit_account_id = std::string(sink),
                    .amount = amount,
                    .kind = kind,
                    .created_at_us = now,
                    .request_id = args.request_id,
                    .model = args.model,
                    .metadata = args.metadata,
                    .memo = memo,
                    .hold_id = hold_id,
                    .idempotency_key = idem.key,
                    .usage = args.usage,
                    .price_effective_at_us = priced->price_effective_at_us};
  if (args.occurred_at_us != 0) tr.occurred_at_us = args.occurred_at_us;
  const int64_t after = SaturatedSub(SaturatedAdd(a.Available(), *captured), amount);
  OpResult result{.id = tr.transfer_id,
                  .amount = kind == TransferKind::kAdjustment ? -amount : amount,
                  .available = after,
                  .overage = static_cast<__int128>(after) + a.policy.overdraft_limit < 0,
                  .price_effective_at_us = priced->price_effective_at_us.value_or(0)};
  std::string pending_model = kind == TransferKind::kUsage ? LimitedModel(a, args.model) : "";
  m.transfers.push_back(tr);
  auto apply = [clock = cx_.clock, journal = &journal_, tr, hold_id, captured = *captured,
                pending_model](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    ReserveSpend(ts, tr, hold_id, captured, pending_model, -1);
    ApplyPostedTransfer(ts.accounts, tr);
    if (tr.kind == TransferKind::kUsage) {
      CountUsage(ts, ts.accounts.at(tr.debit_account_id), tr.amount, tr.created_at_us,
                 clock->NowMicros(), tr.model);
    }
    if (!hold_id.empty()) journal->Close(ts, hold_id, ts.holds.at(hold_id), HoldPhase::kCaptured);
  };
  auto undo = [tr, hold_id, captured = *captured, pending_model](TenantState& ts)
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
                    ReserveSpend(ts, tr, hold_id, captured, pending_model, -1);
                  };
  if (SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later)) {
    ReserveSpend(t, tr, hold_id, *captured, pending_model, +1);
  }
}

// ---- Release ---------------------------------------------------------------------------------

void Holds::Release(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
                    ResultCallback done) {
  absl::Status v = ValidateServerId("hold_id", hold_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  {
    std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
    if (!owner) return std::move(done)(TenantNotFound());
    TenantState& t = *owner;
    DeferredAnswers later;  // given after the lock is released
    absl::MutexLock lock(&t.mu);
    if (AnswerFromIdempotency(t, idem, done, later)) return;
    if (auto h = t.holds.find(hold_id); h != t.holds.end()) {
      return ReleaseKnown(t, hold_id, h->second, idem, std::move(done), later);
    }
  }
  // Memory does not know the hold (forgotten once closed, or closed before this process loaded):
  // the store says whether and how it closed, off the tenant's lock.
  absl::StatusOr<std::optional<HoldRecord>> stored = cx_.reader->GetHold(tenant, hold_id);
  if (!stored.ok()) return std::move(done)(stored.status());
  if (!stored->has_value() || (*stored)->status == HoldStatus::kOpen) {
    return std::move(done)(
        absl::NotFoundError(absl::StrCat("hold_id: hold '", hold_id, "' not found")));
  }
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  // A retry of this call, or a reload with the hold, may have come meanwhile.
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  if (auto h = t.holds.find(hold_id); h != t.holds.end()) {
    return ReleaseKnown(t, hold_id, h->second, idem, std::move(done), later);
  }
  ReleaseForgotten(t, hold_id, (*stored)->status, idem, std::move(done), later);
}

void Holds::ReleaseForgotten(TenantState& t, const std::string& hold_id, HoldStatus stored,
                             const IdemArgs& idem, ResultCallback done, DeferredAnswers& later) {
  if (stored == HoldStatus::kCaptured) return later.Answer(std::move(done), AlreadyCaptured());
  // Released or expired long ago: nothing left to release, as for a remembered one (the answer
  // is stored under this call's key, or this call's stored answer is replayed).
  SubmitLocked(
      cx_, t, idem, OpResult{.id = hold_id}, Mutation{}, [](TenantState&) {}, [](TenantState&) {},
      std::move(done), later);
}

void Holds::ReleaseKnown(TenantState& t, const std::string& hold_id, HoldState& hold,
                         const IdemArgs& idem, ResultCallback done, DeferredAnswers& later) {
  if (hold.phase == HoldPhase::kCapturing || hold.phase == HoldPhase::kCaptured) {
    return later.Answer(std::move(done), AlreadyCaptured());
  }
  const int64_t now = cx_.clock->NowMicros();
  Mutation m;
  OpResult result{.id = hold_id};
  HoldRecord rec = journal_.Row(t, hold_id, hold, HoldStatus::kReleased);
  if (hold.phase == HoldPhase::kOpen && hold.expires_at_us <= now) {
    journal_.Close(t, hold_id, hold, HoldPhase::kExpired);
    rec.status = HoldStatus::kExpired;
    m.holds.push_back(rec);
  } else if (hold.phase == HoldPhase::kOpen) {
    result.amount = hold.amount;
    m.holds.push_back(rec);
  }
  const int64_t released = result.amount;
  auto apply = [journal = &journal_, hold_id, released](TenantState& ts)
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
                     if (released == 0) return;
                     ReserveRelease(ts, hold_id, released, -1);
                     journal->Close(ts, hold_id, ts.holds.at(hold_id), HoldPhase::kReleased);
                   };
  auto undo = [hold_id, released](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    if (released > 0) ReserveRelease(ts, hold_id, released, -1);
  };
  if (SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later) &&
      released > 0) {
    ReserveRelease(t, hold_id, released, +1);
  }
}

}  // namespace tokenledger
