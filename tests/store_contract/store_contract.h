// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The LedgerStore contract: one typed test suite that every store must pass, instantiated for
// MemoryStore (tests/unit/memory_store_test.cc) and for PgStore
// (tests/integration/pg_store_test.cc). A test here checks behaviour both stores promise (store.h
// and store/store_rules.h); what only one store does stays in that store's test file.
//
// An environment type `Env` gives the suite its store:
//   void SetUp();               // makes the store (may fail with gtest assertions)
//   LedgerStore& store();
//   void Reopen();              // a new store object on the same data (a process restart)
//   std::string NewTenant();    // a tenant id no earlier test used
//   uint64_t NewBatchId();      // a batch id no earlier commit used
// Each test works in a tenant of its own, so that stores shared between tests (a database) do
// not mix them up.
#ifndef TOKENLEDGER_STORE_CONTRACT_STORE_CONTRACT_H_
#define TOKENLEDGER_STORE_CONTRACT_STORE_CONTRACT_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {
namespace store_contract {

inline TransferRecord Transfer(const std::string& tenant, const std::string& id,
                               const std::string& from, const std::string& to, int64_t amount,
                               TransferKind kind, int64_t created_at_us = 1000) {
  TransferRecord t;
  t.tenant_id = tenant;
  t.transfer_id = id;
  t.debit_account_id = from;
  t.credit_account_id = to;
  t.amount = amount;
  t.kind = kind;
  t.created_at_us = created_at_us;
  return t;
}

inline Mutation AccountMutation(const std::string& tenant, const std::string& account,
                                std::optional<Policy> policy = std::nullopt) {
  Mutation m;
  AccountRecord a;
  a.tenant_id = tenant;
  a.account_id = account;
  a.display_name = "Account " + account;
  a.team_id = "eng";
  a.policy = policy;
  a.created_at_us = 77;
  m.account = a;
  return m;
}

// The tenant every store test works in (in Europe/Paris, counted in tokens).
inline Mutation TestTenantMutation(const std::string& tenant) {
  Mutation m;
  m.tenant = TenantRecord{.tenant_id = tenant,
                          .display_name = "Test tenant",
                          .unit = "tokens",
                          .timezone = "Europe/Paris",
                          .created_at_us = 12345};
  return m;
}

// A grant from @funding to `account` under idempotency key `key` (transfer id "t-<key>").
inline Mutation GrantMutation(const std::string& tenant, const std::string& account, int64_t amount,
                              const std::string& key) {
  Mutation m;
  m.idempotency = IdempotencyRecord{
      .tenant_id = tenant, .key = key, .fingerprint = 0xfedcba9876543210, .response = "r-" + key};
  m.transfers.push_back(Transfer(tenant, "t-" + key, std::string(kFundingAccount), account, amount,
                                 TransferKind::kGrant));
  return m;
}

template <typename Env>
class StoreContractTest : public ::testing::Test {
 protected:
  // A tenant of this test with the accounts alice and bob.
  void SetUp() override {
    env_.SetUp();
    if (HasFatalFailure()) return;
    tenant_ = env_.NewTenant();
    Mutation tenant = TestTenantMutation(tenant_);
    Mutation alice = AccountMutation(tenant_, "alice");
    Mutation bob = AccountMutation(tenant_, "bob");
    ASSERT_TRUE(Commit({&tenant, &alice, &bob}).ok());
  }

  LedgerStore& store() { return env_.store(); }

  absl::StatusOr<std::vector<MutationOutcome>> Commit(std::vector<const Mutation*> batch,
                                                      uint64_t batch_id = 0) {
    return store().Commit(batch, batch_id != 0 ? batch_id : env_.NewBatchId());
  }

  // This test's tenant's accounts in a snapshot, by id.
  std::map<std::string, Snapshot::AccountBalance> Accounts(const Snapshot& s) {
    std::map<std::string, Snapshot::AccountBalance> out;
    for (const Snapshot::AccountBalance& ab : s.accounts) {
      if (ab.account.tenant_id == tenant_) out[ab.account.account_id] = ab;
    }
    return out;
  }

  PostedTotals Balance(const std::string& account) {
    absl::StatusOr<Snapshot> s = store().Load();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return {};
    auto accounts = Accounts(*s);
    auto it = accounts.find(account);
    EXPECT_NE(it, accounts.end()) << account;
    return it == accounts.end() ? PostedTotals{} : it->second.posted;
  }

