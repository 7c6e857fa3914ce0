// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// NewId: the server-made ids of transfers, holds and resets: `prefix` and 128 random bits in
// hex. Thread-safe (a generator per thread); never fails.
#ifndef TOKENLEDGER_LEDGER_IDS_H_
#define TOKENLEDGER_LEDGER_IDS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenledger {

std::string NewId(absl::string_view prefix);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_IDS_H_
