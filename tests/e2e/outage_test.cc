// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The database goes away under a running daemon (a TCP proxy in front of PostgreSQL is cut):
// Authorize keeps answering from memory, durable calls fail UNAVAILABLE within their retry
// window, a full queue sheds RESOURCE_EXHAUSTED, and the daemon recovers by itself.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon.h"
#include "gtest/gtest.h"
#include "tcp_proxy.h"

namespace tokenledger::testing {
namespace {

// A daemon whose database is reached through a proxy the test can cut, serving a tenant with
// the account "alice".
class OutageTest : public ::testing::Test {
 protected:
  OutageTest() : proxy_(UrlThroughPort(TestDatabaseUrl(), 0).second) {
    d_.database_url = UrlThroughPort(TestDatabaseUrl(), proxy_.port()).first;
  }
  void Start(std::vector<std::string> extra_args = {}) {
    d_.extra_args = std::move(extra_args);
    d_.Start();
    keys_ = MakeTenant(d_);
    budget_ = v1::BudgetService::NewStub(d_.Channel());
    gateway_ = v1::AuthorizationService::NewStub(d_.Channel());
    v1::UpsertAccountRequest up;
    up.set_account_id("alice");
    up.set_idempotency_key("up");
    v1::UpsertAccountResponse upr;
    ASSERT_TRUE(budget_->UpsertAccount(Ctx(keys_.hr).get(), up, &upr).ok());
  }

  TcpProxy proxy_;
  Daemon d_;
  TenantKeys keys_;
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  std::unique_ptr<v1::AuthorizationService::Stub> gateway_;
};

TEST_F(OutageTest, DatabaseOutageFailsDurableCallsAndTheDaemonRecoversByItself) {
  Start({"--write-queue-max", "4"});
  TcpProxy& proxy = proxy_;
  Daemon& d = d_;
  TenantKeys& keys = keys_;
  auto& budget = budget_;
  auto& gateway = gateway_;
  auto grant = [&](const std::string& key, int deadline_s) {
    v1::GrantRequest req;
    req.set_account_id("alice");
    req.set_amount(100);
    req.set_idempotency_key(key);
    v1::GrantResponse resp;
    return budget->Grant(Ctx(keys.hr, deadline_s).get(), req, &resp);
  };
  ASSERT_TRUE(grant("g-before", 10).ok());

  proxy.Cut(true);
  // Authorize answers from memory while the database is away.
  v1::AuthorizeRequest areq;
  areq.set_account_id("alice");
  areq.set_amount(10);
  areq.set_idempotency_key("auth-during");
  v1::AuthorizeResponse aresp;
  ASSERT_TRUE(gateway->Authorize(Ctx(keys.gateway).get(), areq, &aresp).ok());
  EXPECT_EQ(aresp.decision(), v1::ALLOWED);
  // Durable calls: the first ones wait out the writer's retry window, then UNAVAILABLE; the
  // queue (4 writes) fills meanwhile, and the calls past it are shed at once.
  std::atomic<int> unavailable{0}, exhausted{0}, other{0};
  std::vector<std::thread> callers;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 12; ++i) {
    callers.emplace_back([&, i] {
      const grpc::Status s = grant(absl::StrCat("g-during-", i), 30);
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
        ++unavailable;
      } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++exhausted;
      } else {
        ++other;
      }
    });
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (auto& t : callers) t.join();
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(25));  // no call hangs

  proxy.Cut(false);
  // Recovery without a restart: the same keys now succeed.
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    s = grant("g-during-0", 10);
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance b;
  ASSERT_TRUE(budget->GetBalance(Ctx(keys.hr).get(), breq, &b).ok());
  EXPECT_EQ(b.granted(), 200);  // g-before and g-during-0; nothing failed was recorded
  EXPECT_EQ(b.held(), 10);
  v1::ReconcileRequest rreq;
  v1::ReconcileResponse rresp;
  ASSERT_TRUE(v1::AdminService::NewStub(d.Channel())
                  ->Reconcile(Ctx(keys.admin, 30).get(), rreq, &rresp)
                  .ok());
  EXPECT_EQ(rresp.ledger_sum(), 0);
  EXPECT_EQ(rresp.mismatches_size(), 0);
}

// The database shuts down between two durable calls (its connections get its last FATAL message
// and are closed, and new ones are refused): a Debit is answered UNAVAILABLE within the writer's 5
// s window, twice in a row, instead of waiting for its deadline; nothing of it is recorded, and
// once the database is back the same key commits it once.
TEST_F(OutageTest, ADebitAfterTheDatabaseWentAwayIsUnavailableWithinTheWindow) {
  Start();
  TcpProxy& proxy = proxy_;
  TenantKeys& keys = keys_;
  auto& budget = budget_;
  auto& gateway = gateway_;
  auto debit = [&](const std::string& key) {
    v1::DebitRequest req;
    req.set_account_id("alice");
    req.set_amount(7);
    req.set_idempotency_key(key);
    v1::DebitResponse resp;
    return gateway->Debit(Ctx(keys.gateway, 30).get(), req, &resp);
  };
  ASSERT_TRUE(debit("d-before").ok());  // the writer's connection is open and idle

  proxy.CutLikeAServerShutdown();
  for (const char* key : {"d-during-1", "d-during-2"}) {
    const absl::Time start = absl::Now();
    const grpc::Status s = debit(key);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << key << ": " << s.error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << key;
  }
  proxy.Cut(false);
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    s = debit("d-during-1");
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance b;
  ASSERT_TRUE(budget->GetBalance(Ctx(keys.hr).get(), breq, &b).ok());
  EXPECT_EQ(b.spent(), 14);  // d-before and d-during-1, once each
}

}  // namespace
}  // namespace tokenledger::testing
