// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore's connections and the mapping of libpqxx failures to absl::Status: PgConn (one
// connection), ClassifyCurrentException (the error mapping documented in pg_store.h), the
// connection string's session settings, and PgStore::WithReader (a read on a pooled
// connection, retried once on a fresh one when its connection broke). Internal to the pg_*
// files: it is where libpqxx exceptions stop.
//
// Thread-safety: a PgConn is used by one thread at a time (whoever took it from the pool or
// holds its writer slot); the functions here are otherwise pure.
#ifndef TOKENLEDGER_POSTGRES_PG_CONN_H_
#define TOKENLEDGER_POSTGRES_PG_CONN_H_

#include <bit>
#include <cstdint>
#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "postgres/pg_store.h"

namespace tokenledger {

// One connection. Members are destroyed in reverse order: the error handler before the
// connection it is registered with.
struct PgConn {
  explicit PgConn(const std::string& conninfo) : conn(conninfo), quiet(conn) {}
  pqxx::connection conn;
  // Server notices ("relation exists, skipping", ...) are not ours to print: the store does not
  // log. libpqxx would write them to stderr.
  pqxx::quiet_errorhandler quiet;
  // Set when a call found the connection unusable: it is dropped instead of reused.
  bool broken = false;
};

namespace pg_internal {

using Key = std::pair<std::string, std::string>;  // (tenant_id, id)

std::string Message(const std::exception& e);

// Whether an idle connection was closed by the server since its last use (a shutdown, a restart,
// a terminated backend): the server's last message and its end of stream then wait in the
// socket. Looked at without sending anything or blocking, so that a batch is never sent on such
// a connection, where its fate would be in doubt although the server cannot have run it.
bool ClosedByServer(const pqxx::connection& conn);

// What a caught exception means for the caller and for the connection.
struct Failure {
  absl::Status status;
  bool broken = false;  // the connection is unusable: drop it
};

// Classifies the exception being handled (call only inside a catch block). `at_commit`: the
// exception came from COMMIT, where a lost connection leaves the outcome unknown; before COMMIT,
// a lost connection means the server rolled the transaction back.
Failure ClassifyCurrentException(bool at_commit);

// Appends libpq connection parameters to a URI (postgresql://...) or to a key=value conninfo.
// Later parameters override earlier ones in both forms.
std::string WithConnParams(const std::string& url,
                           const std::vector<std::pair<std::string, std::string>>& params);

inline int64_t ToInt64(uint64_t v) { return std::bit_cast<int64_t>(v); }
inline uint64_t ToUint64(int64_t v) { return std::bit_cast<uint64_t>(v); }

}  // namespace pg_internal

template <typename T, typename Fn>
absl::StatusOr<T> PgStore::WithReader(Fn&& fn) {
  absl::Status last = absl::UnavailableError("database unavailable");
  // A second attempt only after a broken connection: reads are safe to repeat.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<PgConn>> conn = AcquireReader();
    if (!conn.ok()) return conn.status();
    pg_internal::Failure failure;
    try {
      absl::StatusOr<T> result = fn((*conn)->conn);
      ReleaseReader(std::move(*conn));
      return result;
    } catch (...) {
      failure = pg_internal::ClassifyCurrentException(false);
    }
    (*conn)->broken = failure.broken || !(*conn)->conn.is_open();
    const bool retry = (*conn)->broken;
    ReleaseReader(std::move(*conn));
    if (!retry) return failure.status;
    last = failure.status;
  }
  return last;
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_CONN_H_
