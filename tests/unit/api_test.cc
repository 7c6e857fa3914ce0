// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The API layer's pure parts: request fingerprints, the role table, key hashing, call metrics.
#include "api/auth.h"
#include "api/raw_request.h"
#include "api/services.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger {
namespace {

using ::testing::HasSubstr;

TEST(FingerprintTest, SameRequestSameFingerprintAnyChangeAnother) {
  v1::DebitRequest a;
  a.set_account_id("alice");
  a.set_amount(10);
  a.set_idempotency_key("k1");
  (*a.mutable_metadata())["x"] = "1";
  (*a.mutable_metadata())["y"] = "2";
  v1::DebitRequest b;  // the same request, metadata inserted in the other order
  b.set_account_id("alice");
  b.set_amount(10);
  b.set_idempotency_key("k1");
  (*b.mutable_metadata())["y"] = "2";
  (*b.mutable_metadata())["x"] = "1";
  EXPECT_EQ(RequestFingerprint("Debit", a), RequestFingerprint("Debit", b));
  b.set_amount(11);
  EXPECT_NE(RequestFingerprint("Debit", a), RequestFingerprint("Debit", b));
  b.set_amount(10);
  (*b.mutable_metadata())["y"] = "3";
  EXPECT_NE(RequestFingerprint("Debit", a), RequestFingerprint("Debit", b));
  // The same fields under another method are another request.
  EXPECT_NE(RequestFingerprint("Debit", a), RequestFingerprint("Grant", a));
}

TEST(RolesTest, EachRoleMayCallExactlyItsMethods) {
  EXPECT_TRUE(RoleAllows(Role::kGateway, Method::kAuthorize));
  EXPECT_TRUE(RoleAllows(Role::kGateway, Method::kDebit));
  EXPECT_FALSE(RoleAllows(Role::kGateway, Method::kGrant));
  EXPECT_FALSE(RoleAllows(Role::kGateway, Method::kListTransfers));
  EXPECT_TRUE(RoleAllows(Role::kHr, Method::kGrant));
  EXPECT_FALSE(RoleAllows(Role::kHr, Method::kAuthorize));
  EXPECT_FALSE(RoleAllows(Role::kHr, Method::kCreateApiKey));
  EXPECT_TRUE(RoleAllows(Role::kAuditor, Method::kListTransfers));
  EXPECT_FALSE(RoleAllows(Role::kAuditor, Method::kAdjust));
  EXPECT_TRUE(RoleAllows(Role::kOperator, Method::kCreateTenant));
  EXPECT_FALSE(RoleAllows(Role::kOperator, Method::kGetBalance));  // the operator has no tenant
  EXPECT_FALSE(RoleAllows(Role::kAdmin, Method::kCreateTenant));
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Method::kRunResets));
  EXPECT_FALSE(RoleAllows(Role::kHr, Method::kRunResets));
  // Prices: only an admin sets them; every role of a tenant reads them.
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Method::kSetPrice));
  for (Role r : {Role::kHr, Role::kGateway, Role::kAuditor, Role::kOperator}) {
    EXPECT_FALSE(RoleAllows(r, Method::kSetPrice)) << RoleName(r);
  }
  for (Role r : {Role::kAdmin, Role::kHr, Role::kGateway, Role::kAuditor}) {
    EXPECT_TRUE(RoleAllows(r, Method::kListPrices)) << RoleName(r);
  }
  EXPECT_FALSE(RoleAllows(Role::kOperator, Method::kListPrices));
}

TEST(KeysTest, KeysAreRandomAndOnlyTheirHashIsKept) {
  const std::string k1 = NewApiKeySecret(), k2 = NewApiKeySecret();
  EXPECT_NE(k1, k2);
  EXPECT_EQ(k1.size(), 4u + 64u);  // "tlk_" and 256 bits in hex
  EXPECT_EQ(HashApiKey(k1), HashApiKey(k1));
  EXPECT_NE(HashApiKey(k1), HashApiKey(k2));
  EXPECT_EQ(HashApiKey(k1).size(), 64u);
  EXPECT_EQ(HashApiKey(k1).find(k1.substr(4, 16)), std::string::npos);
}

TEST(KeysTest, TheHashIsSha256InHex) {
  // FIPS 180-2's test vectors: stored hashes stay valid whatever computes them.
  EXPECT_EQ(HashApiKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashApiKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashApiKey("abc"), HashApiKey("abc"));  // the second call reuses what the first set up
}

