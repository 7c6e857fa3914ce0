// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The CLI's commands, one function each: it checks its positional arguments (a usage error is
// kExitUsage), builds the request from them and from its flags (cli/flags.h), makes the call
// through the Client and returns the exit code. Grouped by the service they call:
// health_command.cc (grpc.health.v1), admin_commands.cc, budget_commands.cc,
// authorization_commands.cc. main.cc maps command words to these.
#ifndef TOKENLEDGER_CLI_COMMANDS_H_
#define TOKENLEDGER_CLI_COMMANDS_H_

#include "cli/args.h"
#include "cli/client.h"

namespace tokenledger::cli {

// grpc.health.v1 Check (no key needed): kExitOk when SERVING, else kExitNotServing.
int RunHealth(Client& client, const Args& args);

// AdminService.
int RunTenantCreate(Client& client, const Args& args);
int RunKeyCreate(Client& client, const Args& args);
int RunKeyRevoke(Client& client, const Args& args);
int RunReconcile(Client& client, const Args& args);
int RunAudit(Client& client, const Args& args);
int RunResetsRun(Client& client, const Args& args);
int RunStats(Client& client, const Args& args);
int RunPriceSet(Client& client, const Args& args);
int RunPriceList(Client& client, const Args& args);

// BudgetService.
int RunAccountUpsert(Client& client, const Args& args);
int RunTeamUpsert(Client& client, const Args& args);
int RunGrant(Client& client, const Args& args);
int RunAdjust(Client& client, const Args& args);
int RunBalance(Client& client, const Args& args);
int RunTransfers(Client& client, const Args& args);

// AuthorizationService.
int RunAuthorize(Client& client, const Args& args);
int RunDebit(Client& client, const Args& args);
int RunRelease(Client& client, const Args& args);
int RunCheck(Client& client, const Args& args);

}  // namespace tokenledger::cli

#endif  // TOKENLEDGER_CLI_COMMANDS_H_
