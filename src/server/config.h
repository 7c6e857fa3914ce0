// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's configuration, from one table of flags. Each flag --name has an environment
// variable TOKENLEDGER_NAME (upper snake case) and a key in the TOML file of --config (the flag's
// name with underscores or dashes). Precedence: command line > environment > config file >
// default. Every value given is checked, also one that a higher source overrides; an error names
// the flag, variable or key (and the file and line for the TOML file).
//
// A variable set to the empty string counts as set (TOKENLEDGER_METRICS_LISTEN= disables the
// metrics endpoint). The operator key comes from --operator-key-file (a file holding it) or from
// TOKENLEDGER_OPERATOR_KEY (the key itself).
#ifndef TOKENLEDGER_SERVER_CONFIG_H_
#define TOKENLEDGER_SERVER_CONFIG_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/server.h"

namespace tokenledger {

// Environment variables by name (only TOKENLEDGER_* are read).
using Environment = absl::flat_hash_map<std::string, std::string>;

// The TOKENLEDGER_* variables of this process.
Environment ProcessEnvironment();

struct LoadedConfig {
  // kMigrate: --migrate-only, apply the migrations and exit (a deployment's migration step).
  enum class Action { kRun, kHelp, kVersion, kMigrate };
  Action action = Action::kRun;
  ServerConfig server;
  std::string config_file;  // the --config file read, if any
};

// Parses `args` (argv without the program name) and `env`, reads the --config file and the
// operator key file. kInvalidArgument names the flag, variable or key at fault.
absl::StatusOr<LoadedConfig> LoadConfig(const std::vector<std::string>& args,
                                        const Environment& env);

// The text of --help: every flag with its value, environment variable, default and meaning.
std::string HelpText();

// The flags of the table, without dashes (for tests and documentation).
std::vector<std::string> FlagNames();

}  // namespace tokenledger

#endif  // TOKENLEDGER_SERVER_CONFIG_H_
