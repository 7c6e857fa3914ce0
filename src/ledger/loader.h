// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Loading: builds the in-memory state of tenants from a Snapshot of the store (at start, and
// when this process takes over tenants): their accounts and balances, teams, last period
// resets, holds (an open hold past its expiry is loaded expired; closed ones are remembered with
// their answers), hold segments, recent idempotency keys (the platform's into the platform
// scope), and the usage of the current period and day (read from the store).
//
// Thread-safety: builds new states that no call sees yet (their locks are taken for form); the
// platform's state is shared, and locked. Errors: kDataLoss for rows of an unknown tenant or
// account, and the store's errors from reading usage.
#ifndef TOKENLEDGER_LEDGER_LOADER_H_
#define TOKENLEDGER_LEDGER_LOADER_H_

#include "absl/status/statusor.h"
#include "ledger/context.h"
#include "ledger/tenants.h"
#include "tokenledger/store.h"

namespace tokenledger {

absl::StatusOr<TenantRegistry::TenantMap> BuildTenants(LedgerContext& cx, const Snapshot& snapshot);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_LOADER_H_