TEST(CallMetricsTest, CallsByCodeLatencyAndDecisions) {
  obs::Registry r;
  CallMetrics m(r);
  m.RecordCall(Method::kAuthorize, grpc::StatusCode::OK, 0.0002);
  m.RecordCall(Method::kAuthorize, grpc::StatusCode::OK, 0.0003);
  m.RecordCall(Method::kAuthorize, grpc::StatusCode::INVALID_ARGUMENT, 0.0001);
  m.RecordCall(Method::kGrant, grpc::StatusCode::UNAVAILABLE, 5.1);
  m.RecordDecision(Decision::kAllowed, DenyReason::kNone);
  m.RecordDecision(Decision::kDenied, DenyReason::kDailyLimit);
  m.RecordDecision(Decision::kDenied, DenyReason::kDailyLimit);
  EXPECT_EQ(m.Calls(Method::kAuthorize, grpc::StatusCode::OK), 2u);
  EXPECT_EQ(m.Calls(Method::kAuthorize, grpc::StatusCode::INVALID_ARGUMENT), 1u);
  EXPECT_EQ(m.Calls(Method::kDebit, grpc::StatusCode::OK), 0u);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("tokenledger_grpc_calls_total{service=\"tokenledger.v1."
                              "AuthorizationService\",method=\"Authorize\",code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tokenledger_grpc_calls_total{service=\"tokenledger.v1."
                              "BudgetService\",method=\"Grant\",code=\"UNAVAILABLE\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tokenledger_grpc_call_duration_seconds_count{service=\"tokenledger."
                              "v1.AuthorizationService\",method=\"Authorize\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("tokenledger_grpc_call_duration_seconds_bucket{service=\"tokenledger."
                              "v1.BudgetService\",method=\"Grant\",le=\"5\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tokenledger_authorize_decisions_total{decision=\"ALLOWED\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tokenledger_authorize_decisions_total{decision=\"DAILY_LIMIT\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("tokenledger_authorize_decisions_total{decision=\"TEAM_LIMIT\"} 0\n"));
}

TEST(CallMetricsTest, StatusCodesAndServicesByName) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(ServiceName(Method::kCheck), "tokenledger.v1.AuthorizationService");
  EXPECT_EQ(ServiceName(Method::kListTransfers), "tokenledger.v1.BudgetService");
  EXPECT_EQ(ServiceName(Method::kRunResets), "tokenledger.v1.AdminService");
}

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(ParseRequestTest, ParsesWellFormedRequests) {
  v1::DebitRequest req;
  req.set_account_id("alice");
  req.set_amount(7);
  (*req.mutable_metadata())["k"] = "caf\xc3\xa9";
  v1::DebitRequest parsed;
  ASSERT_TRUE(ParseRequest(Bytes(req.SerializeAsString()), &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), req.SerializeAsString());
  EXPECT_EQ(FindInvalidUtf8Field(v1::DebitRequest::descriptor(), req.SerializeAsString()), "");
}

TEST(ParseRequestTest, InvalidUtf8IsInvalidArgumentNamingTheField) {
  v1::DebitRequest debit;
  debit.set_account_id("alice");
  (*debit.mutable_metadata())["k"] = "\xff";
  v1::DebitRequest parsed_debit;
  absl::Status s = ParseRequest(Bytes(debit.SerializeAsString()), &parsed_debit);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "metadata: not valid UTF-8 text");
  debit.mutable_metadata()->clear();
  (*debit.mutable_metadata())["\xed\xa0\x80"] = "v";  // a surrogate, as a key
  EXPECT_EQ(FindInvalidUtf8Field(v1::DebitRequest::descriptor(), debit.SerializeAsString()),
            "metadata");

  v1::UpsertAccountRequest upsert;
  upsert.set_account_id("alice");
  upsert.set_display_name("A\x80");
  v1::UpsertAccountRequest parsed_upsert;
  s = ParseRequest(Bytes(upsert.SerializeAsString()), &parsed_upsert);
  EXPECT_EQ(s.message(), "display_name: not valid UTF-8 text");
}

TEST(ParseRequestTest, MalformedBytesAreInvalidArgumentNamingTheRequest) {
  v1::GrantRequest parsed;
  for (const std::string& bytes :
       {std::string("\x0a\x40"
                    "alice",
                    7),
        std::string("\xff\xff"), std::string("\x0a\x01", 2), std::string("\x12", 1)}) {
    absl::Status s = ParseRequest(Bytes(bytes), &parsed);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "request: not a valid tokenledger.v1.GrantRequest message");
  }
  // An empty request is a valid one (all fields unset).
  EXPECT_TRUE(ParseRequest(Bytes(""), &parsed).ok());
}

}  // namespace
}  // namespace tokenledger
