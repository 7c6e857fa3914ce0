// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// MemoryStore semantics (the ones PgStore has; tests/integration/pg_store_test.cc checks the
// same on PostgreSQL), the store contract (tests/store_contract) on MemoryStore, and FaultyStore's
// injected faults.
#include "testing/memory_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store_contract/store_contract.h"
#include "testing/faulty_store.h"

namespace tokenledger {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kTenant[] = "acme";

Mutation TenantMutation(const std::string& tenant) {
  Mutation m;
  m.tenant = TenantRecord{.tenant_id = tenant, .display_name = "Acme", .created_at_us = 1};
  return m;
}

Mutation AccountMutation(const std::string& tenant, const std::string& account) {
  Mutation m;
  AccountRecord a;
  a.tenant_id = tenant;
  a.account_id = account;
  a.display_name = account;
  a.created_at_us = 2;
  m.account = a;
  return m;
}

using store_contract::Transfer;

// A grant from @funding under an idempotency key.
Mutation GrantMutation(const std::string& tenant, const std::string& account, int64_t amount,
                       const std::string& key) {
  Mutation m;
  m.idempotency = IdempotencyRecord{
      .tenant_id = tenant, .key = key, .fingerprint = 42, .response = "resp-" + key};
  m.transfers.push_back(Transfer(tenant, "t-" + key, std::string(kFundingAccount), account, amount,
                                 TransferKind::kGrant));
  return m;
}

absl::StatusOr<std::vector<MutationOutcome>> CommitOne(LedgerStore& store, const Mutation& m,
                                                       uint64_t batch_id) {
  const Mutation* ptrs[] = {&m};
  return store.Commit(ptrs, batch_id);
}

PostedTotals Balance(MemoryStore& store, const std::string& tenant, const std::string& account) {
  absl::StatusOr<Snapshot> s = store.Load();
  EXPECT_TRUE(s.ok()) << s.status();
  for (const Snapshot::AccountBalance& ab : s->accounts) {
    if (ab.account.tenant_id == tenant && ab.account.account_id == account) return ab.posted;
  }
  ADD_FAILURE() << "no account " << account;
  return {};
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Mutation tenant = TenantMutation(kTenant);
    Mutation alice = AccountMutation(kTenant, "alice");
    Mutation bob = AccountMutation(kTenant, "bob");
    const Mutation* batch[] = {&tenant, &alice, &bob};
    ASSERT_TRUE(store_.Commit(batch, NextBatch()).ok());
  }
  uint64_t NextBatch() { return ++batch_id_; }

  MemoryStore store_;
  uint64_t batch_id_ = 0;
};

TEST_F(MemoryStoreTest, TenantCreatesSystemAccountsWithZeroBalances) {
  absl::StatusOr<Snapshot> s = store_.Load();
  ASSERT_TRUE(s.ok());
  std::vector<std::string> ids;
  for (const auto& ab : s->accounts) {
    ids.push_back(ab.account.account_id);
    EXPECT_EQ(ab.posted, PostedTotals{});
  }
  EXPECT_THAT(ids, ElementsAre("@adjustments", "@expired", "@funding", "@usage", "alice", "bob"));
}

TEST_F(MemoryStoreTest, DuplicateIdempotencyKeySkipsTheWholeMutation) {
  ASSERT_TRUE(CommitOne(store_, GrantMutation(kTenant, "alice", 100, "k1"), NextBatch()).ok());

  // The same key again (with another amount) and a new key, in one batch.
  Mutation again = GrantMutation(kTenant, "alice", 500, "k1");
  again.transfers[0].transfer_id = "t-other";
  Mutation fresh = GrantMutation(kTenant, "alice", 7, "k2");
  const Mutation* batch[] = {&again, &fresh};
  absl::StatusOr<std::vector<MutationOutcome>> out = store_.Commit(batch, NextBatch());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_FALSE((*out)[0].committed);
  EXPECT_EQ((*out)[0].existing.key, "k1");
  EXPECT_EQ((*out)[0].existing.response, "resp-k1");
  EXPECT_TRUE((*out)[1].committed);

  EXPECT_EQ(Balance(store_, kTenant, "alice").credits, 107);
  EXPECT_EQ(store_.transfer_count(), 2u);
}

