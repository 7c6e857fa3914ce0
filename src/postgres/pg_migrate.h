// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The schema migration runner. Migrations are files NNNN_name.sql in one directory, applied in
// the order of their number, each once, each in its own transaction together with its row in
// schema_migrations. Safe to run from several processes at once (an advisory lock serializes
// them) and to run again (applied migrations are skipped).
#ifndef TOKENLEDGER_POSTGRES_PG_MIGRATE_H_
#define TOKENLEDGER_POSTGRES_PG_MIGRATE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tokenledger {

// Applies every migration of `dir` not yet recorded in the database at `url`. When `applied` is
// not null, the file names applied by this call are appended to it (the store does not log:
// the caller reports them). Errors: kUnavailable when the database cannot be reached,
// kInvalidArgument for a bad migrations directory (unreadable, two files with one number),
// kInternal with the file name and the server's message when a migration fails (that migration
// is rolled back; the ones before it stay applied).
absl::Status ApplyMigrations(const std::string& url, const std::string& dir,
                             std::vector<std::string>* applied = nullptr);

// The migrations directory of the source tree this binary was built from.
std::string DefaultMigrationsDir();

}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_MIGRATE_H_
