// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Overload: for 30 s, clients keep many times more durable calls in flight than the daemon
// admits (--max-inflight-calls). The excess is shed at once with RESOURCE_EXHAUSTED (no other
// error), the daemon's memory stays under a bound, every acknowledged call is in the ledger, and
// once the load drops every call succeeds again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::testing {
namespace {

constexpr int kAdmitted = 32;              // --max-inflight-calls
constexpr int kOffered = 640;              // calls the clients keep in flight: 20x what is admitted
constexpr int64_t kRssGrowthMaxMib = 256;  // over the RSS before the load

int64_t ResidentMib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib / 1024;
    }
  }
  return -1;
}

// Keeps `offered` Debit calls in flight through the callback API until `until`.
class Load {
 public:
  Load(std::shared_ptr<grpc::Channel> channel, std::string key)
      : stub_(v1::AuthorizationService::NewStub(channel)), key_(std::move(key)) {}

  void Run(int offered, absl::Time until) {
    until_ = until;
    for (int i = 0; i < offered; ++i) Launch();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

  std::map<grpc::StatusCode, int64_t> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }
  int64_t spent() {
    std::lock_guard<std::mutex> lock(mu_);
    return spent_;
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    v1::DebitRequest req;
    v1::DebitResponse resp;
  };

  void Launch() {
    auto* call = new Call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      call->req.set_idempotency_key(absl::StrCat("o-", next_++));
    }
    call->req.set_account_id("alice");
    call->req.set_amount(1);
    call->ctx.AddMetadata("authorization", "Bearer " + key_);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_->async()->Debit(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
      bool again;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++codes_[s.error_code()];
        if (s.ok()) spent_ += call->resp.amount();
        --in_flight_;
        again = absl::Now() < until_;
      }
      delete call;
      if (again) {
        Launch();
      } else {
        cv_.notify_all();
      }
    });
  }

  std::unique_ptr<v1::AuthorizationService::Stub> stub_;
  const std::string key_;
  absl::Time until_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
  int64_t next_ = 0;
  int64_t spent_ = 0;
  std::map<grpc::StatusCode, int64_t> codes_;
};

TEST(OverloadTest, ExcessIsShedMemoryIsBoundedAndServiceReturns) {
  Daemon d;
  d.extra_args = {"--max-inflight-calls", absl::StrCat(kAdmitted)};
  d.Start();
  TenantKeys keys = MakeTenant(d);
  auto budget = v1::BudgetService::NewStub(d.Channel());
  v1::UpsertAccountRequest up;
  up.set_account_id("alice");
  up.set_idempotency_key("up");
  v1::UpsertAccountResponse upr;
  ASSERT_TRUE(budget->UpsertAccount(Ctx(keys.hr).get(), up, &upr).ok());

  // Leases other daemons of the test run left behind expire within a lease period and this
  // daemon then loads those tenants: let that happen before measuring.
  absl::SleepFor(absl::Seconds(6));
  Load load(d.Channel(), keys.gateway);
  const int64_t rss_before = ResidentMib(d.pid());
  int64_t rss_max = 0;
  std::atomic<bool> done{false};
  std::thread watch([&] {
    for (int tick = 0; !done; ++tick) {
      const int64_t rss = ResidentMib(d.pid());
      rss_max = std::max(rss_max, rss);
      if (tick % 25 == 0) std::cout << "RSS " << rss << " MiB\n";
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  load.Run(kOffered, absl::Now() + absl::Seconds(30));
  done = true;
  watch.join();

  std::map<grpc::StatusCode, int64_t> codes = load.codes();
  std::cout << "ok " << codes[grpc::StatusCode::OK] << ", shed "
            << codes[grpc::StatusCode::RESOURCE_EXHAUSTED] << ", RSS " << rss_before
            << " MiB before, " << rss_max << " MiB at most\n";
  EXPECT_GT(codes[grpc::StatusCode::OK], 1000);
  EXPECT_GT(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 1000);
  for (auto [code, n] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "code " << code << " answered " << n << " times";
  }
  EXPECT_LT(rss_max - rss_before, kRssGrowthMaxMib);

  // The load is gone: every call succeeds again.
  auto gateway = v1::AuthorizationService::NewStub(d.Channel());
  for (int i = 0; i < 50; ++i) {
    v1::DebitRequest req;
    req.set_account_id("alice");
    req.set_amount(1);
    req.set_idempotency_key(absl::StrCat("after-", i));
    v1::DebitResponse resp;
    grpc::Status s = gateway->Debit(Ctx(keys.gateway).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance b;
  ASSERT_TRUE(budget->GetBalance(Ctx(keys.hr).get(), breq, &b).ok());
  EXPECT_EQ(b.spent(), load.spent() + 50);  // every acknowledged call, nothing shed
}

}  // namespace
}  // namespace tokenledger::testing
