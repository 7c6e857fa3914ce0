// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/ids.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tokenledger {

std::string NewId(absl::string_view prefix) {
  thread_local absl::BitGen gen;
  const uint64_t hi = absl::Uniform<uint64_t>(gen);
  const uint64_t lo = absl::Uniform<uint64_t>(gen);
  char buf[16];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<char>(hi >> (8 * i));
    buf[8 + i] = static_cast<char>(lo >> (8 * i));
  }
  return absl::StrCat(prefix, absl::BytesToHexString(absl::string_view(buf, sizeof(buf))));
}

}  // namespace tokenledger
