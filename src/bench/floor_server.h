// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The gRPC floor of tokenledger-bench: an empty callback-API service (Ping answers at once, no
// work), served by this very binary started with --serve_floor as a child of the bench. What
// tokenledgerd's Authorize is compared with: the cost of gRPC itself on this machine.
#ifndef TOKENLEDGER_BENCH_FLOOR_SERVER_H_
#define TOKENLEDGER_BENCH_FLOOR_SERVER_H_

namespace tokenledger::bench {

// Serves the floor on 127.0.0.1:`port` until killed (it dies with its parent, and in any case
// ends after 2 hours). Returns the exit status: 1 when it cannot listen or has no parent bench.
int ServeFloor(int port);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_FLOOR_SERVER_H_