TEST_F(MemoryStoreTest, DuplicateKeyWithinOneBatchAnswersWithTheFirst) {
  Mutation first = GrantMutation(kTenant, "alice", 10, "same");
  Mutation second = GrantMutation(kTenant, "alice", 20, "same");
  second.idempotency->response = "second";
  second.transfers[0].transfer_id = "t-second";
  const Mutation* batch[] = {&first, &second};
  absl::StatusOr<std::vector<MutationOutcome>> out = store_.Commit(batch, NextBatch());
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE((*out)[0].committed);
  EXPECT_FALSE((*out)[1].committed);
  EXPECT_EQ((*out)[1].existing.response, "resp-same");
  EXPECT_EQ(Balance(store_, kTenant, "alice").credits, 10);
  EXPECT_EQ(store_.transfer_count(), 1u);
}

TEST_F(MemoryStoreTest, TransfersGetIncreasingSeqAndListNewestFirst) {
  for (int i = 0; i < 10; ++i) {
    Mutation m;
    m.transfers.push_back(Transfer(kTenant, absl::StrCat("t", i), "@funding",
                                   i % 2 == 0 ? "alice" : "bob", 1 + i, TransferKind::kGrant,
                                   /*created_at_us=*/100 + i));
    if (i == 3) {
      // alice pays bob: on alice's debit side.
      m.transfers.push_back(
          Transfer(kTenant, "pay", "alice", "bob", 1, TransferKind::kAdjustment, 100 + i));
    }
    ASSERT_TRUE(CommitOne(store_, m, NextBatch()).ok());
  }
  TransferQuery q{.tenant_id = kTenant, .account_id = "alice", .limit = 3};
  absl::StatusOr<std::vector<TransferRecord>> page = store_.ListTransfers(q);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> ids;
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("t8", "t6", "t4"));
  EXPECT_GT((*page)[0].seq, (*page)[1].seq);

  q.before_seq = page->back().seq;
  page = store_.ListTransfers(q);
  ASSERT_TRUE(page.ok());
  ids.clear();
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("pay", "t2", "t0"));

  TransferQuery window{
      .tenant_id = kTenant, .account_id = "bob", .limit = 100, .since_us = 103, .until_us = 107};
  page = store_.ListTransfers(window);
  ASSERT_TRUE(page.ok());
  ids.clear();
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("t5", "pay", "t3"));
}