  std::vector<std::string> TransferIds(const std::string& account, int32_t limit = 1000) {
    auto page = store().ListTransfers(
        TransferQuery{.tenant_id = tenant_, .account_id = account, .limit = limit});
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const TransferRecord& t : *page) ids.push_back(t.transfer_id);
    }
    return ids;
  }

  // This test's tenant's holds in a snapshot, by id, and its segments.
  std::map<std::string, HoldRecord> HoldsOf(const Snapshot& s) {
    std::map<std::string, HoldRecord> out;
    for (const HoldRecord& h : s.holds) {
      if (h.tenant_id == tenant_) out[h.hold_id] = h;
    }
    return out;
  }
  std::vector<HoldSegment> SegmentsOf(const Snapshot& s) {
    std::vector<HoldSegment> out;
    for (const HoldSegment& seg : s.hold_segments) {
      if (seg.tenant_id == tenant_) out.push_back(seg);
    }
    return out;
  }

  Env env_;
  std::string tenant_;
};

TYPED_TEST_SUITE_P(StoreContractTest);

TYPED_TEST_P(StoreContractTest, BatchIsAllOrNothing) {
  const std::string& tenant_ = this->tenant_;
  Mutation carol = AccountMutation(tenant_, "carol");
  Mutation good = GrantMutation(tenant_, "alice", 100, "good");
  Mutation dangling = GrantMutation(tenant_, "nobody", 5, "dangling");  // foreign key
  const uint64_t batch_id = this->env_.NewBatchId();
  absl::StatusOr<std::vector<MutationOutcome>> out =
      this->Commit({&carol, &good, &dangling}, batch_id);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();

  Mutation zero = GrantMutation(tenant_, "alice", 0, "zero");  // CHECK (amount > 0)
  out = this->Commit({&carol, &good, &zero});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();

  Mutation same_account;  // CHECK (debit_account_id <> credit_account_id)
  same_account.transfers.push_back(
      Transfer(tenant_, "self", "alice", "alice", 1, TransferKind::kAdjustment));
  out = this->Commit({&carol, &good, &same_account});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();

  Mutation tenant_again;  // unique violation
  tenant_again.tenant = TenantRecord{.tenant_id = tenant_};
  out = this->Commit({&carol, &good, &tenant_again});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kAlreadyExists) << out.status();

  // Nothing of any of these batches is there.
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  auto accounts = this->Accounts(*s);
  EXPECT_FALSE(accounts.contains("carol"));
  EXPECT_EQ(accounts["alice"].posted, PostedTotals{});
  EXPECT_EQ(accounts["@funding"].posted, PostedTotals{});
  EXPECT_THAT(this->TransferIds("alice"), ::testing::IsEmpty());
  EXPECT_FALSE(this->store().GetIdempotency(tenant_, "good")->has_value());
  EXPECT_FALSE(*this->store().CommittedBatch(batch_id));

  // The store is still usable, and the good part alone commits.
  const uint64_t good_batch = this->env_.NewBatchId();
  out = this->Commit({&carol, &good}, good_batch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(this->Balance("alice").credits, 100);
  EXPECT_TRUE(*this->store().CommittedBatch(good_batch));
}

