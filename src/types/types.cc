// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "tokenledger/types.h"

#include "tokenledger/store.h"

namespace tokenledger {

absl::string_view TransferKindName(TransferKind kind) {
  switch (kind) {
    case TransferKind::kGrant:
      return "GRANT";
    case TransferKind::kUsage:
      return "USAGE";
    case TransferKind::kResetExpire:
      return "RESET_EXPIRE";
    case TransferKind::kResetGrant:
      return "RESET_GRANT";
    case TransferKind::kAdjustment:
      return "ADJUSTMENT";
  }
  return "UNKNOWN";
}

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
    case Role::kHr:
      return "hr";
    case Role::kGateway:
      return "gateway";
    case Role::kAuditor:
      return "auditor";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role r : {Role::kOperator, Role::kAdmin, Role::kHr, Role::kGateway, Role::kAuditor}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

absl::string_view AccountStatusName(AccountStatus status) {
  switch (status) {
    case AccountStatus::kActive:
      return "ACTIVE";
    case AccountStatus::kSuspended:
      return "SUSPENDED";
    case AccountStatus::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

absl::string_view HoldStatusName(HoldStatus status) {
  switch (status) {
    case HoldStatus::kOpen:
      return "OPEN";
    case HoldStatus::kCaptured:
      return "CAPTURED";
    case HoldStatus::kReleased:
      return "RELEASED";
    case HoldStatus::kExpired:
      return "EXPIRED";
  }
  return "UNKNOWN";
}

bool ApplyDebitSide(const TransferRecord& t, PostedTotals& totals) {
  PostedTotals next = totals;
  if (!CheckedAdd(next.debits, t.amount, next.debits)) return false;
  if (t.kind == TransferKind::kUsage && !CheckedAdd(next.spent, t.amount, next.spent)) {
    return false;
  }
  if (t.kind == TransferKind::kResetExpire && !CheckedAdd(next.expired, t.amount, next.expired)) {
    return false;
  }
  totals = next;
  return true;
}

bool ApplyCreditSide(const TransferRecord& t, PostedTotals& totals) {
  PostedTotals next = totals;
  if (!CheckedAdd(next.credits, t.amount, next.credits)) return false;
  const bool grant = t.kind == TransferKind::kGrant || t.kind == TransferKind::kResetGrant;
  if (grant && !CheckedAdd(next.granted, t.amount, next.granted)) return false;
  totals = next;
  return true;
}

const std::string& MutationTenant(const Mutation& m) {
  static const std::string kNone;
  if (m.tenant) return m.tenant->tenant_id;
  if (m.account) return m.account->tenant_id;
  if (m.team) return m.team->tenant_id;
  if (m.api_key) return m.api_key->tenant_id;
  if (!m.transfers.empty()) return m.transfers.front().tenant_id;
  if (!m.holds.empty()) return m.holds.front().tenant_id;
  if (!m.periods.empty()) return m.periods.front().tenant_id;
  if (m.idempotency) return m.idempotency->tenant_id;
  if (!m.dropped_hold_segments.empty()) return m.dropped_hold_segments.front().tenant_id;
  return kNone;
}

}  // namespace tokenledger
