// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// gRPC status codes by the names gRPC gives them, indexed by the code's number. Header-only, so
// that the benchmark (which does not link the API) reports codes the way the metrics do.
#ifndef TOKENLEDGER_UTIL_STATUS_NAMES_H_
#define TOKENLEDGER_UTIL_STATUS_NAMES_H_

namespace tokenledger {

inline constexpr const char* kGrpcCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

inline constexpr int kGrpcCodeCount = sizeof(kGrpcCodeNames) / sizeof(kGrpcCodeNames[0]);

}  // namespace tokenledger

#endif  // TOKENLEDGER_UTIL_STATUS_NAMES_H_
