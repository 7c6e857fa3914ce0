// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Requests as bytes: every method of the API is raw (bytes in, bytes out), and its request is
// parsed here rather than by gRPC. gRPC's own parser answers a request it cannot parse (a string
// field that is not UTF-8, which proto3 forbids, or bytes that are no protobuf at all) with
// UNIMPLEMENTED and an empty message, before any handler runs. Here such a request is
// INVALID_ARGUMENT naming the field ("account_id: not valid UTF-8 text"), or "request: not a
// valid <message>" when the bytes are malformed. Also the fingerprint that tells two requests
// under one idempotency key apart. Pure functions: thread-safe.
#ifndef TOKENLEDGER_API_RAW_REQUEST_H_
#define TOKENLEDGER_API_RAW_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace tokenledger {

// Parses `bytes` into `request`: OK, or kInvalidArgument as the header says.
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request);

// The field (dotted path; a map's entries by the map's name) of the first string whose bytes in
// `wire`, a serialized message of `type`, are not UTF-8; empty when there is none.
std::string FindInvalidUtf8Field(const google::protobuf::Descriptor* type, absl::string_view wire);

// FNV-1a 64 of the method name and the request serialized deterministically: equal for the same
// request (compared only between requests carrying the same idempotency key).
uint64_t RequestFingerprint(absl::string_view method, const google::protobuf::Message& request);

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_RAW_REQUEST_H_
