// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Store rules: what every LedgerStore implementation (PgStore, and the test fakes in
// tests/testing) must do alike, written once so that the stores cannot drift apart.
//   - what text a store can hold (CheckStorableText: the PostgreSQL text column's limits),
//   - the accounts a new tenant gets (SystemAccountsOf: kSystemAccounts, with zero balances),
//   - the stored form of metadata and of a policy's model limits (NormalizeMetadata,
//     NormalizeModelLimits),
//   - how reconciliation checks period rows against their reset transfers (PeriodGroup),
//   - the bound of every transfer listing (kListTransfersMax).
//
// Pure functions of their arguments: thread-safe. Errors: kInvalidArgument (CheckStorableText).
#ifndef TOKENLEDGER_STORE_STORE_RULES_H_
#define TOKENLEDGER_STORE_STORE_RULES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {

// ListTransfers returns at most this many transfers, whatever the query's limit: every read is
// bounded. (The API caps page_size at 1000.)
inline constexpr int32_t kListTransfersMax = 10000;

// Rejects text a PostgreSQL text column cannot hold: NUL bytes and invalid UTF-8, naming the
// field. Both stores check every mutation of a batch with it before writing anything, so that
// they fail alike (kInvalidArgument, nothing committed).
absl::Status CheckStorableText(const Mutation& m);

// The system accounts (kSystemAccounts) a store creates with `tenant`, in the same transaction:
// named after themselves, created when the tenant was, without a policy. Their balances start at
// zero.
std::vector<AccountRecord> SystemAccountsOf(const TenantRecord& tenant);

// Metadata as the store keeps it: a JSON object, so sorted by key (bytewise) with one value per
// key (the last one given). Both stores return metadata in this form.
Metadata NormalizeMetadata(const Metadata& metadata);

// A policy's model limits as the store keeps them: a JSON object, so sorted by model (bytewise)
// with one limit per model (the last one given). Both stores load them in this form.
std::vector<ModelLimit> NormalizeModelLimits(const std::vector<ModelLimit>& limits);

// The period rows of one account written with one created_at: one reset, or several periods
// caught up at once. The reset's transfers carry the same created_at (the engine stamps the
// period row and its RESET_EXPIRE/RESET_GRANT transfers with the time the reset ran), so a group
// is compared with the account's reset transfers of that instant.
struct PeriodGroup {
  int64_t rows = 0;
  int64_t last_start = 0;  // the latest period_start of the group
  int64_t expired = 0;     // sums over the group's rows
  int64_t granted = 0;
};

// Appends the problems of one group given the sums of its transfers (none when they match). A
// one-row group reports that row; a larger one reports its sums on its latest period.
void AddPeriodProblems(const std::string& account_id, const PeriodGroup& group,
                       int64_t found_expired, int64_t found_granted,
                       std::vector<ReconcileData::PeriodProblem>& out);
// Orders problems by (account_id, period_start_us, field), as both stores return them.
void SortPeriodProblems(std::vector<ReconcileData::PeriodProblem>& problems);

}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_STORE_RULES_H_
