// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Writes the seed corpus of tokenledger_fuzz_api (tests/fuzz/corpus/): short sequences of valid
// requests in the fuzzer's input format (see api_fuzz.cc), every RPC at least once.
//   tokenledger_fuzz_corpus DIR
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tokenledger/v1/admin.pb.h"
#include "tokenledger/v1/authorization.pb.h"
#include "tokenledger/v1/budget.pb.h"

namespace {

namespace v1 = ::tokenledger::v1;

// Method indexes (the services' descriptor order) and key selectors of api_fuzz.cc.
enum Rpc : char {
  kAuthorize = 0,
  kDebit = 1,
  kRelease = 2,
  kCheck = 3,
  kUpsertAccount = 4,
  kUpsertTeam = 5,
  kGrant = 6,
  kAdjust = 7,
  kGetBalance = 8,
  kListTransfers = 9,
  kCreateTenant = 10,
  kCreateApiKey = 11,
  kRevokeApiKey = 12,
  kReconcile = 13,
  kRunResets = 14,
  kGetServerStats = 15,
};
enum Key : char { kOperator = 0, kAdmin = 1, kHr = 2, kGateway = 3, kAuditor = 4 };
constexpr char kNameTheTenantsOwn = 4;  // the change that names the tenant's hold, key, itself

std::string Record(Rpc rpc, Key key, const google::protobuf::Message& request, char mode = 0) {
  const std::string body = request.SerializeAsString();
  if (body.size() >= 255) std::abort();
  return std::string{rpc, key, mode, 0, 0, static_cast<char>(body.size())} + body;
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  v1::AuthorizeRequest authorize;
  authorize.set_account_id("alice");
  authorize.set_amount(100);
  authorize.set_idempotency_key("az-1");
  authorize.set_model("gpt-test");
  (*authorize.mutable_metadata())["team"] = "search";
  v1::DebitRequest capture;
  capture.set_account_id("alice");
  capture.set_amount(80);
  capture.set_hold_id("h_placeholder");
  capture.set_idempotency_key("db-1");
  capture.set_request_id("req-1");
  v1::DebitRequest direct = capture;
  direct.clear_hold_id();
  direct.set_idempotency_key("db-2");
  v1::ReleaseRequest release;
  release.set_hold_id("h_placeholder");
  release.set_idempotency_key("rl-1");
  v1::CheckRequest check;
  check.set_account_id("alice");
  check.set_amount(10);
  v1::GrantRequest grant;
  grant.set_account_id("alice");
  grant.set_amount(500);
  grant.set_idempotency_key("gr-1");
  grant.set_memo("bonus");
  v1::GrantRequest conflicting = grant;
  conflicting.set_amount(501);
  v1::AdjustRequest adjust;
  adjust.set_account_id("alice");
  adjust.set_amount_delta(-100);
  adjust.set_idempotency_key("ad-1");
  v1::UpsertTeamRequest team;
  team.set_team_id("infra");
  team.set_monthly_cap(1000);
  team.set_idempotency_key("tm-1");
  v1::UpsertAccountRequest account;
  account.set_account_id("carol");
  account.set_team_id("infra");
  account.mutable_policy()->set_monthly_allocation(700);
  account.mutable_policy()->set_daily_limit(100);
  account.set_idempotency_key("ac-1");
  v1::GetBalanceRequest balance;
  balance.set_account_id("alice");
  v1::ListTransfersRequest transfers;
  transfers.set_account_id("alice");
  transfers.set_page_size(2);
  v1::CreateTenantRequest tenant;
  tenant.set_tenant_id("acme");
  tenant.set_timezone("Europe/Berlin");
  tenant.set_unit("tokens");
  tenant.set_idempotency_key("ct-1");
  v1::CreateApiKeyRequest key;
  key.set_tenant_id("placeholder");
  key.set_role("gateway");
  key.set_idempotency_key("ck-1");
  v1::RevokeApiKeyRequest revoke;
  revoke.set_key_id("key_placeholder");
  revoke.set_idempotency_key("rk-1");
  v1::ReconcileRequest reconcile;
  reconcile.set_fix(true);
  v1::RunResetsRequest resets;
  v1::GetServerStatsRequest stats;
  return {
      {"hold-and-capture", Record(kAuthorize, kGateway, authorize) +
                               Record(kDebit, kGateway, capture, kNameTheTenantsOwn) +
                               Record(kDebit, kGateway, capture, kNameTheTenantsOwn)},
      {"direct-debit-and-release", Record(kDebit, kGateway, direct) +
                                       Record(kRelease, kGateway, release, kNameTheTenantsOwn) +
                                       Record(kCheck, kGateway, check)},
      {"grant-replay-conflict", Record(kGrant, kHr, grant) + Record(kGrant, kHr, grant) +
                                    Record(kGrant, kHr, conflicting) +
                                    Record(kAdjust, kHr, adjust)},
      {"team-and-account", Record(kUpsertTeam, kHr, team) + Record(kUpsertAccount, kHr, account) +
                               Record(kGetBalance, kAuditor, balance) +
                               Record(kListTransfers, kAuditor, transfers)},
      {"operator", Record(kCreateTenant, kOperator, tenant) +
                       Record(kCreateApiKey, kOperator, key, kNameTheTenantsOwn) +
                       Record(kRevokeApiKey, kAdmin, revoke, kNameTheTenantsOwn)},
      {"admin", Record(kReconcile, kAdmin, reconcile) + Record(kRunResets, kAdmin, resets) +
                    Record(kGetServerStats, kAdmin, stats)},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const auto& [name, bytes] : Seeds()) {
    const std::string path = std::string(argv[1]) + "/seed-" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::fclose(f);
  }
  return 0;
}
