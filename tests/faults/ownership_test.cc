// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Two daemons on one database: at most one serves a tenant at a time. The other answers
// UNAVAILABLE naming the owner; when the owner dies the other takes over from the committed
// state; an owner paused past its lease and resumed commits nothing; a key revoked through one
// daemon stops working on the other within seconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;

grpc::Status UpsertAccount(const Daemon& d, const std::string& key, const std::string& account) {
  v1::UpsertAccountRequest req;
  req.set_account_id(account);
  req.set_idempotency_key("up-" + account);
  v1::UpsertAccountResponse resp;
  return v1::BudgetService::NewStub(d.Channel())->UpsertAccount(Ctx(key).get(), req, &resp);
}

grpc::Status Grant(const Daemon& d, const std::string& key, const std::string& account,
                   int64_t amount, const std::string& idem, int deadline_s = 10) {
  v1::GrantRequest req;
  req.set_account_id(account);
  req.set_amount(amount);
  req.set_idempotency_key(idem);
  v1::GrantResponse resp;
  return v1::BudgetService::NewStub(d.Channel())->Grant(Ctx(key, deadline_s).get(), req, &resp);
}

grpc::Status GetBalance(const Daemon& d, const std::string& key, const std::string& account,
                        v1::Balance* out, int deadline_s = 10) {
  v1::GetBalanceRequest req;
  req.set_account_id(account);
  return v1::BudgetService::NewStub(d.Channel())->GetBalance(Ctx(key, deadline_s).get(), req, out);
}

v1::ReconcileResponse Reconcile(const Daemon& d, const std::string& admin_key) {
  v1::ReconcileRequest req;
  v1::ReconcileResponse resp;
  grpc::Status s =
      v1::AdminService::NewStub(d.Channel())->Reconcile(Ctx(admin_key).get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

// Polls GetBalance on `d` until it answers OK; returns how long that took (or a large value).
absl::Duration WaitUntilServed(const Daemon& d, const std::string& key, const std::string& account,
                               absl::Duration limit) {
  const absl::Time start = absl::Now();
  while (absl::Now() - start < limit) {
    v1::Balance b;
    if (GetBalance(d, key, account, &b, 2).ok()) return absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::InfiniteDuration();
}

class OwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_.extra_args = {"--lease-ttl-seconds", "5"};
    owner_.Start();
    keys_ = MakeTenant(owner_);
    ASSERT_TRUE(UpsertAccount(owner_, keys_.hr, "alice").ok());
    standby_.extra_args = {"--lease-ttl-seconds", "5"};
    standby_.Start();
  }

  Daemon owner_;
  Daemon standby_;
  TenantKeys keys_;
};

TEST_F(OwnershipTest, TheStandbyAnswersUnavailableNamingTheOwner) {
  ASSERT_TRUE(Grant(owner_, keys_.hr, "alice", 100, "g1").ok());
  v1::Balance b;
  grpc::Status s = GetBalance(standby_, keys_.auditor, "alice", &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(owner_.target()));
  s = Grant(standby_, keys_.hr, "alice", 100, "g2");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Nothing of the refused grant happened.
  ASSERT_TRUE(GetBalance(owner_, keys_.auditor, "alice", &b).ok());
  EXPECT_EQ(b.granted(), 100);
  // A tenant created through the standby is the standby's.
  TenantKeys other = MakeTenant(standby_);
  EXPECT_TRUE(UpsertAccount(standby_, other.hr, "bob").ok());
  // The owner learns the new tenant's keys and lease within a refresh interval.
  const absl::Time start = absl::Now();
  do {
    s = UpsertAccount(owner_, other.hr, "carol");
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() - start < absl::Seconds(5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(standby_.target()));
}

TEST_F(OwnershipTest, WhenTheOwnerDiesTheStandbyTakesOverWithin10Seconds) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Grant(owner_, keys_.hr, "alice", 10, absl::StrCat("g", i)).ok());
  }
  owner_.Kill();
  const absl::Duration took = WaitUntilServed(standby_, keys_.auditor, "alice", absl::Seconds(15));
  EXPECT_LT(took, absl::Seconds(10));
  v1::Balance b;
  ASSERT_TRUE(GetBalance(standby_, keys_.auditor, "alice", &b).ok());
  EXPECT_EQ(b.granted(), 200);  // loaded from the committed state
  // Retries of acknowledged calls replay; new calls commit.
  ASSERT_TRUE(Grant(standby_, keys_.hr, "alice", 10, "g0").ok());
  ASSERT_TRUE(Grant(standby_, keys_.hr, "alice", 10, "after").ok());
  ASSERT_TRUE(GetBalance(standby_, keys_.auditor, "alice", &b).ok());
  EXPECT_EQ(b.granted(), 210);
  v1::ReconcileResponse r = Reconcile(standby_, keys_.admin);
  EXPECT_EQ(r.ledger_sum(), 0);
  EXPECT_EQ(r.mismatches_size(), 0);
}

