// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Prices through the engine: the price book (SetPrice, ListPrices), Debits that report tokens,
// Authorize and Check with an estimate, per-model monthly limits, and all of it after a restart.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ledger/engine.h"
#include "ledger_process.h"
#include "testing/memory_store.h"

namespace tokenledger {
namespace {

using ::testing::HasSubstr;

constexpr char kTenant[] = "acme";
constexpr int64_t kIn = 2'500'000;    // $2.50 per million input tokens, in usd_micros
constexpr int64_t kOut = 10'000'000;  // $10.00 per million output tokens

class PricesTest : public ::testing::Test {
 protected:
  PricesTest()
      : clock_(absl::FromCivil(absl::CivilSecond(2026, 9, 20, 12, 0, 0), absl::UTCTimeZone())) {
    p_ = std::make_unique<LedgerProcess>(&mem_, &clock_);
  }

  void CreateTenant(const std::string& unit = "usd_micros") {
    auto r = WaitFor([&](ResultCallback cb) {
      p_->ledger->CreateTenant(TenantRecord{.tenant_id = kTenant, .unit = unit}, Key(),
                               std::move(cb));
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void Restart() {
    p_.reset();
    p_ = std::make_unique<LedgerProcess>(&mem_, &clock_);
  }
  IdemArgs Key() { return IdemArgs{"k" + std::to_string(++keys_), 1}; }
  int64_t Now() { return absl::ToUnixMicros(clock_.Now()); }

  absl::StatusOr<OpResult> SetPrice(const std::string& model, int64_t in, int64_t out,
                                    int64_t effective_at = 0, int64_t cached = 0,
                                    IdemArgs idem = {}) {
    if (idem.key.empty()) idem = Key();
    return WaitFor([&](ResultCallback cb) {
      p_->ledger->SetPrice(kTenant,
                           SetPriceArgs{.model = model,
                                        .effective_at_us = effective_at,
                                        .input_per_million = in,
                                        .output_per_million = out,
                                        .cached_input_per_million = cached},
                           idem, std::move(cb));
    });
  }
  void Fund(const std::string& account, int64_t amount, std::optional<Policy> policy = {}) {
    auto u = WaitFor([&](ResultCallback cb) {
      p_->ledger->UpsertAccount(kTenant, AccountRecord{.account_id = account, .policy = policy},
                                Key(), std::move(cb));
    });
    ASSERT_TRUE(u.ok()) << u.status();
    auto g = WaitFor([&](ResultCallback cb) {
      p_->ledger->Grant(kTenant, account, amount, "", Key(), std::move(cb));
    });
    ASSERT_TRUE(g.ok()) << g.status();
  }
  absl::StatusOr<OpResult> DebitTokens(const std::string& account, const std::string& model,
                                       TokenUsage usage, int64_t occurred_at = 0,
                                       IdemArgs idem = {}, int64_t amount = 0) {
    if (idem.key.empty()) idem = Key();
    return WaitFor([&](ResultCallback cb) {
      p_->ledger->Debit(kTenant,
                        DebitArgs{.account_id = account,
                                  .amount = amount,
                                  .model = model,
                                  .usage = usage,
                                  .occurred_at_us = occurred_at},
                        idem, std::move(cb));
    });
  }
  absl::StatusOr<OpResult> DebitAmount(const std::string& account, const std::string& model,
                                       int64_t amount, const std::string& hold = "") {
    return WaitFor([&](ResultCallback cb) {
      p_->ledger->Debit(
          kTenant,
          DebitArgs{.account_id = account, .hold_id = hold, .amount = amount, .model = model},
          Key(), std::move(cb));
    });
  }
  absl::StatusOr<OpResult> AuthorizeEstimate(const std::string& account, const std::string& model,
                                             int64_t in, int64_t max_out) {
    return p_->ledger->Authorize(
        kTenant,
        AuthorizeArgs{
            .account_id = account, .estimate = UsageEstimate{in, max_out}, .model = model},
        Key());
  }
  absl::StatusOr<OpResult> AuthorizeAmount(const std::string& account, const std::string& model,
                                           int64_t amount) {
    return p_->ledger->Authorize(
        kTenant, AuthorizeArgs{.account_id = account, .amount = amount, .model = model}, Key());
  }
  BalanceView Balance(const std::string& account) {
    auto b = p_->ledger->GetBalance(kTenant, account);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : BalanceView{};
  }
  std::vector<TransferRecord> Usage(const std::string& account) {
    auto t = p_->ledger->ListTransfers(TransferQuery{.tenant_id = kTenant, .account_id = account});
    EXPECT_TRUE(t.ok()) << t.status();
    std::vector<TransferRecord> out;
    for (const TransferRecord& r : t.value_or(std::vector<TransferRecord>{})) {
      if (r.kind == TransferKind::kUsage) out.push_back(r);
    }
    return out;
  }
  static Policy ModelLimits(std::vector<ModelLimit> limits) {
    Policy p;
    p.model_limits = std::move(limits);
    return p;
  }

  ManualClock clock_;
  MemoryStore mem_;
  std::unique_ptr<LedgerProcess> p_;
  int keys_ = 0;
};

TEST_F(PricesTest, SetPriceAddsToTheBookAndListPricesShowsWhatIsInForceAndTheHistory) {
  CreateTenant();
  const int64_t now = Now();
  ASSERT_TRUE(SetPrice("gpt-4o", kIn, kOut, now - 1000).ok());
  ASSERT_TRUE(SetPrice("gpt-4o", 2 * kIn, 2 * kOut, now + 3'600'000'000).ok());  // in an hour
  auto fallback = SetPrice("*", 1'000'000, 1'000'000);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->id, "*");
  EXPECT_EQ(fallback->price_effective_at_us, now);  // effective_at 0 is now

  auto in_force = p_->ledger->ListPrices(kTenant, "");
  ASSERT_TRUE(in_force.ok()) << in_force.status();
  EXPECT_EQ(in_force->unit, "usd_micros");
  ASSERT_EQ(in_force->prices.size(), 2u);
  EXPECT_EQ(in_force->prices[0].model, "*");
  EXPECT_EQ(in_force->prices[1].model, "gpt-4o");
  EXPECT_EQ(in_force->prices[1].input_per_million, kIn);  // the future price is not in force yet

  auto later = p_->ledger->ListPrices(kTenant, "", now + 3'600'000'000);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->prices[1].input_per_million, 2 * kIn);

  auto history = p_->ledger->ListPrices(kTenant, "gpt-4o");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->prices.size(), 2u);
  EXPECT_EQ(history->prices[0].input_per_million, 2 * kIn);  // newest first
  EXPECT_FALSE(history->in_force[0]);
  EXPECT_TRUE(history->in_force[1]);
}

TEST_F(PricesTest, SetPriceRefusesBadInputNamingTheFieldAndChangesNothing) {
  CreateTenant();
  const int64_t big = (int64_t{1} << 62) + 1;
  struct Case {
    std::string model;
    int64_t in, out, effective_at, cached;
    absl::StatusCode code;
    const char* field;
  } cases[] = {
      {"", 1, 1, 0, 0, absl::StatusCode::kInvalidArgument, "model"},
      {"bad\nname", 1, 1, 0, 0, absl::StatusCode::kInvalidArgument, "model"},
      {std::string(129, 'm'), 1, 1, 0, 0, absl::StatusCode::kInvalidArgument, "model"},
      {"m", -1, 1, 0, 0, absl::StatusCode::kInvalidArgument, "input_per_million"},
      {"m", 1, big, 0, 0, absl::StatusCode::kInvalidArgument, "output_per_million"},
      {"m", 1, 1, 0, -5, absl::StatusCode::kInvalidArgument, "cached_input_per_million"},
      {"m", 1, 1, -1, 0, absl::StatusCode::kInvalidArgument, "effective_at"},
  };
  for (const Case& c : cases) {
    auto r = SetPrice(c.model, c.in, c.out, c.effective_at, c.cached);
    EXPECT_EQ(r.status().code(), c.code) << c.field;
    EXPECT_THAT(r.status().message(), HasSubstr(c.field));
  }
  EXPECT_TRUE(p_->ledger->ListPrices(kTenant, "")->prices.empty());
  // Never edited: a second price of a model at the same instant is refused.
  ASSERT_TRUE(SetPrice("m", 1, 1, 5000).ok());
  auto again = SetPrice("m", 2, 2, 5000);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("never edited"));
  EXPECT_EQ(p_->ledger->ListPrices(kTenant, "m")->prices.size(), 1u);
}

TEST_F(PricesTest, ASetPriceIsInTheAuditTrailWithTheKeyThatSetIt) {
  CreateTenant();
  ASSERT_TRUE(
      SetPrice("gpt", kIn, kOut, 5000, 0, IdemArgs{"p-1", 1, "SetPrice", "k_admin_1"}).ok());
  auto audit = p_->ledger->ListAudit(AuditQuery{.tenant_id = kTenant});
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "SetPrice");
  EXPECT_EQ((*audit)[0].actor_key_id, "k_admin_1");
  EXPECT_EQ((*audit)[0].target, "gpt");
  EXPECT_THAT((*audit)[0].detail, HasSubstr("input 2500000, output 10000000"));
  EXPECT_THAT((*audit)[0].detail, HasSubstr("effective at 5000"));
}

TEST_F(PricesTest, SetPriceReplaysItsAnswerUnderTheSameKey) {
  CreateTenant();
  const IdemArgs key{"price-1", 42};
  auto first = SetPrice("gpt", kIn, kOut, 0, 0, key);
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(absl::Seconds(5));
  auto retry = SetPrice("gpt", kIn, kOut, 0, 0, key);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->price_effective_at_us, first->price_effective_at_us);
  EXPECT_EQ(p_->ledger->ListPrices(kTenant, "gpt")->prices.size(), 1u);
}

TEST_F(PricesTest, ADebitWithUsageIsChargedThePricedAmountAndRecordsItsTokens) {
  CreateTenant();
  Fund("alice", 1'000'000);
  const int64_t effective = Now() - 10;
  ASSERT_TRUE(SetPrice("gpt-4o", kIn, kOut, effective, 1'250'000).ok());
  // 1,234 x 2.5 + 567 x 10 + 100 x 1.25 = 3,085 + 5,670 + 125 = 8,880 micros.
  auto d = DebitTokens("alice", "gpt-4o", TokenUsage{1234, 567, 100});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->amount, 8880);
  EXPECT_EQ(d->price_effective_at_us, effective);
  EXPECT_EQ(d->available, 1'000'000 - 8880);
  EXPECT_EQ(Balance("alice").posted.spent, 8880);
  std::vector<TransferRecord> usage = Usage("alice");
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].amount, 8880);
  EXPECT_EQ(usage[0].usage, (TokenUsage{1234, 567, 100}));
  EXPECT_EQ(usage[0].price_effective_at_us, effective);
}