TYPED_TEST_P(StoreContractTest, PeriodsGuardResetsAndAreCheckedAgainstTheirTransfers) {
  const std::string& tenant_ = this->tenant_;
  Mutation grant = GrantMutation(tenant_, "alice", 100, "g");
  Mutation reset;
  reset.transfers.push_back(
      Transfer(tenant_, "x", "alice", "@expired", 30, TransferKind::kResetExpire, 5000));
  reset.transfers.push_back(
      Transfer(tenant_, "r", "@funding", "alice", 500, TransferKind::kResetGrant, 5000));
  reset.periods.push_back(PeriodRecord{.tenant_id = tenant_,
                                       .account_id = "alice",
                                       .period_start_us = 1000,
                                       .carried = -70,
                                       .expired = 30,
                                       .granted = 500,
                                       .created_at_us = 5000});  // when the reset ran
  Mutation bob_reset;
  bob_reset.periods.push_back(
      PeriodRecord{.tenant_id = tenant_, .account_id = "bob", .period_start_us = 1000});
  ASSERT_TRUE(this->Commit({&grant, &reset, &bob_reset}).ok());

  // The same (account, period) again fails its whole batch, here or in a later one.
  Mutation again = reset;
  again.transfers = {Transfer(tenant_, "r2", "@funding", "alice", 1, TransferKind::kResetGrant)};
  EXPECT_EQ(this->Commit({&again}).status().code(), absl::StatusCode::kAlreadyExists);
  Mutation twice;
  twice.periods = {PeriodRecord{.tenant_id = tenant_, .account_id = "bob", .period_start_us = 5},
                   PeriodRecord{.tenant_id = tenant_, .account_id = "bob", .period_start_us = 5}};
  EXPECT_EQ(this->Commit({&twice}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(this->TransferIds("alice"), ::testing::ElementsAre("r", "x", "t-g"));

  // A period row its transfers do not back.
  Mutation bogus;
  bogus.periods.push_back(PeriodRecord{
      .tenant_id = tenant_, .account_id = "alice", .period_start_us = 2000, .granted = 500});
  // Two periods caught up at once (one created_at), in two mutations of one batch: checked
  // together.
  Mutation catch_up[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t start = 2000 + 1000 * i;
    catch_up[i].periods.push_back(PeriodRecord{.tenant_id = tenant_,
                                               .account_id = "bob",
                                               .period_start_us = start,
                                               .granted = 10,
                                               .created_at_us = 7000});
    catch_up[i].transfers.push_back(Transfer(tenant_, absl::StrCat("cb", start), "@funding", "bob",
                                             10, TransferKind::kResetGrant, 7000));
  }
  ASSERT_TRUE(this->Commit({&bogus, &catch_up[0], &catch_up[1]}).ok());

  this->env_.Reopen();
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, PeriodRecord> last;
  for (const PeriodRecord& p : s->last_periods) {
    if (p.tenant_id == tenant_) last[p.account_id] = p;
  }
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last["alice"].period_start_us, 2000);
  EXPECT_EQ(last["alice"].granted, 500);
  EXPECT_EQ(last["bob"].period_start_us, 3000);

  absl::StatusOr<ReconcileData> data = this->store().Recompute(tenant_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->periods_checked, 5);
  ASSERT_EQ(data->period_problems.size(), 1u);
  EXPECT_EQ(data->period_problems[0].account_id, "alice");
  EXPECT_EQ(data->period_problems[0].period_start_us, 2000);
  EXPECT_EQ(data->period_problems[0].field, "granted");
  EXPECT_EQ(data->period_problems[0].expected, 500);
  EXPECT_EQ(data->period_problems[0].found, 0);
}

TYPED_TEST_P(StoreContractTest, SumUsageCountsUsageSinceThePeriodAndTheDay) {
  const std::string& tenant_ = this->tenant_;
  Mutation m;
  m.transfers.push_back(Transfer(tenant_, "u1", "alice", "@usage", 10, TransferKind::kUsage, 100));
  m.transfers.push_back(Transfer(tenant_, "u2", "alice", "@usage", 20, TransferKind::kUsage, 200));
  m.transfers.push_back(Transfer(tenant_, "u3", "alice", "@usage", 40, TransferKind::kUsage, 300));
  m.transfers.push_back(Transfer(tenant_, "u4", "bob", "@usage", 5, TransferKind::kUsage, 50));
  m.transfers.push_back(
      Transfer(tenant_, "a1", "alice", "@adjustments", 7, TransferKind::kAdjustment, 300));
  ASSERT_TRUE(this->Commit({&m}).ok());
  absl::StatusOr<std::vector<UsageSums>> sums = this->store().SumUsage(tenant_, 100, 250);
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_EQ(sums->size(), 1u);  // bob has no usage in the period
  EXPECT_EQ((*sums)[0].account_id, "alice");
  EXPECT_EQ((*sums)[0].period_spent, 70);
  EXPECT_EQ((*sums)[0].day_spent, 40);
  // The day may start before the period (a period starting mid-day).
  sums = this->store().SumUsage(tenant_, 250, 0);
  ASSERT_TRUE(sums.ok());
  ASSERT_EQ(sums->size(), 2u);
  EXPECT_EQ((*sums)[0].period_spent, 40);
  EXPECT_EQ((*sums)[0].day_spent, 70);
  EXPECT_EQ((*sums)[1].account_id, "bob");
  EXPECT_EQ((*sums)[1].period_spent, 0);
  EXPECT_EQ((*sums)[1].day_spent, 5);
}

TYPED_TEST_P(StoreContractTest, AnOpenRecordAfterAClosingOneInABatchLeavesTheHoldClosed) {
  HoldRecord h{.tenant_id = this->tenant_,
               .hold_id = "h1",
               .account_id = "alice",
               .amount = 5,
               .expires_at_us = absl::ToUnixMicros(absl::Now() + absl::Minutes(10)),
               .status = HoldStatus::kCaptured};
  Mutation capture, rewrite;
  capture.holds = {h};
  h.status = HoldStatus::kOpen;
  h.segment = 9;
  rewrite.holds = {h};
  ASSERT_TRUE(this->Commit({&capture, &rewrite}).ok());
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, HoldRecord> loaded = this->HoldsOf(*s);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded["h1"].status, HoldStatus::kCaptured);
  EXPECT_TRUE(this->SegmentsOf(*s).empty());
}

