// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// TL_INVARIANT: a ledger invariant, checked in every build type. A violated one means memory no
// longer mirrors the store, and serving on would spread the damage: it aborts the process. For
// programmer errors only, never for input or store rows (those are returned as a Status).
#ifndef TOKENLEDGER_LEDGER_INVARIANT_H_
#define TOKENLEDGER_LEDGER_INVARIANT_H_

#include <cstdio>
#include <cstdlib>

#define TL_INVARIANT(cond)                                                                      \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "tokenledger invariant violated at %s:%d: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                      \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

#endif  // TOKENLEDGER_LEDGER_INVARIANT_H_
