// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// End to end over gRPC, as a gateway uses prices: an admin sets the price book, a gateway
// authorizes with an estimate and debits with the tokens the call used (no amounts anywhere),
// hr reads the balance by model and the transfer with its tokens; and the book outlives a
// restart of the daemon (reloaded from PostgreSQL).
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;

class PricesEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.Start();
    keys_ = MakeTenant(daemon_);
    Connect();
  }
  void Connect() {
    auto ch = daemon_.Channel();
    admin_ = v1::AdminService::NewStub(ch);
    budget_ = v1::BudgetService::NewStub(ch);
    auth_ = v1::AuthorizationService::NewStub(ch);
  }
  grpc::Status SetPrice(const std::string& key, const std::string& model, int64_t in, int64_t out,
                        int64_t cached, int64_t effective_at, v1::SetPriceResponse* resp) {
    v1::SetPriceRequest req;
    req.set_model(model);
    req.set_input_per_million(in);
    req.set_output_per_million(out);
    req.set_cached_input_per_million(cached);
    req.set_effective_at(effective_at);
    req.set_idempotency_key("price-" + model + "-" + std::to_string(effective_at));
    return admin_->SetPrice(Ctx(key).get(), req, resp);
  }
  void FundAccount(const std::string& account, int64_t amount, int64_t gpt_limit) {
    v1::UpsertAccountRequest up;
    up.set_account_id(account);
    up.set_idempotency_key("up-" + account);
    (*up.mutable_policy()->mutable_model_limits())["gpt-4o"] = gpt_limit;
    v1::UpsertAccountResponse up_resp;
    ASSERT_TRUE(budget_->UpsertAccount(Ctx(keys_.hr).get(), up, &up_resp).ok());
    v1::GrantRequest g;
    g.set_account_id(account);
    g.set_amount(amount);
    g.set_idempotency_key("grant-" + account);
    v1::GrantResponse g_resp;
    ASSERT_TRUE(budget_->Grant(Ctx(keys_.hr).get(), g, &g_resp).ok());
  }
  v1::DebitRequest UsageDebit(const std::string& account, const std::string& model,
                              const std::string& key, int64_t in, int64_t out) {
    v1::DebitRequest req;
    req.set_account_id(account);
    req.set_model(model);
    req.set_idempotency_key(key);
    req.mutable_usage()->set_input_tokens(in);
    req.mutable_usage()->set_output_tokens(out);
    return req;
  }

  Daemon daemon_;
  TenantKeys keys_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  std::unique_ptr<v1::AuthorizationService::Stub> auth_;
};

