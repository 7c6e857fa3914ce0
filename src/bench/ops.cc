// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "bench/ops.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench_floor.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::bench {
namespace {

// A fresh context for one call: the bearer key and the call's deadline.
grpc::ClientContext* Fresh(std::optional<grpc::ClientContext>& ctx, const std::string& bearer,
                           absl::Duration timeout) {
  ctx.emplace();
  if (!bearer.empty()) ctx->AddMetadata("authorization", bearer);
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMicroseconds(timeout));
  return &*ctx;
}

std::string IdemKey(const OpEnv& env, const std::string& tag, const Slot& slot) {
  return absl::StrCat(env.run_id, "-", tag, "-", slot.index(), "-", slot.seq());
}

const std::string& RandomAccount(const OpEnv& env, Slot& slot) {
  return env.accounts[slot.rng()() % env.accounts.size()];
}

// Every Start below ends with the call that starts the RPC: once it is made, the completion
// (and so the next Start) may already run on another thread.

class FloorOp final : public SlotOp {
 public:
  FloorOp(const OpEnv* env, const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env), stub_(floor::Floor::NewStub(ch)) {}
  void Start(Slot& slot) override {
    req_.set_account(RandomAccount(env_, slot));
    req_.set_amount(1);
    stub_->async()->Ping(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &req_, &resp_,
                         [&slot](grpc::Status s) { slot.Done(s); });
  }

 private:
  const OpEnv& env_;
  std::unique_ptr<floor::Floor::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  floor::PingRequest req_;
  floor::PingReply resp_;
};

// Authorize 1, or (`priced`) the estimate of kEstimate* tokens of env->model.
class AuthorizeOp final : public SlotOp {
 public:
  AuthorizeOp(const OpEnv* env, const std::string& tag, bool priced,
              const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env), tag_(tag), priced_(priced), stub_(v1::AuthorizationService::NewStub(ch)) {
    if (priced_) {
      req_.set_model(env_.model);
      req_.mutable_estimate()->set_input_tokens(kEstimateInputTokens);
      req_.mutable_estimate()->set_max_output_tokens(kEstimateMaxOutputTokens);
    } else {
      req_.set_amount(1);
    }
  }
  void Start(Slot& slot) override {
    req_.set_account_id(RandomAccount(env_, slot));
    req_.set_idempotency_key(IdemKey(env_, tag_, slot));
    req_.set_hold_ttl_seconds(60);
    stub_->async()->Authorize(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &req_, &resp_,
                              [this, &slot](grpc::Status s) { Answered(slot, s); });
  }

 private:
  void Answered(Slot& slot, const grpc::Status& s) {
    if (!s.ok()) return slot.Done(s);
    if (resp_.decision() != v1::ALLOWED) {
      return slot.Done(s, false, absl::StrCat("Authorize DENIED, reason ", resp_.deny_reason()));
    }
    if (priced_ && resp_.amount() != kPricedEstimateAmount) {
      return slot.Done(s, false,
                       absl::StrCat("priced Authorize held ", resp_.amount(), ", expected ",
                                    kPricedEstimateAmount));
    }
    slot.Done(s);
  }

  const OpEnv& env_;
  const std::string tag_;
  const bool priced_;
  std::unique_ptr<v1::AuthorizationService::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  v1::AuthorizeRequest req_;
  v1::AuthorizeResponse resp_;
};

class CheckOp final : public SlotOp {
 public:
  CheckOp(const OpEnv* env, const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env), stub_(v1::AuthorizationService::NewStub(ch)) {}
  void Start(Slot& slot) override {
    req_.set_account_id(RandomAccount(env_, slot));
    req_.set_amount(1);
    stub_->async()->Check(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &req_, &resp_,
                          [this, &slot](grpc::Status s) {
                            const bool allow = resp_.would_allow();
                            slot.Done(s, allow, s.ok() && !allow ? "Check: would not allow" : "");
                          });
  }

 private:
  const OpEnv& env_;
  std::unique_ptr<v1::AuthorizationService::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  v1::CheckRequest req_;
  v1::CheckResponse resp_;
};

// A direct Debit of 1, or (`priced`) of kDebit* tokens of env->model.
class DebitOp final : public SlotOp {
 public:
  DebitOp(const OpEnv* env, const std::string& tag, bool hot, bool priced,
          const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env),
        tag_(tag),
        hot_(hot),
        priced_(priced),
        stub_(v1::AuthorizationService::NewStub(ch)) {
    if (priced_) {
      req_.set_model(env_.model);
      req_.mutable_usage()->set_input_tokens(kDebitInputTokens);
      req_.mutable_usage()->set_output_tokens(kDebitOutputTokens);
      req_.mutable_usage()->set_cached_input_tokens(kDebitCachedInputTokens);
    } else {
      req_.set_amount(1);
    }
  }
  void Start(Slot& slot) override {
    req_.set_account_id(hot_ ? env_.hot_account : RandomAccount(env_, slot));
    req_.set_idempotency_key(IdemKey(env_, tag_, slot));
    stub_->async()->Debit(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &req_, &resp_,
                          [this, &slot](grpc::Status s) {
                            if (!s.ok() || !priced_ || resp_.amount() == kPricedDebitAmount) {
                              return slot.Done(s);
                            }
                            slot.Done(s, false,
                                      absl::StrCat("priced Debit charged ", resp_.amount(),
                                                   ", expected ", kPricedDebitAmount));
                          });
  }

