// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/account_table.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>

#include "ledger/invariant.h"

namespace tokenledger {

int64_t AccountState::Available() const {
  const __int128 v = static_cast<__int128>(posted.credits) - posted.debits - held - pending_debit;
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

const ModelLimit* ModelBook::LimitOf(absl::string_view model) const {
  auto it = std::lower_bound(
      limits.begin(), limits.end(), model,
      [](const ModelLimit& l, absl::string_view m) { return absl::string_view(l.model) < m; });
  return it != limits.end() && it->model == model ? &*it : nullptr;
}

ModelUsage& ModelBook::UsageOf(absl::string_view model) {
  if (auto it = usage.find(model); it != usage.end()) return it->second;
  if (usage.size() >= kModelsPerAccountMax && LimitOf(model) == nullptr) {
    return usage[kFallbackModel];
  }
  return usage[model];
}

void AccountState::SetPolicy(const std::optional<Policy>& p) {
  has_policy = p.has_value();
  const Policy v = p.value_or(Policy{});
  policy = PolicyAmounts{.monthly_allocation = v.monthly_allocation,
                         .rollover_max = v.rollover_max,
                         .daily_limit = v.daily_limit,
                         .overdraft_limit = v.overdraft_limit};
  if (!v.model_limits.empty() || models != nullptr) {
    Models().limits = v.model_limits;
    std::sort(models->limits.begin(), models->limits.end(),
              [](const ModelLimit& a, const ModelLimit& b) { return a.model < b.model; });
  }
}

std::optional<Policy> AccountState::GetPolicy() const {
  if (!has_policy) return std::nullopt;
  Policy p{.monthly_allocation = policy.monthly_allocation,
           .rollover_max = policy.rollover_max,
           .daily_limit = policy.daily_limit,
           .overdraft_limit = policy.overdraft_limit};
  if (models != nullptr) p.model_limits = models->limits;
  return p;
}

ModelBook& AccountState::Models() {
  if (models == nullptr) models = std::make_unique<ModelBook>();
  return *models;
}

AccountTable::~AccountTable() {
  for (uint32_t i = 0; i < size_; ++i) Entry(i).~value_type();
}

AccountTable::value_type* AccountTable::find(absl::string_view id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &Entry(*it);
}

const AccountTable::value_type* AccountTable::find(absl::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &Entry(*it);
}

AccountState& AccountTable::at(absl::string_view id) {
  value_type* v = find(id);
  if (v == nullptr) std::abort();  // a programming error: callers check existence first
  return v->second;
}

void AccountTable::reserve(size_t n) {
  index_.reserve(n);
  chunks_.reserve((n + kChunk - 1) / kChunk);
}

AccountState& AccountTable::operator[](absl::string_view id) {
  if (value_type* v = find(id)) return v->second;
  if ((size_ & (kChunk - 1)) == 0) {
    chunks_.push_back(std::make_unique<unsigned char[]>(kChunk * sizeof(value_type)));
  }
  const uint32_t i = size_;
  new (&Entry(i)) value_type(std::string(id), AccountState{});
  ++size_;
  index_.insert(i);
  return Entry(i).second;
}

void ApplyPostedTransfer(AccountTable& accounts, const TransferRecord& tr) {
  auto debit = accounts.find(tr.debit_account_id);
  auto credit = accounts.find(tr.credit_account_id);
  TL_INVARIANT(debit != accounts.end() && credit != accounts.end());
  TL_INVARIANT(ApplyDebitSide(tr, debit->second.posted));
  TL_INVARIANT(ApplyCreditSide(tr, credit->second.posted));
}

}  // namespace tokenledger
