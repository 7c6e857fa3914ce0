// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore's construction and connections: Open (session settings, the first writer
// connection), Connect (prepares the writer's statements) and the read connections' pool. The
// rest of PgStore is in pg_commit.cc (writes), pg_load.cc, pg_reads.cc and pg_leases.cc.
#include "postgres/pg_store.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "postgres/pg_conn.h"
#include "postgres/pg_sql_writer.h"

namespace tokenledger {

PgStore::PgStore(std::string url, PgStoreOptions options)
    : url_(std::move(url)), options_(std::move(options)) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& url,
                                                       PgStoreOptions options) {
  options.read_pool_size = std::max(options.read_pool_size, 1);
  options.prune_every = std::max(options.prune_every, 1);
  options.idempotency_load_max = std::max<int64_t>(options.idempotency_load_max, 0);
  // Session settings travel in the connection string, so that they hold on every connection,
  // including one libpqxx reopens by itself.
  std::vector<std::pair<std::string, std::string>> params;
  if (!options.application_name.empty()) {
    params.emplace_back("application_name", options.application_name);
  }
  // An acknowledged Debit must survive a crash of the database: never relax durability, even
  // if the server or database default says otherwise.
  std::string server_options = "-c synchronous_commit=on";
  if (options.statement_timeout > absl::ZeroDuration()) {
    absl::StrAppend(&server_options,
                    " -c statement_timeout=", absl::ToInt64Milliseconds(options.statement_timeout));
  }
  if (!options.search_path.empty()) {
    absl::StrAppend(&server_options, " -c search_path=", options.search_path);
  }
  params.emplace_back("options", server_options);
  // libpq waits forever for a connection by default; an unreachable database must surface as
  // kUnavailable in bounded time.
  if (url.find("connect_timeout") == std::string::npos) {
    params.emplace_back("connect_timeout", "5");
  }
  std::unique_ptr<PgStore> store(
      new PgStore(pg_internal::WithConnParams(url, params), std::move(options)));
  const int writers = std::max(1, store->options_.writer_connections);
  {
    absl::MutexLock lock(&store->writer_mu_);
    store->writers_.resize(static_cast<size_t>(writers));
    store->writer_busy_.assign(static_cast<size_t>(writers), false);
  }
  // The first writer connection is opened at once: an unreachable database fails Open.
  absl::StatusOr<std::unique_ptr<PgConn>> conn = store->Connect(/*writer=*/true);
  if (!conn.ok()) return conn.status();
  store->writers_[0] = std::move(*conn);
  return store;
}

absl::StatusOr<std::unique_ptr<PgConn>> PgStore::Connect(bool writer) {
  try {
    auto conn = std::make_unique<PgConn>(url_);
    if (writer) {
      // Prepared now rather than on first use, so that a missing schema fails Open.
      for (const auto& [name, sql] : pg_internal::kWriterStatements) {
        conn->conn.prepare(name, sql);
        conn->conn.prepare_now(name);
      }
    }
    return conn;
  } catch (...) {
    return pg_internal::ClassifyCurrentException(false).status;
  }
}

absl::StatusOr<std::unique_ptr<PgConn>> PgStore::AcquireReader() {
  {
    absl::MutexLock lock(&pool_mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_.empty() || readers_open_ < options_.read_pool_size;
    };
    if (!pool_mu_.AwaitWithTimeout(absl::Condition(&ready), options_.pool_wait)) {
      return absl::UnavailableError("no free database connection for reading");
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConn> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++readers_open_;  // the place is taken; the connection is opened outside the lock
  }
  absl::StatusOr<std::unique_ptr<PgConn>> conn = Connect(/*writer=*/false);
  if (!conn.ok()) {
    absl::MutexLock lock(&pool_mu_);
    --readers_open_;
  }
  return conn;
}

void PgStore::ReleaseReader(std::unique_ptr<PgConn> conn) {
  std::vector<std::unique_ptr<PgConn>> dropped;  // closed outside the lock
  {
    absl::MutexLock lock(&pool_mu_);
    if (conn != nullptr && !conn->broken && conn->conn.is_open()) {
      idle_.push_back(std::move(conn));
      return;
    }
    --readers_open_;
    if (conn != nullptr) {
      // One connection broke: the idle ones most likely did too (a database restart). Drop
      // them, so that the retry gets a fresh connection rather than another stale one.
      readers_open_ -= static_cast<int>(idle_.size());
      dropped = std::move(idle_);
      idle_.clear();
    }
    dropped.push_back(std::move(conn));
  }
}

}  // namespace tokenledger
