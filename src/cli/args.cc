// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "cli/args.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/flags.h"

namespace tokenledger::cli {

namespace {

bool IsNumber(absl::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One flag argument (-name, --name, --name=value) as absl wants it in `flags` ("--name=value",
// "--name", "--noname"), or its name in `pending` when its value is the next argument. False
// (after printing why) when no such flag exists.
bool NormalizeFlag(const std::string& arg, std::vector<std::string>* flags, std::string* pending) {
  absl::string_view body = arg;
  body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
  std::string name = absl::StrReplaceAll(body.substr(0, body.find('=')), {{"-", "_"}});
  const bool has_value = body.find('=') != absl::string_view::npos;
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
    if (negated != nullptr && negated->IsOfType<bool>() && !has_value) {
      flags->push_back(absl::StrCat("--", name));
      return true;
    }
  }
  if (flag == nullptr) {
    UsageError(absl::StrCat("unknown flag ", arg));
    return false;
  }
  if (has_value) {
    flags->push_back(absl::StrCat("--", name, body.substr(body.find('='))));
  } else if (flag->IsOfType<bool>()) {
    flags->push_back(absl::StrCat("--", name));
  } else {
    *pending = name;
  }
  return true;
}

// argv into normalized flags and positional arguments; false (after printing why) on a bad flag
// or a flag missing its value.
bool SplitArgs(int argc, char** argv, std::vector<std::string>* flags,
               std::vector<std::string>* positional, bool* want_help) {
  std::string pending;  // a flag that waits for its value in the next argument
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!pending.empty()) {
      flags->push_back(absl::StrCat("--", pending, "=", arg));
      pending.clear();
    } else if (only_positional || arg.size() < 2 || arg[0] != '-' || IsNumber(arg)) {
      positional->push_back(arg);
    } else if (arg == "--") {
      only_positional = true;
    } else if (arg == "-h" || arg == "--help" || arg == "-help") {
      *want_help = true;
    } else if (!NormalizeFlag(arg, flags, &pending)) {
      return false;
    }
  }
  if (!pending.empty()) {
    UsageError(absl::StrCat("flag --", pending, " needs a value"));
    return false;
  }
  return true;
}

// A list flag (e.g. --model-limit) given more than once: its values joined with ',' into the
// first occurrence, so that each adds to the list instead of replacing it.
void MergeRepeatedLists(std::vector<std::string>* flags) {
  std::vector<std::string> merged;
  std::map<std::string, size_t> first;  // a list flag's name to its index in `merged`
  for (std::string& f : *flags) {
    const size_t eq = f.find('=');
    const std::string name = f.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (eq == std::string::npos || flag == nullptr || !flag->IsOfType<std::vector<std::string>>()) {
      merged.push_back(std::move(f));
      continue;
    }
    auto [it, inserted] = first.emplace(name, merged.size());
    if (inserted) {
      merged.push_back(std::move(f));
    } else if (eq + 1 < f.size()) {
      std::string& to = merged[it->second];
      absl::StrAppend(&to, to.back() == '=' ? "" : ",", f.substr(eq + 1));
    }
  }
  *flags = std::move(merged);
}

// Checks each value first so that a bad one is a usage error, not absl's exit(1).
bool CheckFlagValues(const std::vector<std::string>& flags) {
  for (const std::string& f : flags) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(f.substr(2, eq - 2));
    std::string error;
    if (flag != nullptr && !flag->ParseFrom(f.substr(eq + 1), &error)) {
      UsageError(absl::StrCat("bad value in ", f, ": ", error));
      return false;
    }
  }
  return true;
}

// Sets the flags through absl, as if they alone were the command line.
void ApplyFlags(const char* argv0, const std::vector<std::string>& flags) {
  std::vector<std::string> args = {argv0};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  absl::ParseCommandLine(static_cast<int>(args.size()), ptrs.data());
}

}  // namespace

int UsageError(absl::string_view message) {
  std::cerr << "tokenledger: " << message << "\n(run `tokenledger help` for usage)\n";
  return kExitUsage;
}

bool ParseArgs(int argc, char** argv, std::vector<std::string>* positional, bool* want_help) {
  std::vector<std::string> flags;
  if (!SplitArgs(argc, argv, &flags, positional, want_help)) return false;
  MergeRepeatedLists(&flags);
  if (!CheckFlagValues(flags)) return false;
  ApplyFlags(argv[0], flags);
  return true;
}

bool ParseAmount(absl::string_view text, absl::string_view what, int64_t* out) {
  if (!IsNumber(text) || !absl::SimpleAtoi(text, out)) {
    UsageError(absl::StrCat(what, " must be an integer, got '", text, "'"));
    return false;
  }
  return true;
}

bool ParseMetadata(google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& kv : absl::GetFlag(FLAGS_metadata)) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      UsageError(absl::StrCat("--metadata wants k=v pairs, got '", kv, "'"));
      return false;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

bool ParseModelLimits(google::protobuf::Map<std::string, int64_t>* out) {
  for (const std::string& kv : absl::GetFlag(FLAGS_model_limit)) {
    const size_t eq = kv.rfind('=');  // a model name may hold '=', the amount does not
    int64_t limit = 0;
    if (eq == std::string::npos || eq == 0) {
      UsageError(absl::StrCat("--model-limit wants MODEL=AMOUNT, got '", kv, "'"));
      return false;
    }
    if (!ParseAmount(kv.substr(eq + 1), absl::StrCat("the limit of ", kv.substr(0, eq)), &limit)) {
      return false;
    }
    (*out)[kv.substr(0, eq)] = limit;
  }
  return true;
}

bool ParseStatus(v1::AccountStatus* out) {
  const std::string s = absl::AsciiStrToLower(absl::GetFlag(FLAGS_status));
  if (s.empty()) {
    *out = v1::ACCOUNT_STATUS_UNSPECIFIED;
  } else if (s == "active") {
    *out = v1::ACTIVE;
  } else if (s == "suspended") {
    *out = v1::SUSPENDED;
  } else if (s == "closed") {
    *out = v1::CLOSED;
  } else {
    UsageError(absl::StrCat("--status must be active, suspended or closed, got '", s, "'"));
    return false;
  }
  return true;
}

}  // namespace tokenledger::cli