TEST_F(PricesTest, UsageIsPricedWithThePriceInForceWhenItOccurred) {
  CreateTenant();
  Fund("alice", 100'000'000);
  const int64_t t = Now() - 60'000'000;  // a price change a minute ago
  ASSERT_TRUE(SetPrice("gpt", 1'000'000, 0, t - 3'600'000'000).ok());
  ASSERT_TRUE(SetPrice("gpt", 2'000'000, 0, t).ok());
  ASSERT_TRUE(SetPrice("gpt", 9'000'000, 0, Now() + 60'000'000).ok());  // a minute ahead
  const TokenUsage million{1'000'000, 0, 0};
  auto before = DebitTokens("alice", "gpt", million, t - 1);
  auto at = DebitTokens("alice", "gpt", million, t);
  auto now = DebitTokens("alice", "gpt", million);  // the future price is not used yet
  ASSERT_TRUE(before.ok() && at.ok() && now.ok()) << before.status() << at.status();
  EXPECT_EQ(before->amount, 1'000'000);
  EXPECT_EQ(before->price_effective_at_us, t - 3'600'000'000);
  EXPECT_EQ(at->amount, 2'000'000);
  EXPECT_EQ(at->price_effective_at_us, t);
  EXPECT_EQ(now->amount, 2'000'000);
  // Once its time has come, the new price applies; a late report still gets the old one.
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(DebitTokens("alice", "gpt", million)->amount, 9'000'000);
  EXPECT_EQ(DebitTokens("alice", "gpt", million, t - 1)->amount, 1'000'000);
  // Usage cannot happen in the future.
  auto future = DebitTokens("alice", "gpt", million, Now() + 1);
  EXPECT_EQ(future.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(future.status().message(), HasSubstr("occurred_at"));
}

TEST_F(PricesTest, AnAmountAndUsageTogetherOrNeitherIsInvalid) {
  CreateTenant();
  Fund("alice", 1000);
  ASSERT_TRUE(SetPrice("*", 1, 1).ok());
  auto both = DebitTokens("alice", "gpt", TokenUsage{1, 1, 0}, 0, {}, /*amount=*/5);
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(both.status().message(), HasSubstr("amount"));
  auto neither = DebitAmount("alice", "gpt", 0);
  EXPECT_EQ(neither.status().code(), absl::StatusCode::kInvalidArgument);
  auto zero = DebitTokens("alice", "gpt", TokenUsage{0, 0, 0});
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("usage"));
  auto negative = DebitTokens("alice", "gpt", TokenUsage{5, -1, 0});
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.status().message(), HasSubstr("usage.output_tokens"));
  ASSERT_TRUE(SetPrice("big", int64_t{1} << 62, 0).ok());
  auto overflow = DebitTokens("alice", "big", TokenUsage{2'000'000, 0, 0});
  EXPECT_EQ(overflow.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(overflow.status().message(), HasSubstr("2^62"));
  EXPECT_TRUE(Usage("alice").empty());
  EXPECT_EQ(Balance("alice").available, 1000);
}

TEST_F(PricesTest, AnUnpricedModelIsRefusedUntilAPriceExistsThenTheSameKeyCommitsOnce) {
  CreateTenant();
  Fund("alice", 1'000'000);
  const IdemArgs key{"debit-1", 7};
  auto refused = DebitTokens("alice", "claude", TokenUsage{1000, 1000, 0}, 0, key);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("'claude'"));
  EXPECT_TRUE(Usage("alice").empty());
  EXPECT_EQ(Balance("alice").available, 1'000'000);
  // An estimate for it is refused the same way, and holds nothing.
  EXPECT_EQ(AuthorizeEstimate("alice", "claude", 10, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Balance("alice").held, 0);

  ASSERT_TRUE(SetPrice("claude", 3'000'000, 15'000'000, Now() - 1).ok());
  auto committed = DebitTokens("alice", "claude", TokenUsage{1000, 1000, 0}, 0, key);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->amount, 18'000);
  auto replay = DebitTokens("alice", "claude", TokenUsage{1000, 1000, 0}, 0, key);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, committed->id);
  EXPECT_EQ(Usage("alice").size(), 1u);
  EXPECT_EQ(Balance("alice").posted.spent, 18'000);
}

TEST_F(PricesTest, TheFallbackPricesOnlyModelsWithoutAPriceOfTheirOwn) {
  CreateTenant();
  Fund("alice", 100'000'000);
  ASSERT_TRUE(SetPrice("*", 1'000'000, 1'000'000, Now() - 10).ok());
  ASSERT_TRUE(SetPrice("gpt", 5'000'000, 5'000'000, Now() - 5).ok());
  EXPECT_EQ(DebitTokens("alice", "gpt", TokenUsage{1000, 0, 0})->amount, 5000);
  EXPECT_EQ(DebitTokens("alice", "llama", TokenUsage{1000, 0, 0})->amount, 1000);
  // A call before gpt had its own price was priced by the fallback.
  EXPECT_EQ(DebitTokens("alice", "gpt", TokenUsage{1000, 0, 0}, Now() - 7)->amount, 1000);
}

TEST_F(PricesTest, ATokensTenantCountsOneTokenAsOneUnitWithoutAPrice) {
  CreateTenant("tokens");
  Fund("alice", 10'000);
  auto d = DebitTokens("alice", "any-model", TokenUsage{1200, 300, 50});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->amount, 1550);
  EXPECT_EQ(d->price_effective_at_us, 0);  // no price was used
  auto a = AuthorizeEstimate("alice", "any-model", 100, 400);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->amount, 500);
  // A price, when there is one, is used.
  ASSERT_TRUE(SetPrice("any-model", 500'000, 500'000, Now() - 1).ok());
  EXPECT_EQ(DebitTokens("alice", "any-model", TokenUsage{1000, 1000, 0})->amount, 1000);
}

TEST_F(PricesTest, AnEstimateHoldsItsPricedCostAndCheckPricesItTheSameWay) {
  CreateTenant();
  Fund("alice", 100'000);
  ASSERT_TRUE(SetPrice("gpt-4o", kIn, kOut, Now() - 1).ok());
  // 2,000 input tokens and up to 4,000 output: 5,000 + 40,000 = 45,000 micros.
  auto check = p_->ledger->Check(
      kTenant,
      CheckArgs{.account_id = "alice", .estimate = UsageEstimate{2000, 4000}, .model = "gpt-4o"});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->would_allow);
  EXPECT_EQ(check->amount, 45'000);
  auto hold = AuthorizeEstimate("alice", "gpt-4o", 2000, 4000);
  ASSERT_TRUE(hold.ok()) << hold.status();
  EXPECT_EQ(hold->decision, Decision::kAllowed);
  EXPECT_EQ(hold->amount, 45'000);
  EXPECT_EQ(Balance("alice").held, 45'000);
  // A second fits the budget; a third would pass it: denied, with the amount it would hold.
  auto second = AuthorizeEstimate("alice", "gpt-4o", 2000, 4000);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->decision, Decision::kAllowed);
  auto third = AuthorizeEstimate("alice", "gpt-4o", 2000, 4000);
  EXPECT_EQ(third->decision, Decision::kDenied);
  EXPECT_EQ(third->deny_reason, DenyReason::kInsufficientBudget);
  EXPECT_EQ(third->amount, 45'000);
  // An estimate and an amount together are invalid.
  auto both = p_->ledger->Authorize(
      kTenant,
      AuthorizeArgs{
          .account_id = "alice", .amount = 10, .estimate = UsageEstimate{1, 1}, .model = "gpt-4o"},
      Key());
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PricesTest, ConcurrentAuthorizesStopExactlyAtAModelLimitWhileAnotherModelPasses) {
  CreateTenant();
  Fund("alice", 1'000'000'000, ModelLimits({{"gpt", 10'000}, {"opus", 5'000}}));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> allowed{0}, model_denied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        auto r = p_->ledger->Authorize(
            kTenant, AuthorizeArgs{.account_id = "alice", .amount = 100, .model = "gpt"},
            IdemArgs{"c" + std::to_string(i) + "-" + std::to_string(j), 1});
        ASSERT_TRUE(r.ok()) << r.status();
        if (r->decision == Decision::kAllowed) ++allowed;
        if (r->deny_reason == DenyReason::kModelLimit) ++model_denied;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 100);  // exactly 10,000 / 100, at the boundary included
  EXPECT_EQ(model_denied.load(), kThreads * kPerThread - 100);
  // Another model of the same account, and a model without a limit, still pass.
  EXPECT_EQ(AuthorizeAmount("alice", "opus", 5'000)->decision, Decision::kAllowed);
  EXPECT_EQ(AuthorizeAmount("alice", "haiku", 50'000)->decision, Decision::kAllowed);
  auto over = AuthorizeAmount("alice", "opus", 1);
  EXPECT_EQ(over->deny_reason, DenyReason::kModelLimit);
}

TEST_F(PricesTest, AModelLimitCountsSpendAndHoldsAndStartsOverWithTheMonth) {
  CreateTenant();
  Fund("alice", 1'000'000, ModelLimits({{"gpt", 1000}}));
  ASSERT_TRUE(DebitAmount("alice", "gpt", 600).ok());
  auto hold = AuthorizeAmount("alice", "gpt", 300);
  ASSERT_EQ(hold->decision, Decision::kAllowed);
  EXPECT_EQ(AuthorizeAmount("alice", "gpt", 101)->deny_reason, DenyReason::kModelLimit);
  // Capturing the hold for less gives the rest back to the model's limit.
  ASSERT_TRUE(DebitAmount("alice", "gpt", 200, hold->id).ok());
  EXPECT_EQ(AuthorizeAmount("alice", "gpt", 200)->decision, Decision::kAllowed);
  EXPECT_EQ(AuthorizeAmount("alice", "gpt", 1)->deny_reason, DenyReason::kModelLimit);
  // Usage that happened is never refused: a direct debit past the limit is recorded.
  auto over = DebitAmount("alice", "gpt", 5000);
  ASSERT_TRUE(over.ok()) << over.status();
  BalanceView b = Balance("alice");
  ASSERT_EQ(b.model_spent.size(), 1u);
  EXPECT_EQ(b.model_spent[0], (std::pair<std::string, int64_t>{"gpt", 5800}));
  // A new month starts the limit over.
  clock_.Set(absl::FromCivil(absl::CivilSecond(2026, 10, 1, 0, 0, 1), absl::UTCTimeZone()));
  EXPECT_TRUE(Balance("alice").model_spent.empty());
  auto fresh = AuthorizeAmount("alice", "gpt", 700);
  EXPECT_EQ(fresh->decision, Decision::kAllowed) << static_cast<int>(fresh->deny_reason);
}

TEST_F(PricesTest, ARestartKeepsPricesModelLimitsAndModelSpend) {
  CreateTenant();
  Fund("alice", 1'000'000, ModelLimits({{"gpt", 10'000}}));
  const int64_t t = Now() - 1000;
  ASSERT_TRUE(SetPrice("gpt", kIn, kOut, t - 1000).ok());
  ASSERT_TRUE(SetPrice("gpt", 2 * kIn, 2 * kOut, t).ok());
  ASSERT_TRUE(SetPrice("*", 1, 1, t).ok());
  ASSERT_TRUE(DebitTokens("alice", "gpt", TokenUsage{1000, 100, 0}).ok());  // 5,000 + 2,000
  auto hold = AuthorizeAmount("alice", "gpt", 2000);
  ASSERT_EQ(hold->decision, Decision::kAllowed);
  Restart();
  auto history = p_->ledger->ListPrices(kTenant, "gpt");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->prices.size(), 2u);
  EXPECT_EQ(p_->ledger->ListPrices(kTenant, "")->prices.size(), 2u);
  EXPECT_EQ(DebitTokens("alice", "gpt", TokenUsage{1000, 0, 0}, t - 1)->amount, 2500);
  BalanceView b = Balance("alice");
  ASSERT_EQ(b.model_spent.size(), 1u);
  EXPECT_EQ(b.model_spent[0].second, 9500);
  // 9,500 spent and 2,000 held: the limit of 10,000 is passed by any more.
  EXPECT_EQ(AuthorizeAmount("alice", "gpt", 1)->deny_reason, DenyReason::kModelLimit);
  auto account = p_->ledger->GetAccount(kTenant, "alice");
  ASSERT_TRUE(account.ok() && account->policy.has_value());
  EXPECT_EQ(account->policy->model_limits, (std::vector<ModelLimit>{{"gpt", 10'000}}));
}

TEST_F(PricesTest, ModelLimitsAreValidated) {
  CreateTenant();
  for (const Policy& p : {ModelLimits({{"", 5}}), ModelLimits({{"gpt", -1}}),
                          ModelLimits({{"*", 5}}), ModelLimits({{"a", 1}, {"a", 2}})}) {
    auto r = WaitFor([&](ResultCallback cb) {
      p_->ledger->UpsertAccount(kTenant, AccountRecord{.account_id = "bob", .policy = p}, Key(),
                                std::move(cb));
    });
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("policy.model_limits"));
  }
}

}  // namespace
}  // namespace tokenledger
