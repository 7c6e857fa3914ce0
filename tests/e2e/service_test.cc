// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// End to end: a real tokenledgerd on the real PostgreSQL, driven over gRPC as clients would.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/raw_call.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.Start();
    Connect();
    keys_ = MakeTenant(daemon_);
  }
  void Connect() {
    auto ch = daemon_.Channel();
    auth_ = v1::AuthorizationService::NewStub(ch);
    budget_ = v1::BudgetService::NewStub(ch);
    admin_ = v1::AdminService::NewStub(ch);
  }

  grpc::Status UpsertAccount(const std::string& id, const std::string& key = "") {
    v1::UpsertAccountRequest req;
    req.set_account_id(id);
    req.set_display_name("Employee " + id);
    req.set_idempotency_key(Unique("ua"));
    v1::UpsertAccountResponse resp;
    return budget_->UpsertAccount(Ctx(key.empty() ? keys_.hr : key).get(), req, &resp);
  }
  grpc::Status Grant(const std::string& account, int64_t amount, const std::string& idem,
                     v1::GrantResponse* resp, const std::string& key = "") {
    v1::GrantRequest req;
    req.set_account_id(account);
    req.set_amount(amount);
    req.set_idempotency_key(idem);
    return budget_->Grant(Ctx(key.empty() ? keys_.hr : key).get(), req, resp);
  }
  grpc::Status Authorize(const std::string& account, int64_t amount, v1::AuthorizeResponse* resp,
                         const std::string& key = "") {
    v1::AuthorizeRequest req;
    req.set_account_id(account);
    req.set_amount(amount);
    req.set_idempotency_key(Unique("az"));
    return auth_->Authorize(Ctx(key.empty() ? keys_.gateway : key).get(), req, resp);
  }
  grpc::Status Debit(const std::string& account, int64_t amount, const std::string& hold,
                     const std::string& idem, v1::DebitResponse* resp,
                     const std::string& key = "") {
    v1::DebitRequest req;
    req.set_account_id(account);
    req.set_amount(amount);
    req.set_hold_id(hold);
    req.set_idempotency_key(idem);
    req.set_request_id("req-" + idem);
    req.set_model("gpt-test");
    (*req.mutable_metadata())["team"] = "search";
    return auth_->Debit(Ctx(key.empty() ? keys_.gateway : key).get(), req, resp);
  }
  v1::Balance Balance(const std::string& account) {
    v1::GetBalanceRequest req;
    req.set_account_id(account);
    v1::Balance b;
    grpc::Status s = budget_->GetBalance(Ctx(keys_.auditor).get(), req, &b);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return b;
  }
  v1::ReconcileResponse Reconcile(bool fix = false) {
    v1::ReconcileRequest req;
    req.set_fix(fix);
    v1::ReconcileResponse resp;
    grpc::Status s = admin_->Reconcile(Ctx(keys_.admin, 60).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  Daemon daemon_;
  TenantKeys keys_;
  std::unique_ptr<v1::AuthorizationService::Stub> auth_;
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(ServiceTest, GatewayCycleGrantAuthorizeDebitReleaseReconcile) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  ASSERT_TRUE(Grant("alice", 1'000'000, "grant-1", &g).ok());
  EXPECT_EQ(g.available(), 1'000'000);
  EXPECT_FALSE(g.transfer_id().empty());

  v1::CheckRequest creq;
  creq.set_account_id("alice");
  creq.set_amount(2'000'000);
  v1::CheckResponse cresp;
  ASSERT_TRUE(auth_->Check(Ctx(keys_.gateway).get(), creq, &cresp).ok());
  EXPECT_FALSE(cresp.would_allow());
  EXPECT_EQ(cresp.available(), 1'000'000);

  v1::AuthorizeResponse a;
  ASSERT_TRUE(Authorize("alice", 300'000, &a).ok());
  EXPECT_EQ(a.decision(), v1::ALLOWED);
  EXPECT_EQ(a.available(), 700'000);
  EXPECT_GT(a.expires_at(), 0);

  v1::DebitResponse d;
  ASSERT_TRUE(Debit("alice", 120'000, a.hold_id(), "debit-1", &d).ok());
  EXPECT_EQ(d.available(), 880'000);
  EXPECT_FALSE(d.overage());

  v1::AuthorizeResponse a2;
  ASSERT_TRUE(Authorize("alice", 50'000, &a2).ok());
  v1::ReleaseRequest rreq;
  rreq.set_hold_id(a2.hold_id());
  rreq.set_idempotency_key("release-1");
  v1::ReleaseResponse rresp;
  ASSERT_TRUE(auth_->Release(Ctx(keys_.gateway).get(), rreq, &rresp).ok());
  EXPECT_EQ(rresp.released_amount(), 50'000);

  v1::AdjustRequest adj;
  adj.set_account_id("alice");
  adj.set_amount_delta(-80'000);
  adj.set_idempotency_key("adjust-1");
  adj.set_memo("refund correction");
  v1::AdjustResponse adjr;
  ASSERT_TRUE(budget_->Adjust(Ctx(keys_.hr).get(), adj, &adjr).ok());
  EXPECT_EQ(adjr.available(), 800'000);

  v1::Balance b = Balance("alice");
  EXPECT_EQ(b.credits(), 1'000'000);
  EXPECT_EQ(b.debits(), 200'000);
  EXPECT_EQ(b.granted(), 1'000'000);
  EXPECT_EQ(b.spent(), 120'000);
  EXPECT_EQ(b.held(), 0);
  EXPECT_EQ(b.available(), 800'000);
  EXPECT_EQ(b.unit(), "usd_micros");
  EXPECT_LT(b.period_start(), b.period_end());

  v1::ListTransfersRequest lreq;
  lreq.set_account_id("alice");
  lreq.set_page_size(2);
  v1::ListTransfersResponse page1;
  ASSERT_TRUE(budget_->ListTransfers(Ctx(keys_.auditor).get(), lreq, &page1).ok());
  ASSERT_EQ(page1.transfers_size(), 2);
  EXPECT_EQ(page1.transfers(0).kind(), v1::ADJUSTMENT);  // newest first
  EXPECT_EQ(page1.transfers(1).kind(), v1::USAGE);
  EXPECT_EQ(page1.transfers(1).debit_account_id(), "alice");
  EXPECT_EQ(page1.transfers(1).credit_account_id(), "@usage");
  EXPECT_EQ(page1.transfers(1).request_id(), "req-debit-1");
  EXPECT_EQ(page1.transfers(1).model(), "gpt-test");
  EXPECT_EQ(page1.transfers(1).metadata().at("team"), "search");
  ASSERT_FALSE(page1.next_page_token().empty());
  lreq.set_page_token(page1.next_page_token());
  v1::ListTransfersResponse page2;
  ASSERT_TRUE(budget_->ListTransfers(Ctx(keys_.auditor).get(), lreq, &page2).ok());
  ASSERT_EQ(page2.transfers_size(), 1);
  EXPECT_EQ(page2.transfers(0).kind(), v1::GRANT);
  EXPECT_TRUE(page2.next_page_token().empty());

  v1::ReconcileResponse rec = Reconcile();
  EXPECT_EQ(rec.ledger_sum(), 0);
  EXPECT_EQ(rec.mismatches_size(), 0);
  EXPECT_EQ(rec.transfers_checked(), 3);
  EXPECT_GE(rec.accounts_checked(), 5);  // alice and the four system accounts
}

TEST_F(ServiceTest, TeamsAndAccountPolicies) {
  v1::UpsertTeamRequest treq;
  treq.set_team_id("search");
  treq.set_display_name("Search");
  treq.set_monthly_cap(5'000'000);
  treq.set_idempotency_key("team-1");
  v1::UpsertTeamResponse tresp;
  ASSERT_TRUE(budget_->UpsertTeam(Ctx(keys_.hr).get(), treq, &tresp).ok());
  EXPECT_TRUE(tresp.created());
  EXPECT_EQ(tresp.team().monthly_cap(), 5'000'000);

  v1::UpsertAccountRequest req;
  req.set_account_id("bob@example.com");
  req.set_team_id("search");
  req.mutable_policy()->set_monthly_allocation(1'000'000);
  req.mutable_policy()->set_overdraft_limit(1000);
  req.set_idempotency_key("acct-1");
  v1::UpsertAccountResponse resp;
  ASSERT_TRUE(budget_->UpsertAccount(Ctx(keys_.hr).get(), req, &resp).ok());
  EXPECT_TRUE(resp.created());
  EXPECT_EQ(resp.account().team_id(), "search");
  EXPECT_EQ(resp.account().status(), v1::ACTIVE);
  EXPECT_EQ(resp.account().policy().overdraft_limit(), 1000);

  // The same request under the same key replays the original answer (and reads the account).
  v1::UpsertAccountResponse replay;
  ASSERT_TRUE(budget_->UpsertAccount(Ctx(keys_.hr).get(), req, &replay).ok());
  EXPECT_TRUE(replay.created());
  EXPECT_EQ(replay.account().team_id(), "search");

  req.set_team_id("no-such-team");
  req.set_idempotency_key("acct-2");
  grpc::Status s = budget_->UpsertAccount(Ctx(keys_.hr).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("team_id"));

  req.set_team_id("search");
  req.set_status(static_cast<v1::AccountStatus>(42));
  req.set_idempotency_key("acct-3");
  s = budget_->UpsertAccount(Ctx(keys_.hr).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("status"));

  // A suspended account is denied with a reason, not an error.
  req.set_status(v1::SUSPENDED);
  req.set_idempotency_key("acct-4");
  ASSERT_TRUE(budget_->UpsertAccount(Ctx(keys_.hr).get(), req, &resp).ok());
  EXPECT_FALSE(resp.created());
  v1::AuthorizeResponse a;
  ASSERT_TRUE(Authorize("bob@example.com", 1, &a).ok());
  EXPECT_EQ(a.decision(), v1::DENIED);
  EXPECT_EQ(a.deny_reason(), v1::ACCOUNT_SUSPENDED);
}

TEST_F(ServiceTest, AuthenticationAndRoles) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GetBalanceRequest req;
  req.set_account_id("alice");
  v1::Balance b;
  EXPECT_EQ(budget_->GetBalance(Ctx("").get(), req, &b).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(budget_->GetBalance(Ctx("tlk_not_a_key").get(), req, &b).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  {
    auto ctx = Ctx("");
    ctx->AddMetadata("authorization", "Basic abc");
    EXPECT_EQ(budget_->GetBalance(ctx.get(), req, &b).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Wrong roles.
  v1::GrantResponse g;
  EXPECT_EQ(Grant("alice", 1, "g-gw", &g, keys_.gateway).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Grant("alice", 1, "g-aud", &g, keys_.auditor).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::AuthorizeResponse a;
  EXPECT_EQ(Authorize("alice", 1, &a, keys_.hr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateTenantRequest treq;
  treq.set_tenant_id(Unique("t"));
  treq.set_idempotency_key("x");
  v1::CreateTenantResponse tresp;
  EXPECT_EQ(admin_->CreateTenant(Ctx(keys_.admin).get(), treq, &tresp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReconcileRequest rreq;
  rreq.set_fix(true);
  v1::ReconcileResponse rresp;
  EXPECT_EQ(admin_->Reconcile(Ctx(keys_.auditor).get(), rreq, &rresp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The operator belongs to no tenant: it cannot touch ledger data.
  EXPECT_EQ(budget_->GetBalance(Ctx(daemon_.operator_key()).get(), req, &b).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Health needs no key (grpc.health.v1), checked through the CLI.
  const std::string cmd =
      absl::StrCat(TOKENLEDGER_CLI_PATH, " --target ", daemon_.target(), " health");
  EXPECT_EQ(std::system(cmd.c_str()), 0);

  // A revoked key stops working at once.
  v1::CreateApiKeyRequest kreq;
  kreq.set_role("hr");
  kreq.set_idempotency_key("key-1");
  v1::CreateApiKeyResponse kresp;
  ASSERT_TRUE(admin_->CreateApiKey(Ctx(keys_.admin).get(), kreq, &kresp).ok());
  EXPECT_EQ(kresp.tenant_id(), keys_.tenant_id);
  EXPECT_THAT(kresp.key(), ::testing::StartsWith("tlk_"));
  EXPECT_TRUE(UpsertAccount("carol", kresp.key()).ok());
  // Replaying the creation names the key but never shows the secret again.
  v1::CreateApiKeyResponse replay;
  ASSERT_TRUE(admin_->CreateApiKey(Ctx(keys_.admin).get(), kreq, &replay).ok());
  EXPECT_EQ(replay.key_id(), kresp.key_id());
  EXPECT_TRUE(replay.key().empty());
  v1::RevokeApiKeyRequest rev;
  rev.set_key_id(kresp.key_id());
  rev.set_idempotency_key("revoke-1");
  v1::RevokeApiKeyResponse revr;
  ASSERT_TRUE(admin_->RevokeApiKey(Ctx(keys_.admin).get(), rev, &revr).ok());
  EXPECT_TRUE(revr.revoked());
  EXPECT_EQ(UpsertAccount("dave", kresp.key()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // An admin cannot make keys for another tenant.
  kreq.set_tenant_id("some-other-tenant");
  kreq.set_idempotency_key("key-2");
  EXPECT_EQ(admin_->CreateApiKey(Ctx(keys_.admin).get(), kreq, &kresp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceTest, TenantsAreIsolated) {
  TenantKeys other = MakeTenant(daemon_);
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  ASSERT_TRUE(Grant("alice", 100, "g", &g).ok());
  v1::AuthorizeResponse a;
  ASSERT_TRUE(Authorize("alice", 10, &a).ok());
  // The other tenant's keys see neither the account nor the hold.
  v1::GetBalanceRequest req;
  req.set_account_id("alice");
  v1::Balance b;
  EXPECT_EQ(budget_->GetBalance(Ctx(other.hr).get(), req, &b).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::DebitResponse d;
  EXPECT_EQ(Debit("alice", 1, a.hold_id(), "d-x", &d, other.gateway).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ReleaseRequest rreq;
  rreq.set_hold_id(a.hold_id());
  rreq.set_idempotency_key("r-x");
  v1::ReleaseResponse rresp;
  EXPECT_EQ(auth_->Release(Ctx(other.gateway).get(), rreq, &rresp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Idempotency keys are scoped to the tenant: the same key works in both.
  ASSERT_EQ(UpsertAccount("alice", other.hr).error_code(), grpc::StatusCode::OK);
  v1::GrantResponse g2;
  ASSERT_TRUE(Grant("alice", 5, "g", &g2, other.hr).ok());
  EXPECT_NE(g2.transfer_id(), g.transfer_id());
  EXPECT_EQ(Balance("alice").available(), 90);
}

TEST_F(ServiceTest, BadInputIsInvalidArgumentNamingTheField) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  struct Case {
    grpc::Status status;
    std::string field;
  };
  std::vector<Case> cases = {
      {Grant("alice", -5, "k1", &g), "amount"},
      {Grant("alice", (int64_t{1} << 62) + 1, "k2", &g), "amount"},
      {Grant("alice", 5, "", &g), "idempotency_key"},
      {Grant("bad id", 5, "k3", &g), "account_id"},
      {Grant("@funding", 5, "k4", &g), "account_id"},
      {Grant("x'); DELETE FROM transfers; --", 5, "k5", &g), "account_id"},
  };
  v1::DebitResponse d;
  cases.push_back({Debit("alice", 5, "h_\"quoted\"", "k7", &d), "hold_id"});
  v1::ListTransfersRequest lreq;
  lreq.set_account_id("alice");
  lreq.set_page_size(5000);
  v1::ListTransfersResponse lresp;
  cases.push_back({budget_->ListTransfers(Ctx(keys_.hr).get(), lreq, &lresp), "page_size"});
  lreq.set_page_size(10);
  lreq.set_page_token("garbage");
  cases.push_back({budget_->ListTransfers(Ctx(keys_.hr).get(), lreq, &lresp), "page_token"});
  v1::AuthorizeRequest areq;
  areq.set_account_id("alice");
  areq.set_amount(1);
  areq.set_idempotency_key("k8");
  areq.set_hold_ttl_seconds(100000);
  v1::AuthorizeResponse aresp;
  cases.push_back({auth_->Authorize(Ctx(keys_.gateway).get(), areq, &aresp), "hold_ttl_seconds"});
  for (const auto& c : cases) {
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(c.status.error_message(), HasSubstr(c.field));
  }
  // Unknown account and hold.
  EXPECT_EQ(Grant("nobody", 5, "k9", &g).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ReleaseRequest rreq;
  rreq.set_hold_id("h_0123456789abcdef");
  rreq.set_idempotency_key("k10");
  v1::ReleaseResponse rresp;
  EXPECT_EQ(auth_->Release(Ctx(keys_.gateway).get(), rreq, &rresp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Balance("alice").credits(), 0);  // nothing changed
}

// A proto3 string must be UTF-8: gRPC's own parser would refuse such a request before any
// handler, answering UNIMPLEMENTED with no message. The daemon parses requests itself, so the
// client sees INVALID_ARGUMENT naming the field, like any other malformed input.
TEST_F(ServiceTest, InvalidUtf8AndMalformedRequestsAreInvalidArgumentNamingTheField) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  grpc::Status s = Grant("al\xffice", 5, "utf8-1", &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "account_id: not valid UTF-8 text");

  v1::GrantRequest greq;
  greq.set_account_id("alice");
  greq.set_amount(5);
  greq.set_idempotency_key("utf8-2");
  greq.set_memo("caf\xc3");  // a truncated sequence
  s = budget_->Grant(Ctx(keys_.hr).get(), greq, &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "memo: not valid UTF-8 text");

  v1::DebitRequest dreq;
  dreq.set_account_id("alice");
  dreq.set_amount(1);
  dreq.set_idempotency_key("utf8-3");
  (*dreq.mutable_metadata())["team"] = "\xc0\xaf";  // an overlong '/'
  v1::DebitResponse d;
  s = auth_->Debit(Ctx(keys_.gateway).get(), dreq, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "metadata: not valid UTF-8 text");

  // Bytes that are no GrantRequest at all (a length running past the end).
  s = RawUnaryCall(daemon_.Channel(), Ctx(keys_.hr).get(), "/tokenledger.v1.BudgetService/Grant",
                   std::string("\x0a\x40"
                               "alice",
                               7),
                   nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "request: not a valid tokenledger.v1.GrantRequest message");
  // Without a key the key is what is wrong.
  s = RawUnaryCall(daemon_.Channel(), Ctx("").get(), "/tokenledger.v1.BudgetService/Grant",
                   std::string("\x0a\x40"
                               "alice",
                               7),
                   nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A well-formed request sent as bytes is served as usual.
  greq.set_memo("caf\xc3\xa9");
  std::string reply;
  s = RawUnaryCall(daemon_.Channel(), Ctx(keys_.hr).get(), "/tokenledger.v1.BudgetService/Grant",
                   greq.SerializeAsString(), &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(g.ParseFromString(reply));
  EXPECT_EQ(g.available(), 5);
  EXPECT_EQ(Balance("alice").credits(), 5);  // only the well-formed grant was recorded
}

TEST_F(ServiceTest, IdempotencyReplaysAndConflicts) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g1, g2, g3;
  ASSERT_TRUE(Grant("alice", 100, "same-key", &g1).ok());
  ASSERT_TRUE(Grant("alice", 100, "same-key", &g2).ok());
  EXPECT_EQ(g1.transfer_id(), g2.transfer_id());
  EXPECT_EQ(g2.available(), 100);
  grpc::Status s = Grant("alice", 101, "same-key", &g3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr("idempotency_key"));
  EXPECT_EQ(Balance("alice").credits(), 100);

  v1::AuthorizeResponse a;
  ASSERT_TRUE(Authorize("alice", 10, &a).ok());
  v1::DebitResponse d1, d2;
  ASSERT_TRUE(Debit("alice", 10, a.hold_id(), "debit-key", &d1).ok());
  ASSERT_TRUE(Debit("alice", 10, a.hold_id(), "debit-key", &d2).ok());
  EXPECT_EQ(d1.transfer_id(), d2.transfer_id());
  // The same hold captured again under a new key.
  s = Debit("alice", 10, a.hold_id(), "debit-key-2", &d2);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Balance("alice").spent(), 10);
}

TEST_F(ServiceTest, ConcurrentAuthorizeAllowsExactlyTheBudget) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  ASSERT_TRUE(Grant("alice", 100, "g", &g).ok());
  constexpr int kCalls = 400;
  absl::Mutex mu;
  int done = 0, allowed = 0, denied = 0, errors = 0;
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<v1::AuthorizeRequest> reqs(kCalls);
  std::vector<v1::AuthorizeResponse> resps(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    ctxs.push_back(Ctx(keys_.gateway, 30));
    reqs[i].set_account_id("alice");
    reqs[i].set_amount(1);
    reqs[i].set_idempotency_key(absl::StrCat("conc-", i));
  }
  for (int i = 0; i < kCalls; ++i) {
    auth_->async()->Authorize(ctxs[i].get(), &reqs[i], &resps[i], [&, i](grpc::Status s) {
      absl::MutexLock lock(&mu);
      ++done;
      if (!s.ok()) {
        ++errors;
      } else if (resps[i].decision() == v1::ALLOWED) {
        ++allowed;
      } else {
        ++denied;
      }
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* d) { return *d == kCalls; }, &done));
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(allowed, 100);
  EXPECT_EQ(denied, 300);
}

TEST_F(ServiceTest, KillNineLosesNothingAcknowledged) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse seed;
  ASSERT_TRUE(Grant("alice", 500, "kill-seed", &seed).ok());
  v1::AuthorizeRequest areq;
  areq.set_account_id("alice");
  areq.set_amount(100);
  areq.set_idempotency_key("kill-auth");
  v1::AuthorizeResponse hold;
  ASSERT_TRUE(auth_->Authorize(Ctx(keys_.gateway).get(), areq, &hold).ok());
  // A hold is written once it has lived --hold-journal-delay-ms (1 s by default).
  absl::SleepFor(absl::Milliseconds(1500));
  std::vector<std::pair<std::string, std::string>> acked;  // idempotency key, transfer id
  int64_t granted = 0, spent = 0;
  for (int i = 0; i < 50; ++i) {
    v1::GrantResponse g;
    const std::string key = absl::StrCat("kill-grant-", i);
    ASSERT_TRUE(Grant("alice", 1000, key, &g).ok());
    acked.emplace_back(key, g.transfer_id());
    granted += 1000;
    v1::DebitResponse d;
    const std::string dkey = absl::StrCat("kill-debit-", i);
    ASSERT_TRUE(Debit("alice", 7, "", dkey, &d).ok());
    acked.emplace_back(dkey, d.transfer_id());
    spent += 7;
  }
  daemon_.Kill();
  daemon_.Start();
  Connect();
  v1::Balance b = Balance("alice");
  EXPECT_EQ(b.granted(), granted + 500);
  EXPECT_EQ(b.spent(), spent);
  // The hold had lived past its journaling delay, so it was committed: it is still held, and
  // retrying its Authorize replays the original answer.
  EXPECT_EQ(b.held(), 100);
  v1::AuthorizeResponse replayed;
  ASSERT_TRUE(auth_->Authorize(Ctx(keys_.gateway).get(), areq, &replayed).ok());
  EXPECT_EQ(replayed.hold_id(), hold.hold_id());
  EXPECT_EQ(replayed.available(), hold.available());
  // Every acknowledged transfer is listed exactly once.
  v1::ListTransfersRequest lreq;
  lreq.set_account_id("alice");
  lreq.set_page_size(1000);
  v1::ListTransfersResponse lresp;
  ASSERT_TRUE(budget_->ListTransfers(Ctx(keys_.hr).get(), lreq, &lresp).ok());
  std::map<std::string, int> seen;
  for (const auto& t : lresp.transfers()) ++seen[t.transfer_id()];
  for (const auto& [key, id] : acked) EXPECT_EQ(seen[id], 1) << key;
  EXPECT_EQ(lresp.transfers_size(), static_cast<int>(acked.size()) + 1);  // and the seed grant
  // Replays after the restart answer the original and change nothing.
  for (int i = 0; i < 50; i += 7) {
    v1::GrantResponse g;
    ASSERT_TRUE(Grant("alice", 1000, acked[2 * i].first, &g).ok());
    EXPECT_EQ(g.transfer_id(), acked[2 * i].second);
    v1::DebitResponse d;
    ASSERT_TRUE(Debit("alice", 7, "", acked[2 * i + 1].first, &d).ok());
    EXPECT_EQ(d.transfer_id(), acked[2 * i + 1].second);
  }
  b = Balance("alice");
  EXPECT_EQ(b.granted(), granted + 500);
  EXPECT_EQ(b.spent(), spent);
  v1::ReconcileResponse rec = Reconcile();
  EXPECT_EQ(rec.ledger_sum(), 0);
  EXPECT_EQ(rec.mismatches_size(), 0);
}

TEST_F(ServiceTest, SigtermDrainsAndExitsZero) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  ASSERT_TRUE(Grant("alice", 10, "g", &g).ok());
  EXPECT_EQ(daemon_.Terminate(), 0);
  daemon_.Start();
  Connect();
  EXPECT_EQ(Balance("alice").granted(), 10);
}

TEST_F(ServiceTest, CliGrantsAndReadsBalances) {
  const std::string base = absl::StrCat(TOKENLEDGER_CLI_PATH, " --target ", daemon_.target());
  auto run = [](const std::string& key, const std::string& cmd) {
    return RunCommand(absl::StrCat("TOKENLEDGER_KEY=", key, " ", cmd));
  };
  auto [rc1, out1] = run(keys_.hr, base + " account upsert erin --display-name Erin");
  EXPECT_EQ(rc1, 0) << out1;
  auto [rc2, out2] =
      run(keys_.hr, base + " grant erin 5000 --memo welcome --idempotency-key cli-g");
  EXPECT_EQ(rc2, 0) << out2;
  auto [rc3, out3] = run(keys_.hr, base + " --json balance erin");
  EXPECT_EQ(rc3, 0) << out3;
  EXPECT_THAT(out3, HasSubstr("\"available\":\"5000\""));
  auto [rc4, out4] = run(keys_.gateway, base + " grant erin 5000");
  EXPECT_NE(rc4, 0);
  EXPECT_THAT(out4, HasSubstr("PERMISSION_DENIED"));
  auto [rc5, out5] = run(keys_.admin, base + " reconcile");
  EXPECT_EQ(rc5, 0) << out5;
  auto [rc6, out6] = run(keys_.admin, base + " resets run");
  EXPECT_EQ(rc6, 0) << out6;
  EXPECT_THAT(out6, HasSubstr("resets_performed"));
  auto [rc7, out7] = run(keys_.admin, base + " --json stats");
  EXPECT_EQ(rc7, 0) << out7;
  EXPECT_THAT(out7, HasSubstr("writer_batches"));
  auto [rc8, out8] = run(keys_.hr, base + " stats");
  EXPECT_NE(rc8, 0);
  EXPECT_THAT(out8, HasSubstr("PERMISSION_DENIED"));
}

// The daemon is stopped just before a month boundary and started just after it: the catch-up
// reset runs once at start, and never again after another restart.
TEST(PeriodsEndToEnd, CatchUpResetAfterDowntimeAcrossAMonthBoundary) {
  const absl::Time now = absl::Now();
  const absl::CivilMonth this_month = absl::ToCivilMonth(now, absl::UTCTimeZone());
  const absl::Time boundary = absl::FromCivil(this_month + 1, absl::UTCTimeZone());
  const int64_t before = absl::ToInt64Seconds(boundary - absl::Seconds(30) - now);
  const int64_t after = absl::ToInt64Seconds(boundary + absl::Seconds(30) - now);

  Daemon d;
  d.extra_args = {"--clock-offset-seconds", std::to_string(before)};
  d.Start();
  TenantKeys keys = MakeTenant(d, "UTC");
  auto budget = v1::BudgetService::NewStub(d.Channel());
  v1::UpsertAccountRequest up;
  up.set_account_id("alice");
  up.mutable_policy()->set_monthly_allocation(1000);
  up.mutable_policy()->set_rollover_max(100);
  up.set_idempotency_key("up-1");
  v1::UpsertAccountResponse upr;
  ASSERT_TRUE(budget->UpsertAccount(Ctx(keys.hr).get(), up, &upr).ok());
  auto gateway = v1::AuthorizationService::NewStub(d.Channel());
  v1::DebitRequest debit;
  debit.set_account_id("alice");
  debit.set_amount(300);
  debit.set_idempotency_key("spend-1");
  v1::DebitResponse dr;
  ASSERT_TRUE(gateway->Debit(Ctx(keys.gateway).get(), debit, &dr).ok());
  EXPECT_EQ(dr.available(), 700);
  ASSERT_EQ(d.Terminate(), 0);

  auto balance = [&](v1::Balance* b) {
    v1::GetBalanceRequest req;
    req.set_account_id("alice");
    return v1::BudgetService::NewStub(d.Channel())->GetBalance(Ctx(keys.hr).get(), req, b);
  };
  for (int restart = 0; restart < 2; ++restart) {
    d.extra_args = {"--clock-offset-seconds", std::to_string(after)};
    d.Start();
    v1::Balance b;
    for (int i = 0; i < 50; ++i) {  // the scheduler runs the catch-up right after start
      ASSERT_TRUE(balance(&b).ok());
      if (b.granted() == 2000) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_EQ(b.granted(), 2000) << "restart " << restart;
    EXPECT_EQ(b.expired(), 600);     // 700 left: 100 carried, 600 forfeited
    EXPECT_EQ(b.available(), 1100);  // 100 + the new 1000
    EXPECT_EQ(b.period_start(), absl::ToUnixMicros(boundary));
    EXPECT_EQ(b.period_spent(), 0);
    v1::RunResetsRequest rr;
    v1::RunResetsResponse rresp;
    ASSERT_TRUE(
        v1::AdminService::NewStub(d.Channel())->RunResets(Ctx(keys.admin).get(), rr, &rresp).ok());
    EXPECT_EQ(rresp.resets_performed(), 0);
    ASSERT_EQ(d.Terminate(), 0);
  }
}

// Two daemons started together on one database after a month boundary: each runs the
// catch-up, the database lets exactly one reset per account and period through.
TEST(PeriodsEndToEnd, TwoDaemonsStartingTogetherResetOnce) {
  const absl::Time now = absl::Now();
  const absl::Time boundary =
      absl::FromCivil(absl::ToCivilMonth(now, absl::UTCTimeZone()) + 1, absl::UTCTimeZone());
  const std::string before =
      std::to_string(absl::ToInt64Seconds(boundary - absl::Seconds(30) - now));
  const std::string after =
      std::to_string(absl::ToInt64Seconds(boundary + absl::Seconds(30) - now));
  Daemon setup;
  setup.extra_args = {"--clock-offset-seconds", before};
  setup.Start();
  TenantKeys keys = MakeTenant(setup, "UTC");
  auto budget = v1::BudgetService::NewStub(setup.Channel());
  constexpr int kAccounts = 200;
  for (int i = 0; i < kAccounts; ++i) {
    v1::UpsertAccountRequest up;
    up.set_account_id(absl::StrCat("emp-", i));
    up.mutable_policy()->set_monthly_allocation(1000);
    up.set_idempotency_key(absl::StrCat("up-", i));
    v1::UpsertAccountResponse upr;
    ASSERT_TRUE(budget->UpsertAccount(Ctx(keys.hr).get(), up, &upr).ok());
  }
  ASSERT_EQ(setup.Terminate(), 0);

  Daemon a, b;
  a.extra_args = b.extra_args = {"--clock-offset-seconds", after};
  a.Start();
  b.Start();
  absl::SleepFor(absl::Seconds(3));  // both schedulers have run their catch-up
  ASSERT_EQ(a.Terminate(), 0);
  ASSERT_EQ(b.Terminate(), 0);

  Daemon check;
  check.extra_args = {"--clock-offset-seconds", after};
  check.Start();
  auto reader = v1::BudgetService::NewStub(check.Channel());
  {
    // A new process takes the tenant over once the others' leases are released or expired.
    const absl::Time start = absl::Now();
    v1::GetBalanceRequest req;
    req.set_account_id("emp-0");
    v1::Balance bal;
    while (!reader->GetBalance(Ctx(keys.hr).get(), req, &bal).ok() &&
           absl::Now() - start < absl::Seconds(10)) {
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  for (int i = 0; i < kAccounts; ++i) {
    v1::GetBalanceRequest req;
    req.set_account_id(absl::StrCat("emp-", i));
    v1::Balance bal;
    const grpc::Status s = reader->GetBalance(Ctx(keys.hr).get(), req, &bal);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(bal.granted(), 2000) << req.account_id();
  }
  v1::ReconcileRequest rreq;
  v1::ReconcileResponse rresp;
  ASSERT_TRUE(v1::AdminService::NewStub(check.Channel())
                  ->Reconcile(Ctx(keys.admin).get(), rreq, &rresp)
                  .ok());
  EXPECT_EQ(rresp.ledger_sum(), 0);
  EXPECT_EQ(rresp.mismatches_size(), 0);
  EXPECT_EQ(rresp.periods_checked(), 2 * kAccounts);
}

TEST_F(ServiceTest, TheAuditTrailRecordsWhoChangedWhat) {
  ASSERT_TRUE(UpsertAccount("alice").ok());
  v1::GrantResponse g;
  ASSERT_TRUE(Grant("alice", 500, "audit-grant", &g).ok());
  ASSERT_TRUE(Grant("alice", 500, "audit-grant", &g).ok());  // a replay: no second event
  v1::GrantResponse refused;
  EXPECT_FALSE(Grant("nobody", 5, "audit-refused", &refused).ok());  // nothing changed
  v1::DebitResponse d;
  ASSERT_TRUE(Debit("alice", 7, "", "audit-debit", &d).ok());  // usage is not audited
  v1::RevokeApiKeyRequest rreq;
  rreq.set_key_id(keys_.admin_key_id);
  rreq.set_idempotency_key("audit-revoke");

  v1::ListAuditEventsRequest req;
  v1::ListAuditEventsResponse resp;
  ASSERT_TRUE(admin_->ListAuditEvents(Ctx(keys_.auditor).get(), req, &resp).ok());
  std::vector<std::string> seen;
  for (const v1::AuditEvent& e : resp.events()) {
    seen.push_back(absl::StrCat(e.action(), " ", e.target()));
    EXPECT_GT(e.created_at(), 0);
  }
  // Newest first: the grant, the account, the four keys, the tenant.
  ASSERT_GE(seen.size(), 7u);
  EXPECT_EQ(seen[0], "Grant alice");
  EXPECT_EQ(seen[1], "UpsertAccount alice");
  EXPECT_EQ(resp.events(0).detail().rfind("GRANT +500", 0), 0u) << resp.events(0).detail();
  EXPECT_EQ(seen.back(), absl::StrCat("CreateTenant ", keys_.tenant_id));
  EXPECT_EQ(resp.events(resp.events_size() - 1).actor_key_id(), "operator");
  int key_events = 0;
  for (const std::string& s : seen) key_events += s.rfind("CreateApiKey ", 0) == 0;
  EXPECT_EQ(key_events, 4);
  EXPECT_EQ(resp.events_size(), 7);

  // Paging, and who may read it.
  req.set_page_size(2);
  ASSERT_TRUE(admin_->ListAuditEvents(Ctx(keys_.admin).get(), req, &resp).ok());
  ASSERT_EQ(resp.events_size(), 2);
  req.set_page_token(resp.next_page_token());
  v1::ListAuditEventsResponse next;
  ASSERT_TRUE(admin_->ListAuditEvents(Ctx(keys_.admin).get(), req, &next).ok());
  EXPECT_EQ(next.events(0).action(), "CreateApiKey");
  EXPECT_EQ(admin_->ListAuditEvents(Ctx(keys_.gateway).get(), req, &next).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  req.set_page_token("not-a-token");
  EXPECT_EQ(admin_->ListAuditEvents(Ctx(keys_.admin).get(), req, &next).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A revocation is recorded with the key that made it.
  v1::RevokeApiKeyResponse revoked;
  ASSERT_TRUE(admin_->RevokeApiKey(Ctx(keys_.admin).get(), rreq, &revoked).ok());
  req.Clear();
  ASSERT_TRUE(admin_->ListAuditEvents(Ctx(keys_.auditor).get(), req, &resp).ok());
  EXPECT_EQ(resp.events(0).action(), "RevokeApiKey");
  EXPECT_EQ(resp.events(0).target(), keys_.admin_key_id);
  EXPECT_EQ(resp.events(0).actor_key_id(), keys_.admin_key_id);
}

}  // namespace
}  // namespace tokenledger::testing
