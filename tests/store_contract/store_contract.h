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

#include <cstdint>
#include <map>
#include <optional>
#include <string>
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

REGISTER_TYPED_TEST_SUITE_P(StoreContractTest, BatchIsAllOrNothing,
                            PeriodsGuardResetsAndAreCheckedAgainstTheirTransfers,
                            SumUsageCountsUsageSinceThePeriodAndTheDay,
                            AnOpenRecordAfterAClosingOneInABatchLeavesTheHoldClosed);

}  // namespace store_contract
}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_CONTRACT_STORE_CONTRACT_H_
