// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// FakeLeaseStore keeps the lease contract of lease.h (the behaviour PgStore's FencingTest checks
// on PostgreSQL): leases move to a new owner only once expired or released, with epoch + 1;
// fencing refuses a batch of a tenant whose lease moved on; a created tenant is leased to its
// creator.
#include "testing/fake_lease_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tokenledger {
namespace {

LeaseOwner Owner(const std::string& id) {
  return LeaseOwner{.owner_id = id, .address = id + ":50051", .ttl = absl::Seconds(5)};
}

// A write of `tenant` (MutationTenant names it).
Mutation Write(const std::string& tenant) {
  Mutation m;
  m.team = TeamRecord{.tenant_id = tenant, .team_id = "eng"};
  return m;
}

class FakeLeaseStoreTest : public ::testing::Test {
 protected:
  FakeLeaseStoreTest() : clock_(absl::FromUnixSeconds(1000000)), table_(&clock_) {
    table_.AddTenant("acme");
    a_.EnableFencing(Owner("node-a/1"));
    b_.EnableFencing(Owner("node-b/1"));
  }

  // Claims with `store` and fences what it got, as the server's Ownership loop does.
  std::vector<LeaseRecord> ClaimAndFence(FakeLeaseStore& store) {
    absl::StatusOr<std::vector<LeaseRecord>> got = store.ClaimLeases(/*claim=*/true);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return {};
    for (const LeaseRecord& l : *got) store.AddFence(l.tenant_id, l.epoch);
    return *got;
  }

  ManualClock clock_;
  FakeLeaseTable table_;
  FakeLeaseStore a_{&table_};
  FakeLeaseStore b_{&table_};
};

TEST_F(FakeLeaseStoreTest, ALeaseMovesOnlyOnceExpiredAndItsFormerOwnerIsFenced) {
  ASSERT_EQ(ClaimAndFence(a_).size(), 1u);
  EXPECT_EQ(a_.FenceEpoch("acme"), 1);
  EXPECT_TRUE(ClaimAndFence(b_).empty());  // a's lease is valid

  Mutation m = Write("acme");
  const Mutation* batch[] = {&m};
  EXPECT_TRUE(a_.CheckFences(batch).ok());
  EXPECT_EQ(b_.CheckFences(batch).code(), absl::StatusCode::kAborted);

  clock_.Advance(absl::Seconds(6));
  std::vector<LeaseRecord> taken = ClaimAndFence(b_);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].owner_id, "node-b/1");
  EXPECT_EQ(taken[0].epoch, 2);
  EXPECT_EQ(a_.CheckFences(batch).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(b_.CheckFences(batch).ok());
  // a renews only what it still holds: nothing.
  absl::StatusOr<std::vector<LeaseRecord>> renewed = a_.ClaimLeases(/*claim=*/false);
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE(renewed->empty());
}

TEST_F(FakeLeaseStoreTest, ReleasedLeasesAndANewIncarnationAreTakenAtOnce) {
  ASSERT_EQ(ClaimAndFence(a_).size(), 1u);
  ASSERT_TRUE(a_.ReleaseLeases().ok());
  EXPECT_TRUE(a_.Fences().empty());
  ASSERT_EQ(ClaimAndFence(b_).size(), 1u);
  EXPECT_EQ(b_.FenceEpoch("acme"), 2);

  FakeLeaseStore b2(&table_);  // node-b restarted: a new owner of the same node
  b2.EnableFencing(Owner("node-b/2"));
  std::vector<LeaseRecord> taken = ClaimAndFence(b2);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].epoch, 3);
}

TEST_F(FakeLeaseStoreTest, ACreatedTenantIsLeasedToItsCreatorAndUnfencedOnesAreRefused) {
  Mutation create;
  create.tenant = TenantRecord{.tenant_id = "new"};
  Mutation write = Write("new");
  const Mutation* batch[] = {&create, &write};
  EXPECT_TRUE(a_.CheckFences(batch).ok());  // the batch creates it
  a_.RecordCreatedTenants(batch);
  EXPECT_EQ(a_.FenceEpoch("new"), 1);

  const Mutation* later[] = {&write};
  EXPECT_TRUE(a_.CheckFences(later).ok());
  EXPECT_EQ(b_.CheckFences(later).code(), absl::StatusCode::kAborted);  // no fence at b
  EXPECT_THAT(a_.ListLeases().value(), ::testing::SizeIs(1));           // "acme" is not leased yet

  FakeLeaseStore unfenced(&table_);
  EXPECT_EQ(unfenced.ClaimLeases(true).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(unfenced.CheckFences(later).ok());  // fencing not enabled
}

}  // namespace
}  // namespace tokenledger