// ---- prices, usage and model limits ------------------------------------------------------------

inline PriceRecord Price(const std::string& tenant, const std::string& model,
                         int64_t effective_at_us, int64_t input, int64_t output, int64_t cached) {
  return PriceRecord{.tenant_id = tenant,
                     .model = model,
                     .effective_at_us = effective_at_us,
                     .input_per_million = input,
                     .output_per_million = output,
                     .cached_input_per_million = cached,
                     .created_at_us = effective_at_us + 7};
}

// The prices of `tenant` in a snapshot, by (model, effective_at).
inline std::vector<PriceRecord> PricesOf(const Snapshot& s, const std::string& tenant) {
  std::vector<PriceRecord> out;
  for (const PriceRecord& p : s.prices) {
    if (p.tenant_id == tenant) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const PriceRecord& a, const PriceRecord& b) {
    return std::tie(a.model, a.effective_at_us) < std::tie(b.model, b.effective_at_us);
  });
  return out;
}

TYPED_TEST_P(StoreContractTest, PricesRoundTripThroughCommitAndLoad) {
  const std::string& tenant_ = this->tenant_;
  // Several models, the fallback, a model's history (a later price, one in the future), in one
  // batch of several mutations and in a later batch.
  Mutation first, second, later;
  first.prices = {Price(tenant_, "gpt-4o", 1000, 2500000, 10000000, 1250000),
                  Price(tenant_, "*", 1000, 1, 2, 0)};
  second.prices = {Price(tenant_, "claude-3 \"opus\" ü\\", 5, 15000000, 75000000, 0)};
  later.prices = {Price(tenant_, "gpt-4o", 2000, 2000000, 8000000, 1000000),
                  Price(tenant_, "gpt-4o", int64_t{1} << 52, 0, 0, 0)};
  ASSERT_TRUE(this->Commit({&first, &second}).ok());
  ASSERT_TRUE(this->Commit({&later}).ok());

  this->env_.Reopen();
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(
      PricesOf(*s, tenant_),
      ::testing::ElementsAre(Price(tenant_, "*", 1000, 1, 2, 0),
                             Price(tenant_, "claude-3 \"opus\" ü\\", 5, 15000000, 75000000, 0),
                             Price(tenant_, "gpt-4o", 1000, 2500000, 10000000, 1250000),
                             Price(tenant_, "gpt-4o", 2000, 2000000, 8000000, 1000000),
                             Price(tenant_, "gpt-4o", int64_t{1} << 52, 0, 0, 0)));
}