 private:
  const OpEnv& env_;
  const std::string tag_;
  const bool hot_;
  const bool priced_;
  std::unique_ptr<v1::AuthorizationService::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  v1::DebitRequest req_;
  v1::DebitResponse resp_;
};

// Authorize 1, then Debit 1 capturing that hold: what a gateway does around each model call.
class GatewayCycleOp final : public SlotOp {
 public:
  GatewayCycleOp(const OpEnv* env, const std::string& tag, const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env), tag_(tag), stub_(v1::AuthorizationService::NewStub(ch)) {}
  void Start(Slot& slot) override {
    areq_.set_account_id(RandomAccount(env_, slot));
    areq_.set_amount(1);
    areq_.set_idempotency_key(IdemKey(env_, tag_ + "a", slot));
    areq_.set_hold_ttl_seconds(60);
    stub_->async()->Authorize(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &areq_, &aresp_,
                              [this, &slot](grpc::Status s) { Authorized(slot, s); });
  }

 private:
  void Authorized(Slot& slot, const grpc::Status& s) {
    if (!s.ok()) return slot.Done(s);
    if (aresp_.decision() != v1::ALLOWED) {
      return slot.Done(s, false, absl::StrCat("Authorize DENIED, reason ", aresp_.deny_reason()));
    }
    dreq_.set_account_id(areq_.account_id());
    dreq_.set_hold_id(aresp_.hold_id());
    dreq_.set_amount(1);
    dreq_.set_idempotency_key(IdemKey(env_, tag_ + "d", slot));
    stub_->async()->Debit(Fresh(ctx_, env_.gateway_bearer, env_.call_timeout), &dreq_, &dresp_,
                          [&slot](grpc::Status s2) { slot.Done(s2); });
  }

  const OpEnv& env_;
  const std::string tag_;
  std::unique_ptr<v1::AuthorizationService::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  v1::AuthorizeRequest areq_;
  v1::AuthorizeResponse aresp_;
  v1::DebitRequest dreq_;
  v1::DebitResponse dresp_;
};

// UpsertAccount, then Grant it env->grant_amount.
class SetupOp final : public SlotOp {
 public:
  SetupOp(const OpEnv* env, const std::string& tag, const std::shared_ptr<grpc::Channel>& ch)
      : env_(*env), tag_(tag), stub_(v1::BudgetService::NewStub(ch)) {}
  void Start(Slot& slot) override {
    const size_t i = static_cast<size_t>(slot.ticket());
    const std::string& account = i < env_.accounts.size() ? env_.accounts[i] : env_.hot_account;
    ureq_.set_account_id(account);
    ureq_.set_idempotency_key(IdemKey(env_, tag_ + "u", slot));
    stub_->async()->UpsertAccount(Fresh(ctx_, env_.hr_bearer, env_.call_timeout), &ureq_, &uresp_,
                                  [this, &slot](grpc::Status s) { Upserted(slot, s); });
  }

 private:
  void Upserted(Slot& slot, const grpc::Status& s) {
    if (!s.ok()) return slot.Done(s);
    greq_.set_account_id(ureq_.account_id());
    greq_.set_amount(env_.grant_amount);
    greq_.set_memo("tokenledger-bench");
    greq_.set_idempotency_key(IdemKey(env_, tag_ + "g", slot));
    stub_->async()->Grant(Fresh(ctx_, env_.hr_bearer, env_.call_timeout), &greq_, &gresp_,
                          [&slot](grpc::Status s2) { slot.Done(s2); });
  }

  const OpEnv& env_;
  const std::string tag_;
  std::unique_ptr<v1::BudgetService::Stub> stub_;
  std::optional<grpc::ClientContext> ctx_;
  v1::UpsertAccountRequest ureq_;
  v1::UpsertAccountResponse uresp_;
  v1::GrantRequest greq_;
  v1::GrantResponse gresp_;
};

}  // namespace

OpFactory FloorOps(const OpEnv* env) {
  return [env](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<FloorOp>(env, ch);
  };
}

OpFactory AuthorizeOps(const OpEnv* env, std::string tag) {
  return [env, tag](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<AuthorizeOp>(env, tag, /*priced=*/false, ch);
  };
}

OpFactory PricedAuthorizeOps(const OpEnv* env, std::string tag) {
  return [env, tag](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<AuthorizeOp>(env, tag, /*priced=*/true, ch);
  };
}

OpFactory CheckOps(const OpEnv* env) {
  return [env](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<CheckOp>(env, ch);
  };
}

OpFactory DebitOps(const OpEnv* env, std::string tag, bool hot) {
  return [env, tag, hot](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<DebitOp>(env, tag, hot, /*priced=*/false, ch);
  };
}

OpFactory PricedDebitOps(const OpEnv* env, std::string tag) {
  return [env, tag](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<DebitOp>(env, tag, /*hot=*/false, /*priced=*/true, ch);
  };
}

OpFactory GatewayCycleOps(const OpEnv* env, std::string tag) {
  return [env, tag](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<GatewayCycleOp>(env, tag, ch);
  };
}

OpFactory SetupOps(const OpEnv* env, std::string tag) {
  return [env, tag](int, const std::shared_ptr<grpc::Channel>& ch) {
    return std::make_unique<SetupOp>(env, tag, ch);
  };
}

}  // namespace tokenledger::bench
