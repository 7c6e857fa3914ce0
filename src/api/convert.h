// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Translation between the wire (tokenledger.v1 messages, gRPC status) and the domain (the
// engine's arguments and answers, absl::Status), shared by the three services so that each
// handler only names what goes where. absl and gRPC share their status codes' numbers, so a
// Status maps to the gRPC status of the same code and message. Pure functions: thread-safe.
#ifndef TOKENLEDGER_API_CONVERT_H_
#define TOKENLEDGER_API_CONVERT_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/api_context.h"
#include "api/auth.h"
#include "api/raw_request.h"
#include "google/protobuf/map.h"
#include "grpcpp/support/status.h"
#include "ledger/engine.h"
#include "tokenledger/types.h"
#include "tokenledger/v1/admin.pb.h"
#include "tokenledger/v1/authorization.pb.h"
#include "tokenledger/v1/budget.pb.h"

namespace tokenledger {

grpc::Status ToGrpcStatus(const absl::Status& s);

// The idempotency of a mutating request: its key and its fingerprint under method `m`.
template <typename Req>
IdemArgs Idem(const Req& req, Method m) {
  return IdemArgs{req.idempotency_key(), RequestFingerprint(MethodName(m), req)};
}

// Idem, for a call the audit trail records: the method, and the caller's key as the actor.
template <typename Req>
IdemArgs Audited(const Req& req, Method m, const Caller& caller) {
  IdemArgs args = Idem(req, m);
  args.audit_action = std::string(MethodName(m));
  args.actor = caller.key_id;
  return args;
}

// A listing's page: its size (page_size, default 100, at most 1000) and where it starts (the
// page_token: the seq of the last row of the previous page).
struct Page {
  int32_t size = 100;
  int64_t before_seq = 0;  // 0: from the newest
};

// kInvalidArgument naming page_size or page_token when either is out of its bounds.
absl::StatusOr<Page> ParsePage(int32_t page_size, const std::string& page_token);

// The first `page_size` of `rows` (a listing asked for one row more than the page) through
// `fill(row, add())`; returns the next page's token, empty when this page is the last.
template <typename Row, typename Add, typename Fill>
std::string FillPage(const std::vector<Row>& rows, int32_t page_size, Add add, Fill fill) {
  const size_t n = std::min(rows.size(), static_cast<size_t>(page_size));
  for (size_t i = 0; i < n; ++i) fill(rows[i], add());
  return rows.size() > n ? absl::StrCat(rows[n - 1].seq) : std::string();
}

// The request's metadata map as the engine keeps it: pairs sorted by key.
Metadata ToMetadata(const google::protobuf::Map<std::string, std::string>& map);

v1::DenyReason ToProto(DenyReason r);
v1::TransferKind ToProto(TransferKind k);

void FillPolicy(const Policy& p, v1::Policy* out);
// The policy on the wire as the engine takes it.
Policy ToPolicy(const v1::Policy& p);
// A request's usage (none when the field is absent).
std::optional<TokenUsage> ToUsage(bool present, const v1::TokenUsage& u);
void FillUsage(const TokenUsage& u, v1::TokenUsage* out);
void FillPrice(const PriceRecord& p, bool in_force, v1::Price* out);
void FillBalance(const BalanceView& b, v1::Balance* out);
void FillTransfer(const TransferRecord& t, v1::Transfer* out);
void FillAuditEvent(const AuditRecord& a, v1::AuditEvent* out);
void FillTenant(const TenantRecord& t, v1::Tenant* out);
void FillReconcileReport(const ReconcileReport& r, v1::ReconcileResponse* out);
void FillServerStats(const ServerStats& s, v1::GetServerStatsResponse* out);

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_CONVERT_H_