TYPED_TEST_P(StoreContractTest, ADuplicatePriceFailsItsWholeBatch) {
  const std::string& tenant_ = this->tenant_;
  Mutation set;
  set.prices = {Price(tenant_, "m", 1000, 10, 20, 5)};
  ASSERT_TRUE(this->Commit({&set}).ok());

  // The same (model, effective_at) again, with other prices: nothing of its batch is committed.
  Mutation grant = GrantMutation(tenant_, "alice", 100, "g");
  Mutation other;
  other.prices = {Price(tenant_, "other", 1000, 1, 1, 1)};
  Mutation again;
  again.prices = {Price(tenant_, "m", 1000, 99, 99, 99)};
  absl::StatusOr<std::vector<MutationOutcome>> out = this->Commit({&grant, &other, &again});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kAlreadyExists) << out.status();
  // Twice in one batch, new to the store.
  Mutation twice[2];
  twice[0].prices = {Price(tenant_, "n", 1000, 1, 1, 1)};
  twice[1].prices = {Price(tenant_, "n", 1000, 2, 2, 2)};
  out = this->Commit({&twice[0], &grant, &twice[1]});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kAlreadyExists) << out.status();
  // A price of a tenant that does not exist, and a negative price.
  Mutation no_tenant;
  no_tenant.prices = {Price(tenant_ + "-none", "m", 1, 1, 1, 1)};
  EXPECT_EQ(this->Commit({&no_tenant}).status().code(), absl::StatusCode::kInternal);
  Mutation negative;
  negative.prices = {Price(tenant_, "neg", 1, 1, -1, 1)};
  EXPECT_EQ(this->Commit({&negative}).status().code(), absl::StatusCode::kInternal);

  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(PricesOf(*s, tenant_), ::testing::ElementsAre(Price(tenant_, "m", 1000, 10, 20, 5)));
  EXPECT_EQ(this->Accounts(*s)["alice"].posted, PostedTotals{});
  EXPECT_FALSE(this->store().GetIdempotency(tenant_, "g")->has_value());

  // Another effective_at of the same model is a new row.
  Mutation next;
  next.prices = {Price(tenant_, "m", 1001, 11, 21, 6)};
  ASSERT_TRUE(this->Commit({&next, &grant}).ok());
  s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(PricesOf(*s, tenant_).size(), 2u);
  EXPECT_EQ(this->Accounts(*s)["alice"].posted.credits, 100);
}

TYPED_TEST_P(StoreContractTest, TransfersKeepTheirUsageAndItsTimes) {
  const std::string& tenant_ = this->tenant_;
  Mutation grant = GrantMutation(tenant_, "alice", 1000, "g");
  TransferRecord priced =
      Transfer(tenant_, "priced", "alice", "@usage", 26, TransferKind::kUsage, 2000);
  priced.model = "gpt-4o";
  priced.usage = TokenUsage{.input_tokens = 1000, .output_tokens = 2000, .cached_input_tokens = 4};
  priced.price_effective_at_us = 1500;
  priced.occurred_at_us = 1900;
  // A free model: amount 0 with usage; the largest token counts; no price used, no time given.
  TransferRecord free = Transfer(tenant_, "free", "alice", "@usage", 0, TransferKind::kUsage, 2001);
  free.model = "local";
  free.usage = TokenUsage{.input_tokens = INT64_MAX, .output_tokens = 0, .cached_input_tokens = 0};
  Mutation usage;
  usage.transfers = {priced, free};
  ASSERT_TRUE(this->Commit({&grant, &usage}).ok());

  // Amount 0 without usage, and negative tokens, are refused.
  Mutation zero;
  zero.transfers = {Transfer(tenant_, "zero", "alice", "@usage", 0, TransferKind::kUsage)};
  EXPECT_EQ(this->Commit({&zero}).status().code(), absl::StatusCode::kInternal);
  Mutation negative;
  negative.transfers = {Transfer(tenant_, "neg", "alice", "@usage", 1, TransferKind::kUsage)};
  negative.transfers[0].usage = TokenUsage{.input_tokens = 1, .output_tokens = -1};
  EXPECT_EQ(this->Commit({&negative}).status().code(), absl::StatusCode::kInternal);

  this->env_.Reopen();
  auto page = this->store().ListTransfers(
      TransferQuery{.tenant_id = tenant_, .account_id = "alice", .limit = 10});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 3u);
  const TransferRecord& f = (*page)[0];
  EXPECT_EQ(f.transfer_id, "free");
  EXPECT_EQ(f.amount, 0);
  EXPECT_EQ(f.model, "local");
  EXPECT_EQ(f.usage, (TokenUsage{.input_tokens = INT64_MAX}));
  EXPECT_FALSE(f.price_effective_at_us.has_value());
  EXPECT_FALSE(f.occurred_at_us.has_value());
  const TransferRecord& p = (*page)[1];
  EXPECT_EQ(p.transfer_id, "priced");
  EXPECT_EQ(p.amount, 26);
  EXPECT_EQ(p.usage, priced.usage);
  EXPECT_EQ(p.price_effective_at_us, 1500);
  EXPECT_EQ(p.occurred_at_us, 1900);
  const TransferRecord& g = (*page)[2];
  EXPECT_EQ(g.transfer_id, "t-g");
  EXPECT_FALSE(g.usage.has_value());
  EXPECT_FALSE(g.price_effective_at_us.has_value());
  EXPECT_FALSE(g.occurred_at_us.has_value());
  // A free transfer moves nothing.
  EXPECT_EQ(this->Balance("alice").spent, 26);
}

