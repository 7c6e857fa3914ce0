// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Budgets: what HR systems and admins change, and what they read. Accounts (with their policy:
// a monthly allocation, rollover, daily limit, overdraft; an account given a policy mid-period
// receives the period's allocation at once) and teams (a monthly cap), grants and adjustments
// (credits from @funding or @adjustments, or downward adjustments debited through Holds::Spend),
// and balances.
//
// Thread-safety: takes the tenant's `mu`; durable calls answer after their commit, with no
// engine lock held. Errors: kInvalidArgument (arguments, overflow), kNotFound (tenant, account,
// team), kFailedPrecondition (closed account), and the journal's refusals.
#ifndef TOKENLEDGER_LEDGER_BUDGETS_H_
#define TOKENLEDGER_LEDGER_BUDGETS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ledger/context.h"
#include "ledger/holds.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"
#include "ledger/submission.h"
#include "ledger/tenant_state.h"

namespace tokenledger {

class Budgets {
 public:
  Budgets(LedgerContext& cx, Holds& holds) : cx_(cx), holds_(holds) {}

  void UpsertAccount(const std::string& tenant, AccountRecord account, const IdemArgs& idem,
                     ResultCallback done);
  void UpsertTeam(const std::string& tenant, TeamRecord team, const IdemArgs& idem,
                  ResultCallback done);
  void Grant(const std::string& tenant, const std::string& account_id, int64_t amount,
             const std::string& memo, const IdemArgs& idem, ResultCallback done);
  void Adjust(const std::string& tenant, const std::string& account_id, int64_t amount_delta,
              const std::string& memo, const IdemArgs& idem, ResultCallback done);
  absl::StatusOr<BalanceView> GetBalance(const std::string& tenant,
                                         const std::string& account_id) const;
  absl::StatusOr<AccountRecord> GetAccount(const std::string& tenant,
                                           const std::string& account_id) const;
  absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& query) const;

 private:
  // Credits `amount` to `account_id` from `source` (GRANT, or ADJUSTMENT upwards).
  void Credit(const std::string& tenant, const std::string& account_id, int64_t amount,
              TransferKind kind, absl::string_view source, const std::string& memo,
              const IdemArgs& idem, ResultCallback done);
  // For an account that gets a policy mid-period (or is created with one): the period row and
  // the first allocation's grant added to `m`, once per period (the period row guards it).
  // Returns the grant (none for a zero allocation), or kInvalidArgument on overflow.
  absl::StatusOr<std::optional<TransferRecord>> FirstAllocation(
      TenantState& t, const AccountRecord& account, const AccountState* existing, int64_t period,
      int64_t now_us, Mutation& m) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  LedgerContext& cx_;
  Holds& holds_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_BUDGETS_H_