TEST_F(OwnershipTest, AGracefulStopHandsTheTenantsOverAtOnce) {
  ASSERT_EQ(owner_.Terminate(), 0);
  EXPECT_LT(WaitUntilServed(standby_, keys_.auditor, "alice", absl::Seconds(10)), absl::Seconds(3));
}

TEST_F(OwnershipTest, AnOwnerPausedPastItsLeaseCommitsNothingWhenResumed) {
  ASSERT_TRUE(Grant(owner_, keys_.hr, "alice", 100, "before").ok());
  owner_.Signal(SIGSTOP);
  // Sent while the owner is stopped: the call waits in its socket and is handled on resume.
  std::thread late([&] {
    grpc::Status s = Grant(owner_, keys_.hr, "alice", 1000, "sent-while-paused", 30);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  });
  EXPECT_LT(WaitUntilServed(standby_, keys_.auditor, "alice", absl::Seconds(15)),
            absl::Seconds(10));
  // EXPECT, not ASSERT: the owner must be resumed and `late` joined whatever happens.
  EXPECT_TRUE(Grant(standby_, keys_.hr, "alice", 5, "on-standby").ok());
  owner_.Signal(SIGCONT);
  late.join();
  // The resumed owner knows it lost the tenant and names the new owner.
  grpc::Status s = Grant(owner_, keys_.hr, "alice", 1000, "after-resume");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  v1::Balance b;
  ASSERT_TRUE(GetBalance(standby_, keys_.auditor, "alice", &b).ok());
  EXPECT_EQ(b.granted(), 105);
  v1::ReconcileResponse r = Reconcile(standby_, keys_.admin);
  EXPECT_EQ(r.ledger_sum(), 0);
  EXPECT_EQ(r.mismatches_size(), 0);
}

TEST_F(OwnershipTest, ARevokedKeyStopsWorkingOnEveryDaemonWithinSeconds) {
  v1::Balance b;
  // The standby knows the key (UNAVAILABLE, not UNAUTHENTICATED).
  EXPECT_EQ(GetBalance(standby_, keys_.auditor, "alice", &b).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  v1::CreateApiKeyRequest kreq;
  kreq.set_role("auditor");
  kreq.set_idempotency_key("new-auditor");
  v1::CreateApiKeyResponse created;
  ASSERT_TRUE(v1::AdminService::NewStub(owner_.Channel())
                  ->CreateApiKey(Ctx(keys_.admin).get(), kreq, &created)
                  .ok());
  v1::RevokeApiKeyRequest rreq;
  rreq.set_key_id(created.key_id());
  rreq.set_idempotency_key("revoke-auditor");
  v1::RevokeApiKeyResponse revoked;
  // Known to the standby within seconds, then revoked through the owner.
  absl::Time start = absl::Now();
  while (GetBalance(standby_, created.key(), "alice", &b).error_code() !=
             grpc::StatusCode::UNAVAILABLE &&
         absl::Now() - start < absl::Seconds(5)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(GetBalance(standby_, created.key(), "alice", &b).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(v1::AdminService::NewStub(owner_.Channel())
                  ->RevokeApiKey(Ctx(keys_.admin).get(), rreq, &revoked)
                  .ok());
  EXPECT_EQ(GetBalance(owner_, created.key(), "alice", &b).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  start = absl::Now();
  grpc::StatusCode code = grpc::StatusCode::OK;
  while (absl::Now() - start < absl::Seconds(5)) {
    code = GetBalance(standby_, created.key(), "alice", &b).error_code();
    if (code == grpc::StatusCode::UNAUTHENTICATED) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

}  // namespace
}  // namespace tokenledger::testing
