// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// LedgerContext: what every part of the engine shares (ledger/engine.h is the facade over those
// parts): the journal that takes durable writes, the store that answers reads memory does not
// hold, the clock, the options, and the registry of served tenants. The Ledger owns it and
// passes it by reference to its parts; it outlives them. Its members are either immutable or
// thread-safe themselves.
#ifndef TOKENLEDGER_LEDGER_CONTEXT_H_
#define TOKENLEDGER_LEDGER_CONTEXT_H_

#include <atomic>
#include <cstdint>

#include "ledger/engine_options.h"
#include "ledger/tenants.h"
#include "tokenledger/clock.h"
#include "tokenledger/journal.h"
#include "tokenledger/store.h"

namespace tokenledger {

struct LedgerContext {
  LedgerContext(Journal* j, LedgerStore* r, const Clock* c, EngineOptions o)
      : journal(j), reader(r), clock(c), options(o), tenants(o.idempotency_keys_max) {}
  LedgerContext(const LedgerContext&) = delete;
  LedgerContext& operator=(const LedgerContext&) = delete;

  Journal* const journal;     // not owned
  LedgerStore* const reader;  // not owned
  const Clock* const clock;   // not owned
  const EngineOptions options;
  TenantRegistry tenants;
  std::atomic<uint64_t> resets_performed{0};  // (account, period) resets committed here
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_CONTEXT_H_
