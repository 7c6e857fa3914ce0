// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "store/store_rules.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

absl::Status CheckText(absl::string_view field, absl::string_view value) {
  // libpq passes text as C strings and PostgreSQL text holds no NUL: a NUL would truncate the
  // value silently, so it is refused instead.
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains a NUL byte"));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
  }
  return absl::OkStatus();
}

// Keeps the first error only: the message names one field.
class TextCheck {
 public:
  void operator()(absl::string_view field, absl::string_view value) {
    if (status_.ok()) status_ = CheckText(field, value);
  }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// The text of the ledger's own rows: keys, transfers, holds, segments, periods.
void CheckLedgerText(const Mutation& m, TextCheck& check) {
  if (m.idempotency.has_value()) {
    check("idempotency.tenant_id", m.idempotency->tenant_id);
    check("idempotency.key", m.idempotency->key);
    // The response is bytea: any bytes.
  }
  for (const TransferRecord& t : m.transfers) {
    check("transfer.tenant_id", t.tenant_id);
    check("transfer.transfer_id", t.transfer_id);
    check("transfer.debit_account_id", t.debit_account_id);
    check("transfer.credit_account_id", t.credit_account_id);
    check("transfer.request_id", t.request_id);
    check("transfer.model", t.model);
    check("transfer.memo", t.memo);
    check("transfer.hold_id", t.hold_id);
    check("transfer.idempotency_key", t.idempotency_key);
    for (const auto& [k, v] : t.metadata) {
      check("transfer.metadata key", k);
      check("transfer.metadata value", v);
    }
  }
  for (const HoldRecord& h : m.holds) {
    check("hold.tenant_id", h.tenant_id);
    check("hold.hold_id", h.hold_id);
    check("hold.account_id", h.account_id);
    check("hold.idempotency_key", h.idempotency_key);
    check("hold.model", h.model);
  }
  for (const HoldSegment& d : m.dropped_hold_segments) {
    check("dropped segment.tenant_id", d.tenant_id);
  }
  for (const PeriodRecord& p : m.periods) {
    check("period.tenant_id", p.tenant_id);
    check("period.account_id", p.account_id);
  }
}

// The text of the records an operator or admin writes: audit, tenant, account, team, API key,
// price.
void CheckRecordText(const Mutation& m, TextCheck& check) {
  for (const AuditRecord& a : m.audit) {
    check("audit.tenant_id", a.tenant_id);
    check("audit.actor_key_id", a.actor_key_id);
    check("audit.action", a.action);
    check("audit.target", a.target);
    check("audit.detail", a.detail);
  }
  if (m.tenant.has_value()) {
    check("tenant.tenant_id", m.tenant->tenant_id);
    check("tenant.display_name", m.tenant->display_name);
    check("tenant.unit", m.tenant->unit);
    check("tenant.timezone", m.tenant->timezone);
  }
  if (m.account.has_value()) {
    check("account.tenant_id", m.account->tenant_id);
    check("account.account_id", m.account->account_id);
    check("account.display_name", m.account->display_name);
    check("account.team_id", m.account->team_id);
    if (m.account->policy.has_value()) {
      for (const ModelLimit& l : m.account->policy->model_limits) {
        check("account.policy.model_limits model", l.model);
      }
    }
  }
  if (m.team.has_value()) {
    check("team.tenant_id", m.team->tenant_id);
    check("team.team_id", m.team->team_id);
    check("team.display_name", m.team->display_name);
  }
  if (m.api_key.has_value()) {
    check("api_key.key_id", m.api_key->key_id);
    check("api_key.tenant_id", m.api_key->tenant_id);
    check("api_key.key_hash", m.api_key->key_hash);
  }
  for (const PriceRecord& p : m.prices) {
    check("price.tenant_id", p.tenant_id);
    check("price.model", p.model);
  }
}

}  // namespace

absl::Status CheckStorableText(const Mutation& m) {
  TextCheck check;
  CheckLedgerText(m, check);
  CheckRecordText(m, check);
  return check.status();
}

std::vector<AccountRecord> SystemAccountsOf(const TenantRecord& tenant) {
  std::vector<AccountRecord> out;
  out.reserve(std::size(kSystemAccounts));
  for (absl::string_view sys : kSystemAccounts) {
    AccountRecord a;
    a.tenant_id = tenant.tenant_id;
    a.account_id = std::string(sys);
    a.display_name = std::string(sys);
    a.created_at_us = tenant.created_at_us;
    out.push_back(std::move(a));
  }
  return out;
}

void AddPeriodProblems(const std::string& account_id, const PeriodGroup& group,
                       int64_t found_expired, int64_t found_granted,
                       std::vector<ReconcileData::PeriodProblem>& out) {
  if (found_expired != group.expired) {
    out.push_back({account_id, group.last_start, "expired", group.expired, found_expired});
  }
  if (found_granted != group.granted) {
    out.push_back({account_id, group.last_start, "granted", group.granted, found_granted});
  }
}

void SortPeriodProblems(std::vector<ReconcileData::PeriodProblem>& problems) {
  std::sort(problems.begin(), problems.end(),
            [](const ReconcileData::PeriodProblem& a, const ReconcileData::PeriodProblem& b) {
              return std::tie(a.account_id, a.period_start_us, a.field) <
                     std::tie(b.account_id, b.period_start_us, b.field);
            });
}

Metadata NormalizeMetadata(const Metadata& metadata) {
  // std::string compares as unsigned char, the bytewise order PostgreSQL's "C" collation uses.
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : metadata) sorted[k] = v;
  return Metadata(sorted.begin(), sorted.end());
}

std::vector<ModelLimit> NormalizeModelLimits(const std::vector<ModelLimit>& limits) {
  std::map<std::string, int64_t> sorted;
  for (const ModelLimit& l : limits) sorted[l.model] = l.limit;
  std::vector<ModelLimit> out;
  out.reserve(sorted.size());
  for (const auto& [model, limit] : sorted) out.push_back(ModelLimit{model, limit});
  return out;
}

}  // namespace tokenledger