TYPED_TEST_P(StoreContractTest, ModelLimitsRoundTripThroughLoad) {
  const std::string& tenant_ = this->tenant_;
  // Given in any order: loaded sorted by model, bytewise.
  Policy policy{
      .monthly_allocation = 1000,
      .model_limits = {{"gpt-4o", 500}, {"Claude \"3\" ü\\", 0}, {"*", 7}, {"big", INT64_MAX}}};
  Mutation carol = AccountMutation(tenant_, "carol", policy);
  ASSERT_TRUE(this->Commit({&carol}).ok());
  this->env_.Reopen();
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::optional<Policy> loaded = this->Accounts(*s)["carol"].account.policy;
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->monthly_allocation, 1000);
  EXPECT_THAT(loaded->model_limits,
              ::testing::ElementsAre(ModelLimit{"*", 7}, ModelLimit{"Claude \"3\" ü\\", 0},
                                     ModelLimit{"big", INT64_MAX}, ModelLimit{"gpt-4o", 500}));
  EXPECT_FALSE(this->Accounts(*s)["alice"].account.policy.has_value());

  // An update replaces them; a negative limit is refused.
  policy.model_limits = {{"gpt-4o", 600}};
  carol = AccountMutation(tenant_, "carol", policy);
  ASSERT_TRUE(this->Commit({&carol}).ok());
  Mutation negative = AccountMutation(tenant_, "carol", Policy{.model_limits = {{"gpt-4o", -1}}});
  EXPECT_EQ(this->Commit({&negative}).status().code(), absl::StatusCode::kInternal);
  s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  loaded = this->Accounts(*s)["carol"].account.policy;
  ASSERT_TRUE(loaded.has_value());
  EXPECT_THAT(loaded->model_limits, ::testing::ElementsAre(ModelLimit{"gpt-4o", 600}));
}

TYPED_TEST_P(StoreContractTest, AHoldKeepsItsModelOpenAndClosed) {
  const std::string& tenant_ = this->tenant_;
  const int64_t expires = absl::ToUnixMicros(absl::Now() + absl::Minutes(10));
  auto hold = [&](const std::string& id, const std::string& model, int64_t amount,
                  HoldStatus status) {
    return HoldRecord{.tenant_id = tenant_,
                      .hold_id = id,
                      .account_id = "alice",
                      .amount = amount,
                      .expires_at_us = expires,
                      .status = status,
                      .model = model,
                      .fingerprint = 3,
                      .response = "answer-" + id,
                      .segment = 4};
  };
  // Open (PgStore: a hold batch row), one of them of amount 0 (an estimate priced at 0); closed
  // (a row of its own); opened then captured by a later batch.
  Mutation open, closed, placed, captured;
  open.holds = {hold("open", "gpt-4o", 5, HoldStatus::kOpen),
                hold("free", "local \"ü\"", 0, HoldStatus::kOpen),
                hold("none", "", 1, HoldStatus::kOpen)};
  closed.holds = {hold("closed", "claude", 6, HoldStatus::kReleased)};
  placed.holds = {hold("captured", "gpt-4o-mini", 7, HoldStatus::kOpen)};
  ASSERT_TRUE(this->Commit({&open, &closed, &placed}).ok());
  captured.holds = {hold("captured", "gpt-4o-mini", 7, HoldStatus::kCaptured)};
  captured.holds[0].response.clear();  // a closing record carries no answer, and here no model
  captured.holds[0].model.clear();
  ASSERT_TRUE(this->Commit({&captured}).ok());
  Mutation negative;
  negative.holds = {hold("negative", "m", -1, HoldStatus::kOpen)};
  EXPECT_EQ(this->Commit({&negative}).status().code(), absl::StatusCode::kInternal);

  this->env_.Reopen();
  absl::StatusOr<Snapshot> s = this->store().Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, HoldRecord> loaded = this->HoldsOf(*s);
  ASSERT_EQ(loaded.size(), 5u);
  EXPECT_EQ(loaded["open"].model, "gpt-4o");
  EXPECT_EQ(loaded["open"].status, HoldStatus::kOpen);
  EXPECT_EQ(loaded["free"].model, "local \"ü\"");
  EXPECT_EQ(loaded["free"].amount, 0);
  EXPECT_EQ(loaded["none"].model, "");
  EXPECT_EQ(loaded["closed"].model, "claude");
  EXPECT_EQ(loaded["closed"].status, HoldStatus::kReleased);
  EXPECT_EQ(loaded["captured"].model, "gpt-4o-mini");
  EXPECT_EQ(loaded["captured"].status, HoldStatus::kCaptured);
  EXPECT_EQ(loaded["captured"].response, "answer-captured");
  absl::StatusOr<std::optional<HoldRecord>> row = this->store().GetHold(tenant_, "closed");
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ((*row)->model, "claude");
}

