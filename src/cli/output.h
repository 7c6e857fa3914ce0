// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// How the CLI prints an answer on stdout: as name/value rows and aligned tables (repeated
// messages), times as RFC 3339 UTC, or as one JSON object (proto field names, every field).
// What is printed is part of the CLI's contract: scripts read it. Not thread-safe (stdout).
#ifndef TOKENLEDGER_CLI_OUTPUT_H_
#define TOKENLEDGER_CLI_OUTPUT_H_

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/message.h"

namespace tokenledger::cli {

// Name/value lines, the names padded to the longest.
using Rows = std::vector<std::pair<std::string, std::string>>;

void PrintRows(const Rows& rows);

// The message flattened into rows, `extra` after them, then a table per repeated message field.
// Fields of a top-level sub-message (e.g. the `account` of UpsertAccountResponse) are printed
// without prefix. In a table, a row's sub-message (e.g. a transfer's `usage`) gives a column per
// field, and an unset time (0) an empty cell: columns empty in every row are left out.
void PrintHuman(const google::protobuf::Message& m, const Rows& extra);

// One JSON object on a line; on failure "error: INTERNAL: ..." on stderr.
void PrintJson(const google::protobuf::Message& m);

}  // namespace tokenledger::cli

#endif  // TOKENLEDGER_CLI_OUTPUT_H_