TEST_F(MemoryStoreTest, MetadataIsStoredSortedWithOneValuePerKey) {
  Mutation m = GrantMutation(kTenant, "alice", 5, "meta");
  m.transfers[0].metadata = {{"z", "1"}, {"a", "2"}, {"z", "3"}};
  ASSERT_TRUE(CommitOne(store_, m, NextBatch()).ok());
  auto page = store_.ListTransfers({.tenant_id = kTenant, .account_id = "alice"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_THAT((*page)[0].metadata, ElementsAre(Pair("a", "2"), Pair("z", "3")));
}

TEST_F(MemoryStoreTest, TextTheDatabaseCannotHoldIsRefused) {
  Mutation m = GrantMutation(kTenant, "alice", 5, "nul");
  m.transfers[0].memo = std::string("a\0b", 3);
  EXPECT_EQ(CommitOne(store_, m, NextBatch()).status().code(), absl::StatusCode::kInvalidArgument);
  m.transfers[0].memo = "\xff\xfe";
  EXPECT_EQ(CommitOne(store_, m, NextBatch()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MemoryStoreTest, HoldUpdateChangesOnlyItsStatus) {
  Mutation place;
  place.holds.push_back(HoldRecord{.tenant_id = kTenant,
                                   .hold_id = "h1",
                                   .account_id = "alice",
                                   .amount = 30,
                                   .created_at_us = 5,
                                   .expires_at_us = 600});
  ASSERT_TRUE(CommitOne(store_, place, NextBatch()).ok());
  Mutation release;
  release.holds.push_back(HoldRecord{.tenant_id = kTenant,
                                     .hold_id = "h1",
                                     .account_id = "alice",
                                     .amount = 1,
                                     .status = HoldStatus::kReleased});
  ASSERT_TRUE(CommitOne(store_, release, NextBatch()).ok());
  absl::StatusOr<Snapshot> s = store_.Load();
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->holds.size(), 1u);
  EXPECT_EQ(s->holds[0].amount, 30);
  EXPECT_EQ(s->holds[0].expires_at_us, 600);
  EXPECT_EQ(s->holds[0].status, HoldStatus::kReleased);
}

// A hold only ever closes, also within one batch: an open record after its closing one (a
// compaction rewriting a hold whose capture was in flight) leaves it closed, in no segment.
TEST_F(MemoryStoreTest, RecomputeFindsCorruptionAndRepairFixesIt) {
  ASSERT_TRUE(CommitOne(store_, GrantMutation(kTenant, "alice", 100, "g"), NextBatch()).ok());
  Mutation spend;
  spend.transfers.push_back(Transfer(kTenant, "u1", "alice", "@usage", 30, TransferKind::kUsage));
  spend.holds.push_back(HoldRecord{.tenant_id = kTenant,
                                   .hold_id = "h",
                                   .account_id = "alice",
                                   .amount = 5,
                                   .expires_at_us = 9});
  ASSERT_TRUE(CommitOne(store_, spend, NextBatch()).ok());

  store_.CorruptBalanceForTest(kTenant, "alice", PostedTotals{.credits = 1});
  absl::StatusOr<ReconcileData> data = store_.Recompute(kTenant);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->transfers_checked, 2);
  EXPECT_EQ(data->ledger_sum, 0);
  std::vector<std::pair<std::string, PostedTotals>> fixes;
  for (const ReconcileData::Row& row : data->rows) {
    if (row.account_id == "alice") {
      EXPECT_EQ(row.recomputed,
                (PostedTotals{.credits = 100, .debits = 30, .granted = 100, .spent = 30}));
      EXPECT_EQ(row.stored, PostedTotals{.credits = 1});
      EXPECT_EQ(row.open_held, 5);
    }
    if (row.recomputed != row.stored) fixes.emplace_back(row.account_id, row.recomputed);
  }
  ASSERT_EQ(fixes.size(), 1u);
  ASSERT_TRUE(store_.RepairBalances(kTenant, fixes, AuditRecord{.tenant_id = kTenant}).ok());
  data = store_.Recompute(kTenant);
  ASSERT_TRUE(data.ok());
  for (const ReconcileData::Row& row : data->rows) EXPECT_EQ(row.recomputed, row.stored);
}

// The store contract on MemoryStore: the data lives in the object, so a reopen keeps it as is.
struct MemoryStoreEnv {
  void SetUp() {}
  LedgerStore& store() { return store_; }
  void Reopen() {}
  std::string NewTenant() { return kTenant; }
  uint64_t NewBatchId() { return ++batch_id_; }

  MemoryStore store_;
  uint64_t batch_id_ = 0;
};
}  // namespace
// In the suite's namespace: the macro names the suite's registration unqualified.
namespace store_contract {
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryStore, StoreContractTest, MemoryStoreEnv);
}  // namespace store_contract
namespace {

TEST(FaultyStoreTest, InjectsFailuresInDoubtCommitsAndUnavailability) {
  MemoryStore inner;
  FaultyStore store(&inner);
  Mutation tenant = TenantMutation("t1");
  Mutation account = AccountMutation("t1", "a");
  const Mutation* setup[] = {&tenant, &account};
  ASSERT_TRUE(store.Commit(setup, 1).ok());

  store.FailNextCommits(1, absl::UnavailableError("down"));
  EXPECT_EQ(CommitOne(store, GrantMutation("t1", "a", 1, "x"), 2).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(*store.CommittedBatch(2));
  EXPECT_EQ(inner.transfer_count(), 0u);

  store.CommitThenReportInDoubt(1);
  EXPECT_EQ(CommitOne(store, GrantMutation("t1", "a", 1, "x"), 3).status().code(),
            absl::StatusCode::kUnknown);
  EXPECT_TRUE(*store.CommittedBatch(3));
  EXPECT_EQ(inner.transfer_count(), 1u);

  store.SetUnavailable(true);
  EXPECT_EQ(store.Load().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CommitOne(store, GrantMutation("t1", "a", 1, "y"), 4).status().code(),
            absl::StatusCode::kUnavailable);
  store.SetUnavailable(false);
  EXPECT_TRUE(CommitOne(store, GrantMutation("t1", "a", 1, "y"), 4).ok());
  EXPECT_EQ(store.commit_calls(), 5);
  EXPECT_EQ(store.commits_forwarded(), 3);
}

}  // namespace
}  // namespace tokenledger