TYPED_TEST_P(StoreContractTest, SumUsageGivesThePeriodsSpendByModel) {
  const std::string& tenant_ = this->tenant_;
  auto usage = [&](const std::string& id, const std::string& account, const std::string& model,
                   int64_t amount, int64_t at) {
    TransferRecord t = Transfer(tenant_, id, account, "@usage", amount, TransferKind::kUsage, at);
    t.model = model;
    if (amount == 0) t.usage = TokenUsage{.input_tokens = 10};
    return t;
  };
  Mutation m;
  m.transfers = {usage("u1", "alice", "gpt-4o", 10, 100),  // before the period, in the day
                 usage("u2", "alice", "gpt-4o", 20, 200),
                 usage("u3", "alice", "claude", 40, 300),
                 usage("u4", "alice", "gpt-4o", 1, 300),
                 usage("u5", "alice", "", 5, 300),       // no model: in the sums only
                 usage("u6", "alice", "local", 0, 300),  // a free model
                 usage("u7", "alice", "old", 9, 100),    // only before the period
                 usage("u8", "bob", "gpt-4o", 3, 300)};
  TransferRecord adjustment =
      Transfer(tenant_, "a1", "alice", "@adjustments", 7, TransferKind::kAdjustment, 300);
  adjustment.model = "gpt-4o";  // not usage
  m.transfers.push_back(adjustment);
  ASSERT_TRUE(this->Commit({&m}).ok());

  absl::StatusOr<std::vector<UsageSums>> sums = this->store().SumUsage(tenant_, 150, 50);
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_EQ(sums->size(), 2u);
  const UsageSums& alice = (*sums)[0];
  EXPECT_EQ(alice.account_id, "alice");
  EXPECT_EQ(alice.period_spent, 66);
  EXPECT_EQ(alice.day_spent, 85);
  EXPECT_THAT(alice.model_spent,
              ::testing::ElementsAre(::testing::Pair("claude", 40), ::testing::Pair("gpt-4o", 21),
                                     ::testing::Pair("local", 0)));
  const UsageSums& bob = (*sums)[1];
  EXPECT_EQ(bob.account_id, "bob");
  EXPECT_THAT(bob.model_spent, ::testing::ElementsAre(::testing::Pair("gpt-4o", 3)));
}

REGISTER_TYPED_TEST_SUITE_P(StoreContractTest, BatchIsAllOrNothing,
                            PeriodsGuardResetsAndAreCheckedAgainstTheirTransfers,
                            SumUsageCountsUsageSinceThePeriodAndTheDay,
                            AnOpenRecordAfterAClosingOneInABatchLeavesTheHoldClosed,
                            PricesRoundTripThroughCommitAndLoad, ADuplicatePriceFailsItsWholeBatch,
                            TransfersKeepTheirUsageAndItsTimes, ModelLimitsRoundTripThroughLoad,
                            AHoldKeepsItsModelOpenAndClosed, SumUsageGivesThePeriodsSpendByModel);

}  // namespace store_contract
}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_CONTRACT_STORE_CONTRACT_H_
