// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/convert.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"

namespace tokenledger {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<Page> ParsePage(int32_t page_size, const std::string& page_token) {
  constexpr int32_t kPageSizeMax = 1000;
  if (page_size < 0 || page_size > kPageSizeMax) {
    return absl::InvalidArgumentError("page_size: must be between 0 and 1000");
  }
  Page page;
  if (page_size > 0) page.size = page_size;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(page_token, &page.before_seq) || page.before_seq <= 0)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return page;
}

Metadata ToMetadata(const google::protobuf::Map<std::string, std::string>& map) {
  Metadata md(map.begin(), map.end());
  std::sort(md.begin(), md.end());
  return md;
}

v1::DenyReason ToProto(DenyReason r) { return static_cast<v1::DenyReason>(r); }

v1::TransferKind ToProto(TransferKind k) { return static_cast<v1::TransferKind>(k); }

void FillPolicy(const Policy& p, v1::Policy* out) {
  out->set_monthly_allocation(p.monthly_allocation);
  out->set_rollover_max(p.rollover_max);
  out->set_daily_limit(p.daily_limit);
  out->set_overdraft_limit(p.overdraft_limit);
  for (const ModelLimit& l : p.model_limits) (*out->mutable_model_limits())[l.model] = l.limit;
}

Policy ToPolicy(const v1::Policy& p) {
  Policy out{.monthly_allocation = p.monthly_allocation(),
             .rollover_max = p.rollover_max(),
             .daily_limit = p.daily_limit(),
             .overdraft_limit = p.overdraft_limit()};
  for (const auto& [model, limit] : p.model_limits()) out.model_limits.push_back({model, limit});
  return out;  // in no order: the engine keeps them sorted (AccountState::SetPolicy)
}

std::optional<TokenUsage> ToUsage(bool present, const v1::TokenUsage& u) {
  if (!present) return std::nullopt;
  return TokenUsage{.input_tokens = u.input_tokens(),
                    .output_tokens = u.output_tokens(),
                    .cached_input_tokens = u.cached_input_tokens()};
}

void FillUsage(const TokenUsage& u, v1::TokenUsage* out) {
  out->set_input_tokens(u.input_tokens);
  out->set_output_tokens(u.output_tokens);
  out->set_cached_input_tokens(u.cached_input_tokens);
}

void FillPrice(const PriceRecord& p, bool in_force, v1::Price* out) {
  out->set_model(p.model);
  out->set_effective_at(p.effective_at_us);
  out->set_input_per_million(p.input_per_million);
  out->set_output_per_million(p.output_per_million);
  out->set_cached_input_per_million(p.cached_input_per_million);
  out->set_created_at(p.created_at_us);
  out->set_in_force(in_force);
}

void FillBalance(const BalanceView& b, v1::Balance* out) {
  out->set_account_id(b.account_id);
  out->set_credits(b.posted.credits);
  out->set_debits(b.posted.debits);
  out->set_held(b.held);
  out->set_available(b.available);
  out->set_granted(b.posted.granted);
  out->set_spent(b.posted.spent);
  out->set_expired(b.posted.expired);
  out->set_period_start(b.period_start_us);
  out->set_period_end(b.period_end_us);
  out->set_period_spent(b.period_spent);
  out->set_day_spent(b.day_spent);
  out->set_unit(b.unit);
  out->set_status(static_cast<v1::AccountStatus>(b.status));
  for (const auto& [model, spent] : b.model_spent) (*out->mutable_model_spent())[model] = spent;
}

void FillTransfer(const TransferRecord& t, v1::Transfer* out) {
  out->set_transfer_id(t.transfer_id);
  out->set_debit_account_id(t.debit_account_id);
  out->set_credit_account_id(t.credit_account_id);
  out->set_amount(t.amount);
  out->set_kind(ToProto(t.kind));
  out->set_created_at(t.created_at_us);
  out->set_request_id(t.request_id);
  out->set_model(t.model);
  for (const auto& [k, v] : t.metadata) (*out->mutable_metadata())[k] = v;
  out->set_memo(t.memo);
  out->set_hold_id(t.hold_id);
  if (t.usage) FillUsage(*t.usage, out->mutable_usage());
  out->set_price_effective_at(t.price_effective_at_us.value_or(0));
  out->set_occurred_at(t.occurred_at_us.value_or(0));
}

void FillAuditEvent(const AuditRecord& a, v1::AuditEvent* out) {
  out->set_seq(a.seq);
  out->set_actor_key_id(a.actor_key_id);
  out->set_action(a.action);
  out->set_target(a.target);
  out->set_detail(a.detail);
  out->set_created_at(a.created_at_us);
}

void FillTenant(const TenantRecord& t, v1::Tenant* out) {
  out->set_display_name(t.display_name);
  out->set_unit(t.unit);
  out->set_timezone(t.timezone);
  out->set_created_at(t.created_at_us);
}

namespace {

void FillMismatch(const ReconcileMismatch& m, v1::Mismatch* out) {
  out->set_account_id(m.account_id);
  out->set_field(m.field);
  out->set_expected(m.expected);
  out->set_found(m.found);
  out->set_source(m.source);
}

}  // namespace

void FillReconcileReport(const ReconcileReport& r, v1::ReconcileResponse* out) {
  out->set_accounts_checked(r.accounts_checked);
  out->set_transfers_checked(r.transfers_checked);
  out->set_ledger_sum(r.ledger_sum);
  for (const auto& m : r.mismatches) FillMismatch(m, out->add_mismatches());
  out->set_expired_holds_released(r.expired_holds_released);
  out->set_fixed(r.fixed);
  out->set_periods_checked(r.periods_checked);
  for (const auto& m : r.repaired) FillMismatch(m, out->add_repaired());
}

void FillServerStats(const ServerStats& s, v1::GetServerStatsResponse* out) {
  const WriterStatsView& w = s.writer;
  out->set_writer_batches(w.batches);
  out->set_writer_mutations(w.mutations);
  out->set_writer_mean_batch_size(w.batches == 0 ? 0.0
                                                 : static_cast<double>(w.mutations) / w.batches);
  out->set_writer_commit_micros_total(w.commit_micros_total);
  out->set_writer_commit_micros_max(w.commit_micros_max);
  out->set_writer_mean_commit_micros(
      w.batches == 0 ? 0.0 : static_cast<double>(w.commit_micros_total) / w.batches);
  out->set_writer_failed_batches(w.failed_batches);
  out->set_writer_queue_depth(w.queue_depth);
  out->set_cached_tenants(s.engine.tenants);
  out->set_cached_accounts(s.engine.accounts);
  out->set_open_holds(s.engine.open_holds);
  out->set_resident_memory_bytes(s.resident_memory_bytes);
}

}  // namespace tokenledger
