// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PostgreSQL unreachable for 30 s under load (a TCP proxy in front of it is cut): Authorize keeps
// answering from memory while the write queue has room, then RESOURCE_EXHAUSTED; durable calls
// fail UNAVAILABLE or RESOURCE_EXHAUSTED within their deadline, never hang; nothing acknowledged
// is lost; when the database returns, the daemon serves again by itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon.h"
#include "tcp_proxy.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::testing {
namespace {

// Call outcomes by status code, and the slowest call.
struct Tally {
  std::mutex mu;
  std::map<grpc::StatusCode, int> codes;
  absl::Duration slowest;
  void Add(grpc::StatusCode code, absl::Duration took) {
    std::lock_guard<std::mutex> lock(mu);
    ++codes[code];
    slowest = std::max(slowest, took);
  }
  int Get(grpc::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu);
    return codes[code];
  }
};

TEST(OutageLoadTest, ThirtySecondsWithoutTheDatabaseUnderLoad) {
  const int pg_port = UrlThroughPort(TestDatabaseUrl(), 0).second;
  TcpProxy proxy(pg_port);
  Daemon d;
  d.database_url = UrlThroughPort(TestDatabaseUrl(), proxy.port()).first;
  d.extra_args = {"--write-queue-max", "2000"};
  d.Start();
  TenantKeys keys = MakeTenant(d);
  auto budget = v1::BudgetService::NewStub(d.Channel());
  auto gateway = v1::AuthorizationService::NewStub(d.Channel());
  v1::UpsertAccountRequest up;
  up.set_account_id("alice");
  up.set_idempotency_key("up");
  v1::UpsertAccountResponse upr;
  ASSERT_TRUE(budget->UpsertAccount(Ctx(keys.hr).get(), up, &upr).ok());
  v1::GrantRequest g;
  g.set_account_id("alice");
  g.set_amount(1'000'000'000);
  g.set_idempotency_key("seed");
  v1::GrantResponse gr;
  ASSERT_TRUE(budget->Grant(Ctx(keys.hr).get(), g, &gr).ok());

  std::atomic<bool> stop{false};
  std::atomic<int64_t> debited_ok{0};
  std::mutex in_doubt_mu;
  std::vector<v1::DebitRequest> in_doubt;  // the client's deadline passed: outcome unknown
  Tally authorize, debit;
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&, t] {  // the gateway's hot path
      for (int i = 0; !stop; ++i) {
        v1::AuthorizeRequest req;
        req.set_account_id("alice");
        req.set_amount(1);
        req.set_idempotency_key(absl::StrCat("a", t, "-", i));
        v1::AuthorizeResponse resp;
        const absl::Time start = absl::Now();
        grpc::Status s = gateway->Authorize(Ctx(keys.gateway, 5).get(), req, &resp);
        authorize.Add(s.error_code(), absl::Now() - start);
      }
    });
  }
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {  // durable calls
      for (int i = 0; !stop; ++i) {
        v1::DebitRequest req;
        req.set_account_id("alice");
        req.set_amount(3);
        req.set_idempotency_key(absl::StrCat("d", t, "-", i));
        v1::DebitResponse resp;
        const absl::Time start = absl::Now();
        grpc::Status s = gateway->Debit(Ctx(keys.gateway, 20).get(), req, &resp);
        debit.Add(s.error_code(), absl::Now() - start);
        if (s.ok()) debited_ok += 3;
        if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          std::lock_guard<std::mutex> lock(in_doubt_mu);
          in_doubt.push_back(req);
        }
        if (!s.ok()) absl::SleepFor(absl::Milliseconds(20));
      }
    });
  }
  absl::SleepFor(absl::Seconds(2));
  const int authorized_before = authorize.Get(grpc::StatusCode::OK);
  const int debited_before = debit.Get(grpc::StatusCode::OK);
  proxy.Cut(true);
  absl::SleepFor(absl::Seconds(30));
  const int authorized_during = authorize.Get(grpc::StatusCode::OK) - authorized_before;
  proxy.Cut(false);
  // Recovery without a restart: durable calls succeed again within seconds.
  const absl::Time back = absl::Now();
  const int debited_at_return = debit.Get(grpc::StatusCode::OK);
  while (debit.Get(grpc::StatusCode::OK) < debited_at_return + 100 &&
         absl::Now() - back < absl::Seconds(30)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_LT(absl::Now() - back, absl::Seconds(15));
  stop = true;
  for (std::thread& t : load) t.join();

  std::cout << "debits ok before the cut " << debited_before << ", authorized during the cut "
            << authorized_during << "\n";
  EXPECT_GT(authorized_during, 0);  // from memory while the queue had room
  EXPECT_GT(authorize.Get(grpc::StatusCode::RESOURCE_EXHAUSTED), 0);  // then shed
  EXPECT_GT(
      debit.Get(grpc::StatusCode::UNAVAILABLE) + debit.Get(grpc::StatusCode::RESOURCE_EXHAUSTED),
      0);
  // A batch whose COMMIT was cut is in doubt: the writer answers nobody until the database
  // says whether it committed, so those calls end at the client's deadline (DEADLINE_EXCEEDED:
  // outcome unknown, retry with the same key).
  for (auto [code, n] : debit.codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::UNAVAILABLE ||
                code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << "Debit answered code " << code << " " << n << " times";
  }
  for (auto [code, n] : authorize.codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "Authorize answered code " << code << " " << n << " times";
  }
  EXPECT_LT(debit.slowest, absl::Seconds(21));  // within the deadline: no hang

  // Every acknowledged Debit is in the ledger; an UNAVAILABLE or RESOURCE_EXHAUSTED one is not
  // (only calls in doubt may be).
  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance b;
  ASSERT_TRUE(budget->GetBalance(Ctx(keys.hr).get(), breq, &b).ok());
  EXPECT_GE(b.spent(), debited_ok.load());
  EXPECT_LE(b.spent(), debited_ok.load() + 3 * static_cast<int64_t>(in_doubt.size()));
  // Retrying the calls in doubt with their keys settles them: each is then in the ledger once.
  for (const v1::DebitRequest& req : in_doubt) {
    v1::DebitResponse resp;
    ASSERT_TRUE(gateway->Debit(Ctx(keys.gateway).get(), req, &resp).ok());
  }
  ASSERT_TRUE(budget->GetBalance(Ctx(keys.hr).get(), breq, &b).ok());
  EXPECT_EQ(b.spent(), debited_ok.load() + 3 * static_cast<int64_t>(in_doubt.size()));
  v1::ReconcileRequest rreq;
  v1::ReconcileResponse r;
  ASSERT_TRUE(
      v1::AdminService::NewStub(d.Channel())->Reconcile(Ctx(keys.admin, 30).get(), rreq, &r).ok());
  EXPECT_EQ(r.ledger_sum(), 0);
  EXPECT_EQ(r.mismatches_size(), 0);
}

}  // namespace
}  // namespace tokenledger::testing
