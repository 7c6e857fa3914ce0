// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/raw_request.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "types/validate.h"

namespace tokenledger {

uint64_t RequestFingerprint(absl::string_view method, const google::protobuf::Message& request) {
  // The idempotency key itself is part of the bytes hashed: harmless, since fingerprints are
  // only ever compared between requests with the same key, and it saves copying the request.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(method);
  mix(absl::string_view("\0", 1));
  mix(bytes);
  return h;
}

std::string FindInvalidUtf8Field(const google::protobuf::Descriptor* type, absl::string_view wire) {
  // The message's fields as the wire has them, without the schema's checks; then each string
  // field checked and each message field looked into, breadth first (requests nest two deep).
  constexpr size_t kMessagesMax = 4096;
  struct Item {
    const google::protobuf::Descriptor* type;
    std::string bytes;
    std::string path;
  };
  std::vector<Item> work = {{type, std::string(wire), ""}};
  for (size_t i = 0; i < work.size() && i < kMessagesMax; ++i) {
    google::protobuf::UnknownFieldSet fields;
    if (!fields.ParseFromString(work[i].bytes)) continue;
    for (int f = 0; f < fields.field_count(); ++f) {
      const google::protobuf::UnknownField& u = fields.field(f);
      const google::protobuf::FieldDescriptor* d = work[i].type->FindFieldByNumber(u.number());
      if (d == nullptr || u.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      // A map entry's key and value are named by the map field.
      const bool in_map = work[i].type->options().map_entry();
      const std::string path =
          in_map ? work[i].path
                 : (work[i].path.empty() ? d->name() : absl::StrCat(work[i].path, ".", d->name()));
      if (d->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
          !IsValidUtf8(u.length_delimited())) {
        return path;
      }
      if (d->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        work.push_back({d->message_type(), u.length_delimited(), path});
      }
    }
  }
  return "";
}

absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request) {
  grpc::ByteBuffer copy(bytes);  // shares the slices; Deserialize consumes its buffer
  if (grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&copy, request).ok()) {
    return absl::OkStatus();
  }
  grpc::Slice slice;
  std::string field;
  if (bytes.DumpToSingleSlice(&slice).ok()) {
    field = FindInvalidUtf8Field(
        request->GetDescriptor(),
        absl::string_view(reinterpret_cast<const char*>(slice.begin()), slice.size()));
  }
  if (!field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8 text"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("request: not a valid ", request->GetDescriptor()->full_name(), " message"));
}

}  // namespace tokenledger
