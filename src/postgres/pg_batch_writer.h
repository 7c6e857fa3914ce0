// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The batch writer: what one PgStore::Commit sends for a batch of mutations, as named steps in
// the order they run (idempotency keys; then tenants, accounts and their balance rows, teams, API
// keys, prices, dropped hold segments, open holds, closed holds, periods, transfers, balance
// deltas, audit events; last the batch id and the occasional prune). Rows written more than once in
// a batch are merged first as sequential writes would leave them (one statement cannot touch a row
// twice). The fencing check and the transaction are the caller's (pg_commit.cc).
//
// Errors: libpqxx exceptions pass through to the caller, which maps them (pg_conn.h); a returned
// Status is kUnavailable (an idempotency key vanished meanwhile: retry) or kInternal (a balance
// delta out of range, a hold of a negative amount). Not thread-safe: one BatchRunner per commit
// attempt.
#ifndef TOKENLEDGER_POSTGRES_PG_BATCH_WRITER_H_
#define TOKENLEDGER_POSTGRES_PG_BATCH_WRITER_H_

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "postgres/pg_encode.h"
#include "tokenledger/store.h"

namespace tokenledger {
namespace pg_internal {

// Where a batch's statements go. In a transaction, each prepared statement runs at once (one
// round trip each). Collecting, each becomes "EXECUTE name(literals);" in one query string, which
// the server runs as one implicit transaction and commits before it answers: the whole batch in
// one round trip.
class BatchRunner {
 public:
  explicit BatchRunner(pqxx::work& txn) : txn_(&txn) {}
  BatchRunner() = default;

  bool collecting() const { return txn_ == nullptr; }

  template <typename... Args>
  void Exec0(const char* name, const Args&... args) {
    if (txn_ != nullptr) {
      txn_->exec_prepared0(name, args...);
      return;
    }
    absl::StrAppend(&sql_, "EXECUTE ", name, "(");
    const char* sep = "";
    ((sql_ += sep, AppendArg(args), sep = ","), ...);
    sql_ += ");\n";
  }

  // `text` as a string constant: E'...' with backslashes and quotes doubled, whatever the
  // session's standard_conforming_strings (the text holds no NUL: CheckStorableText).
  void AppendLiteral(absl::string_view text) {
    sql_ += "E'";
    for (char c : text) {
      if (c == '\\' || c == '\'') sql_ += c;
      sql_ += c;
    }
    sql_ += '\'';
  }

  template <typename T>
  void AppendArg(const T& arg) {
    if constexpr (std::is_convertible_v<const T&, absl::string_view>) {
      AppendLiteral(arg);  // the array literals, without a copy
    } else {
      AppendLiteral(pqxx::to_string(arg));
    }
  }

  // Only in a transaction: a statement whose rows the caller reads.
  template <typename... Args>
  pqxx::result Exec(const char* name, const Args&... args) {
    return txn_->exec_prepared(name, args...);
  }

  void Append(absl::string_view text) { sql_.append(text.data(), text.size()); }
  std::string& sql() { return sql_; }

 private:
  pqxx::work* txn_ = nullptr;
  std::string sql_;
};

// The audit_events columns of a batch, one array each.
struct AuditColumns {
  ArrayLiteral tenant_id, actor, action, target, detail, created_at;
  void Add(const AuditRecord& a);
  // Runs kInsertAudit with the columns (consumed).
  void Insert(BatchRunner& run) &&;
};

// What a commit prunes now and then: batch ids older than `batch_ids_keep`, and hold batch rows
// whose every hold expired before `hold_batches_expired_before_us`.
struct Prune {
  absl::Duration batch_ids_keep;
  int64_t hold_batches_expired_before_us = 0;
};

// Writes the batch through `run` (not committed here) and fills `outcomes`, one per mutation.
absl::Status WriteBatch(BatchRunner& run, absl::Span<const Mutation* const> batch,
                        uint64_t batch_id, std::optional<Prune> prune,
                        std::vector<MutationOutcome>& outcomes);

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_BATCH_WRITER_H_
