// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledger: the admin command-line client of tokenledgerd, over gRPC.
//
//   tokenledger [global flags] <command> [args] [flags]      (flags may follow the arguments)
//
// Run `tokenledger help` for the commands. Exit status: 0 success; 1 health not SERVING;
// 2 the RPC failed (stderr: "error: <CODE>: <message>"); 64 bad usage.
//
// This file maps the command words to the commands (cli/commands.h); the flags are in
// cli/flags.h, their parsing in cli/args.h, the connection in cli/client.h and the printing in
// cli/output.h.

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace tokenledger::cli {
namespace {

constexpr char kDefaultTarget[] = "127.0.0.1:7443";

constexpr char kHelp[] = R"(tokenledger: admin client of tokenledgerd (gRPC)

Usage: tokenledger [flags] <command> [args] [flags]

Commands:
  health [service]                       grpc.health.v1 check (no key needed); exit 1 unless SERVING
  tenant create <tenant_id> [--display-name X] [--unit usd_micros|tokens] [--timezone Area/City]
                                         (operator key)
  key create <role> [--tenant T]         role: admin, hr, gateway or auditor; prints the key once
  key revoke <key_id>
  account upsert <account_id> [--display-name X] [--team T] [--status active|suspended|closed]
                 [--monthly-allocation N] [--rollover-max N] [--daily-limit N] [--overdraft-limit N]
                 [--model-limit MODEL=N ...]
                                         any policy flag sends a whole policy (unset fields are
                                         0); with none the account has no policy
  team upsert <team_id> [--display-name X] [--monthly-cap N]
  grant <account_id> <amount> [--memo M]
  adjust <account_id> <amount_delta> [--memo M]    e.g. adjust alice -500
  authorize <account_id> <amount> [--ttl S] [--model M] [--metadata k=v,...]
  authorize <account_id> --input-tokens N --max-output-tokens N [--model M] [...]
                                         holds the estimate's cost at M's price
  debit <account_id> <amount> [--hold H] [--request-id R] [--model M] [--metadata k=v,...]
  debit <account_id> --input-tokens N --output-tokens N [--cached-input-tokens N] [--model M]
        [--occurred-at US] [...]         charges the tokens at M's price in force at US (now)
  release <hold_id>
  check <account_id> (<amount> | --input-tokens N --max-output-tokens N) [--model M]
  balance <account_id>
  transfers <account_id> [--limit N] [--page-token T] [--since US] [--until US]
  reconcile [--fix]
  audit [--limit N] [--page-token T]     the tenant's audit trail, newest first (admin or
                                         auditor key)
  resets run [--as-of US]                performs the period resets due at US (default now) that
                                         have not run yet; prints resets_performed (admin key)
  stats                                  the daemon's writer and cache figures (operator or
                                         admin key)
  price set <model> --input-per-million N --output-per-million N [--cached-input-per-million N]
            [--effective-at US]          the price of 1,000,000 tokens from US (default now);
                                         model "*": the fallback (admin key)
  price list [--model M] [--as-of US]    the prices in force at US (default now), or M's history
  help                                   this text

Global flags:
  --key K            API key (default: env TOKENLEDGER_KEY); sent as "authorization: Bearer K"
  --target H:P       server (default: env TOKENLEDGER_TARGET, else 127.0.0.1:7443)
  --json             one JSON object per command (proto field names, all fields printed)
  --timeout S        RPC deadline in seconds (default 10)
  --tls              TLS with the system roots instead of plaintext
  --tls-ca F         TLS, trusting the CA certificate(s) in PEM file F instead of the system's
  --tls-cert F --tls-key K   mutual TLS: present this client certificate and key (PEM)
  --idempotency-key K  for every mutating command; without it a random key is generated and
                     printed, so that a failed call can be retried safely with the same key

Amounts are integers in the tenant's unit. Times are unix microseconds.
Exit status: 0 ok, 1 health not SERVING, 2 RPC error ("error: <CODE>: <message>" on stderr),
64 bad usage.
)";

struct Command {
  const char* name;  // one or two words
  bool needs_key;
  int (*run)(Client&, const Args&);
};

constexpr Command kCommands[] = {
    {"health", false, RunHealth},
    {"tenant create", true, RunTenantCreate},
    {"key create", true, RunKeyCreate},
    {"key revoke", true, RunKeyRevoke},
    {"account upsert", true, RunAccountUpsert},
    {"team upsert", true, RunTeamUpsert},
    {"grant", true, RunGrant},
    {"adjust", true, RunAdjust},
    {"authorize", true, RunAuthorize},
    {"debit", true, RunDebit},
    {"release", true, RunRelease},
    {"check", true, RunCheck},
    {"balance", true, RunBalance},
    {"transfers", true, RunTransfers},
    {"reconcile", true, RunReconcile},
    {"audit", true, RunAudit},
    {"resets run", true, RunResetsRun},
    {"stats", true, RunStats},
    {"price set", true, RunPriceSet},
    {"price list", true, RunPriceList},
};

// Finds the command named by the first one or two positional arguments; sets *words.
const Command* FindCommand(const Args& positional, size_t* words) {
  for (const Command& c : kCommands) {
    const std::vector<std::string> parts = absl::StrSplit(c.name, ' ');
    if (positional.size() < parts.size()) continue;
    if (std::equal(parts.begin(), parts.end(), positional.begin())) {
      *words = parts.size();
      return &c;
    }
  }
  return nullptr;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// The error for words that name no command: the group and its verb when the first is a group.
int UnknownCommand(const Args& positional) {
  const bool group =
      positional.size() >= 2 &&
      (positional[0] == "tenant" || positional[0] == "key" || positional[0] == "account" ||
       positional[0] == "team" || positional[0] == "resets" || positional[0] == "price");
  return UsageError(absl::StrCat("unknown command '", positional[0],
                                 group ? absl::StrCat(" ", positional[1]) : "", "'"));
}

// Connects as the global flags and the environment say, and runs `command` with `args`.
int RunCommand(const Command& command, const Args& args) {
  const double timeout_s = absl::GetFlag(FLAGS_timeout);
  if (!(timeout_s > 0)) return UsageError("--timeout must be > 0");
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) target = EnvOr("TOKENLEDGER_TARGET", kDefaultTarget);
  std::string key = absl::GetFlag(FLAGS_key);
  if (key.empty()) key = EnvOr("TOKENLEDGER_KEY", "");
  std::shared_ptr<grpc::ChannelCredentials> creds = ChannelCredentialsFromFlags();
  if (creds == nullptr) return kExitUsage;
  Client client(target, key, absl::GetFlag(FLAGS_json), timeout_s, std::move(creds));
  if (command.needs_key && !client.RequireKey()) return kExitUsage;
  return command.run(client, args);
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("tokenledger <command> [args] [flags]; run `tokenledger help`");
  std::vector<std::string> positional;
  bool want_help = false;
  if (!ParseArgs(argc, argv, &positional, &want_help)) return kExitUsage;
  if (want_help || (!positional.empty() && positional[0] == "help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (positional.empty()) {
    std::cerr << kHelp;
    return kExitUsage;
  }
  size_t words = 0;
  const Command* command = FindCommand(positional, &words);
  if (command == nullptr) return UnknownCommand(positional);
  return RunCommand(
      *command, Args(positional.begin() + static_cast<std::ptrdiff_t>(words), positional.end()));
}

}  // namespace
}  // namespace tokenledger::cli

int main(int argc, char** argv) { return tokenledger::cli::Main(argc, argv); }
