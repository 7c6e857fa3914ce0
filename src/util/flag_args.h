// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Command lines: flags are documented with dashes (--database-url), abseil spells them with
// underscores (--database_url). Shared by the daemon and the benchmark.
#ifndef TOKENLEDGER_UTIL_FLAG_ARGS_H_
#define TOKENLEDGER_UTIL_FLAG_ARGS_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace tokenledger {

// argv with every "--a-b[=v]" spelled "--a_b[=v]" (values untouched); `storage` owns the text.
inline std::vector<char*> UnderscoreFlagNames(int argc, char** argv,
                                              std::vector<std::string>& storage) {
  storage.assign(argv, argv + argc);
  std::vector<char*> out;
  for (auto& a : storage) {
    if (a.rfind("--", 0) == 0) {
      const size_t end = std::min(a.find('='), a.size());
      std::replace(a.begin() + 2, a.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    out.push_back(a.data());
  }
  return out;
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_UTIL_FLAG_ARGS_H_
