// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// `health [service]`: grpc.health.v1 Check without its generated code (the CLI links only our
// protos): the request and the response are encoded and decoded by hand, and the call is made
// through the generic stub.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "grpcpp/generic/generic_stub.h"

namespace tokenledger::cli {

namespace {

constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

// Reads a base-128 varint at *pos; false when truncated.
bool ReadVarint(const std::string& in, size_t* pos, uint64_t* out) {
  *out = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[(*pos)++]);
    *out |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckResponse { ServingStatus status = 1; }: returns the status, -1 when malformed.
int DecodeHealthStatus(const std::string& in) {
  int status = 0;  // absent field: UNKNOWN
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0;
    uint64_t value = 0;
    if (!ReadVarint(in, &pos, &tag)) return -1;
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(in, &pos, &value)) return -1;
        if ((tag >> 3) == 1) status = static_cast<int>(value);
        break;
      case 1:
        pos += 8;
        break;
      case 2:
        if (!ReadVarint(in, &pos, &value) || value > in.size() - pos) return -1;
        pos += value;
        break;
      case 5:
        pos += 4;
        break;
      default:
        return -1;
    }
  }
  return pos == in.size() ? status : -1;
}

std::string HealthStatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return absl::StrCat("STATUS_", status);
  }
}

// HealthCheckRequest { string service = 1; }
std::string EncodeHealthRequest(const std::string& service) {
  std::string request;
  if (service.empty()) return request;
  request.push_back(0x0a);
  for (uint64_t n = service.size();; n >>= 7) {
    request.push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
    if (n < 0x80) break;
  }
  request += service;
  return request;
}

// Makes the Check call (without a key); the response's bytes into `response`.
grpc::Status CallHealth(const Client& client, const std::string& request, std::string* response) {
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub stub(client.channel());
  grpc::ClientContext ctx;
  client.SetUp(&ctx, /*with_key=*/false);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, kHealthCheckMethod, request_buffer, &cq);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  call->StartCall();
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (response_buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

}  // namespace

int RunHealth(Client& client, const Args& args) {
  if (args.size() > 1) return UsageError("usage: health [service]");
  const std::string service = args.empty() ? "" : args[0];
  std::string response;
  const grpc::Status status = CallHealth(client, EncodeHealthRequest(service), &response);
  if (!status.ok()) return client.Fail(status);
  const int serving = DecodeHealthStatus(response);
  if (serving < 0) {
    return client.Fail(grpc::Status(grpc::StatusCode::INTERNAL, "malformed health response"));
  }
  const std::string name = HealthStatusName(serving);
  if (client.json()) {
    std::cout << absl::StrFormat("{\"status\":\"%s\"}\n", name);
  } else {
    PrintRows({{"status", name}});
  }
  return serving == 1 ? kExitOk : kExitNotServing;
}

}  // namespace tokenledger::cli