TEST_F(PricesEndToEnd, AGatewaySendsTokensAndReadsWhatTheyCost) {
  FundAccount("alice", 10'000'000, 1'000'000);
  const int64_t effective = absl::ToUnixMicros(absl::Now()) - 1'000'000;
  v1::SetPriceResponse price;
  ASSERT_TRUE(
      SetPrice(keys_.admin, "gpt-4o", 2'500'000, 10'000'000, 1'250'000, effective, &price).ok());
  EXPECT_EQ(price.price().effective_at(), effective);

  // Authorize with an estimate: 1,234 input and at most 1,000 output tokens = 13,085 held.
  v1::AuthorizeRequest areq;
  areq.set_account_id("alice");
  areq.set_model("gpt-4o");
  areq.set_idempotency_key("a-1");
  areq.mutable_estimate()->set_input_tokens(1234);
  areq.mutable_estimate()->set_max_output_tokens(1000);
  v1::AuthorizeResponse aresp;
  ASSERT_TRUE(auth_->Authorize(Ctx(keys_.gateway).get(), areq, &aresp).ok());
  ASSERT_EQ(aresp.decision(), v1::ALLOWED);
  EXPECT_EQ(aresp.amount(), 13'085);
  EXPECT_EQ(aresp.available(), 10'000'000 - 13'085);

  // Debit the tokens used, capturing the hold: 1,234 x 2.5 + 567 x 10 = 8,755.
  v1::DebitRequest dreq = UsageDebit("alice", "gpt-4o", "d-1", 1234, 567);
  dreq.set_hold_id(aresp.hold_id());
  v1::DebitResponse dresp;
  grpc::Status s = auth_->Debit(Ctx(keys_.gateway).get(), dreq, &dresp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(dresp.amount(), 8755);
  EXPECT_EQ(dresp.available(), 10'000'000 - 8755);
  EXPECT_EQ(dresp.usage().input_tokens(), 1234);
  EXPECT_EQ(dresp.usage().output_tokens(), 567);
  EXPECT_EQ(dresp.price_effective_at(), effective);

  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance balance;
  ASSERT_TRUE(budget_->GetBalance(Ctx(keys_.gateway).get(), breq, &balance).ok());
  EXPECT_EQ(balance.held(), 0);
  EXPECT_EQ(balance.spent(), 8755);
  EXPECT_EQ(balance.model_spent().at("gpt-4o"), 8755);

  v1::ListTransfersRequest lreq;
  lreq.set_account_id("alice");
  v1::ListTransfersResponse lresp;
  ASSERT_TRUE(budget_->ListTransfers(Ctx(keys_.hr).get(), lreq, &lresp).ok());
  ASSERT_GE(lresp.transfers_size(), 1);
  const v1::Transfer& t = lresp.transfers(0);  // newest first: the usage
  EXPECT_EQ(t.kind(), v1::USAGE);
  EXPECT_EQ(t.transfer_id(), dresp.transfer_id());
  EXPECT_EQ(t.amount(), 8755);
  EXPECT_EQ(t.hold_id(), aresp.hold_id());
  EXPECT_EQ(t.usage().input_tokens(), 1234);
  EXPECT_EQ(t.usage().output_tokens(), 567);
  EXPECT_EQ(t.price_effective_at(), effective);
}

TEST_F(PricesEndToEnd, BadRequestsAreRefusedAndTheBookOutlivesARestart) {
  FundAccount("bob", 1'000'000, 500);
  // Only an admin sets prices; a gateway reads them.
  v1::SetPriceResponse price;
  EXPECT_EQ(SetPrice(keys_.gateway, "gpt-4o", 1, 1, 0, 0, &price).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // No price yet: FAILED_PRECONDITION naming the model, nothing recorded.
  v1::DebitResponse dresp;
  grpc::Status s =
      auth_->Debit(Ctx(keys_.gateway).get(), UsageDebit("bob", "gpt-4o", "d-1", 1000, 0), &dresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("gpt-4o"));
  // An amount and usage together: INVALID_ARGUMENT naming amount.
  v1::DebitRequest both = UsageDebit("bob", "gpt-4o", "d-2", 1000, 0);
  both.set_amount(5);
  s = auth_->Debit(Ctx(keys_.gateway).get(), both, &dresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("amount"));

  const int64_t effective = absl::ToUnixMicros(absl::Now()) - 1'000'000;
  ASSERT_TRUE(SetPrice(keys_.admin, "*", 1'000'000, 2'000'000, 0, effective, &price).ok());
  ASSERT_EQ(daemon_.Terminate(), 0);
  daemon_.Start();
  Connect();

  v1::ListPricesRequest lreq;
  v1::ListPricesResponse lresp;
  ASSERT_TRUE(admin_->ListPrices(Ctx(keys_.gateway).get(), lreq, &lresp).ok());
  ASSERT_EQ(lresp.prices_size(), 1);
  EXPECT_EQ(lresp.prices(0).model(), "*");
  EXPECT_EQ(lresp.prices(0).effective_at(), effective);
  EXPECT_TRUE(lresp.prices(0).in_force());
  EXPECT_EQ(lresp.unit(), "usd_micros");
  // The refused debit's key works now that a price exists: 300 x 1 + 100 x 2 = 500, the limit.
  s = auth_->Debit(Ctx(keys_.gateway).get(), UsageDebit("bob", "gpt-4o", "d-1", 300, 100), &dresp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(dresp.amount(), 500);
  v1::AuthorizeRequest areq;
  areq.set_account_id("bob");
  areq.set_model("gpt-4o");
  areq.set_amount(1);
  areq.set_idempotency_key("a-over");
  v1::AuthorizeResponse aresp;
  ASSERT_TRUE(auth_->Authorize(Ctx(keys_.gateway).get(), areq, &aresp).ok());
  EXPECT_EQ(aresp.decision(), v1::DENIED);
  EXPECT_EQ(aresp.deny_reason(), v1::MODEL_LIMIT);
}

}  // namespace
}  // namespace tokenledger::testing
