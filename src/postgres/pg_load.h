// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// What PgStore::Load shares with Recompute: the open holds recorded in hold_batches. Internal to
// the pg_* files; libpqxx exceptions pass through to the caller (WithReader maps them), a
// hold_batches value that cannot be decoded is kDataLoss. Runs in the caller's transaction.
#ifndef TOKENLEDGER_POSTGRES_PG_LOAD_H_
#define TOKENLEDGER_POSTGRES_PG_LOAD_H_

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tokenledger/types.h"

namespace tokenledger {
namespace pg_internal {

// Adds to `holds` (rows of `holds` read already) the holds of the hold_batches rows of `tenant`
// ("" = every tenant), and to `segments` (when given) the segments of those rows. An entry whose
// hold has a row in `holds` is that row's business (the entry's answer and model fill the row's
// when the row carries none); the others are open holds. The engine deletes a segment's rows once
// its holds have all closed or expired (Mutation::dropped_hold_segments); rows are also pruned once
// every hold in them has been expired for the closed-hold window (rows of segment 0, written
// before segments, and rows a failed drop left).
absl::Status MergeHoldBatches(pqxx::transaction_base& txn, const std::string& tenant,
                              std::vector<HoldRecord>& holds,
                              std::vector<HoldSegment>* segments = nullptr);

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_LOAD_H_
