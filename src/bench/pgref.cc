// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "bench/pgref.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "tokenledger/types.h"

namespace tokenledger::bench {
namespace {

constexpr int64_t kNaiveBalance = 1'000'000'000'000'000;

constexpr char kNaiveDebit[] = "bench_naive_debit";
constexpr char kNaiveDebitSql[] =
    "UPDATE bench_naive_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1";
constexpr char kNaiveEntry[] = "bench_naive_entry";
constexpr char kNaiveEntrySql[] =
    "INSERT INTO bench_naive_entries (account, amount) VALUES ($1, $2)";

absl::Status Exec(const std::string& url, const std::vector<std::string>& statements) {
  try {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    for (const auto& sql : statements) txn.exec(sql);
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The figures of one naive client thread.
struct NaiveThread {
  Histogram hist;
  uint64_t ok = 0, errors = 0, total_ok = 0, total_errors = 0;
  Clock::time_point last_done{};
  std::string first_error;
  std::map<int, uint64_t> codes;
};

// One naive debit of 1 on account `id`: a transaction of its own. False when it did not commit;
// *broken when the connection is gone (the client stops).
bool NaiveDebit(pqxx::connection& conn, int id, NaiveThread* me, bool* broken) {
  try {
    pqxx::work txn(conn);
    const pqxx::result r = txn.exec_prepared(kNaiveDebit, int64_t{1}, id);
    if (r.affected_rows() == 1) {
      txn.exec_prepared(kNaiveEntry, id, int64_t{1});
      txn.commit();
      return true;
    }
    txn.abort();
    if (me->first_error.empty()) me->first_error = "insufficient balance";
    ++me->codes[kDenied];
  } catch (const pqxx::broken_connection& e) {
    if (me->first_error.empty()) me->first_error = e.what();
    ++me->codes[static_cast<int>(grpc::StatusCode::UNAVAILABLE)];
    *broken = true;
  } catch (const std::exception& e) {
    if (me->first_error.empty()) me->first_error = e.what();
    ++me->codes[static_cast<int>(grpc::StatusCode::INTERNAL)];
  }
  return false;
}

}  // namespace

absl::Status NaiveCreate(const std::string& url, int accounts) {
  return Exec(
      url, {"DROP TABLE IF EXISTS bench_naive_entries", "DROP TABLE IF EXISTS bench_naive_accounts",
            "CREATE TABLE bench_naive_accounts (id int PRIMARY KEY, balance bigint)",
            "CREATE TABLE bench_naive_entries (id bigserial PRIMARY KEY, account int, "
            "amount bigint, created_at timestamptz DEFAULT now())",
            absl::StrCat("INSERT INTO bench_naive_accounts (id, balance) SELECT g, ", kNaiveBalance,
                         " FROM generate_series(1, ", accounts, ") g"),
            "ANALYZE bench_naive_accounts"});
}

absl::Status NaiveDrop(const std::string& url) {
  return Exec(url, {"DROP TABLE IF EXISTS bench_naive_entries",
                    "DROP TABLE IF EXISTS bench_naive_accounts"});
}

namespace {

// When a naive run's clients start and stop: written before `go` is notified, read after.
struct NaiveWindow {
  absl::Notification go;
  Clock::time_point measure_start, deadline;
};

// A naive client: connects, waits for `window->go`, then debits random accounts by 1, one
// transaction each, until the window's deadline (or its connection breaks).
void NaiveClient(const std::string& url, int accounts, uint64_t seed, int index,
                 std::atomic<int>* ready, const NaiveWindow* window, NaiveThread* me) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
    conn->prepare(kNaiveDebit, kNaiveDebitSql);
    conn->prepare(kNaiveEntry, kNaiveEntrySql);
  } catch (const std::exception& e) {
    me->first_error = e.what();
    conn.reset();
  }
  ready->fetch_add(1);
  window->go.WaitForNotification();
  if (conn == nullptr) {
    me->errors = me->total_errors = 1;
    me->codes[static_cast<int>(grpc::StatusCode::UNAVAILABLE)] = 1;
    return;
  }
  std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(index));
  for (;;) {
    const Clock::time_point t0 = Clock::now();
    if (t0 >= window->deadline) break;
    const int id = 1 + static_cast<int>(rng() % static_cast<uint64_t>(accounts));
    bool broken = false;
    const bool good = NaiveDebit(*conn, id, me, &broken);
    const Clock::time_point now = Clock::now();
    if (good) {
      ++me->total_ok;
    } else {
      ++me->total_errors;
    }
    if (t0 >= window->measure_start) {
      me->hist.Add(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count());
      if (good) {
        ++me->ok;
      } else {
        ++me->errors;
      }
      me->last_done = now;
    }
    if (broken) break;
  }
}

// The clients' figures as one run's.
void MergeNaive(const std::vector<NaiveThread>& per, Clock::time_point measure_start,
                RunResult* result) {
  Clock::time_point last = measure_start;
  for (const NaiveThread& t : per) {
    result->latency.Merge(t.hist);
    result->ok += t.ok;
    result->errors += t.errors;
    result->total_ok += t.total_ok;
    result->total_errors += t.total_errors;
    for (const auto& [code, n] : t.codes) result->error_codes[code] += n;
    if (result->first_error.empty()) result->first_error = t.first_error;
    last = std::max(last, t.last_done);
  }
  result->seconds = std::chrono::duration<double>(last - measure_start).count();
}

}  // namespace

RunResult NaiveRun(const std::string& url, int accounts, int threads, absl::Duration warmup,
                   absl::Duration duration, uint64_t seed) {
  RunResult result;
  result.name = "naive PostgreSQL debit";
  result.concurrency = threads;
  std::vector<NaiveThread> per(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  NaiveWindow window;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back(NaiveClient, std::cref(url), accounts, seed, i, &ready, &window,
                         &per[static_cast<size_t>(i)]);
  }
  // Every client connects first (bounded: a connect attempt fails within its own timeout).
  const auto wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ready.load() < threads && std::chrono::steady_clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const Clock::time_point start = Clock::now();
  window.measure_start =
      start + std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(warmup));
  window.deadline = window.measure_start + std::chrono::duration_cast<Clock::duration>(
                                               absl::ToChronoNanoseconds(duration));
  window.go.Notify();
  for (auto& w : workers) w.join();
  MergeNaive(per, window.measure_start, &result);
  return result;
}

namespace {

int64_t UnixMicrosNow() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs `insert` in one transaction on a connection of its own, then ANALYZEs `tables`: fresh
// statistics, as a long-running database would have (the daemon's load queries are planned with
// them). Returns the seconds taken; an error names `what`.
absl::StatusOr<double> BulkInsert(const std::string& url, absl::string_view what,
                                  absl::FunctionRef<void(pqxx::work&, int64_t now_us)> insert,
                                  std::initializer_list<const char*> tables) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    pqxx::connection conn(url);
    {
      pqxx::work txn(conn);
      insert(txn, UnixMicrosNow());
      txn.commit();
    }
    // Vacuumed as well as analyzed, as autovacuum would have done with rows that arrived over
    // time: else the daemon started next reads a million rows without their hint bits, while
    // autovacuum (its insert threshold passed) works through them on the same two cores.
    pqxx::nontransaction ntx(conn);
    for (const char* table : tables) ntx.exec(absl::StrCat("VACUUM ANALYZE ", table));
    try {
      ntx.exec("CHECKPOINT");  // the bulk load's WAL is not flushed while the daemon starts
    } catch (const pqxx::insufficient_privilege&) {
      // Not a superuser (nor pg_checkpoint): the checkpoint comes in its own time.
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("inserting ", what, ": ", e.what()));
  }
  return SecondsSince(t0);
}

// Leases `tenants` to an earlier incarnation of node `node`, so that the daemon started with
// --node-id `node` takes them over at once (a new incarnation of a node takes its leases) and no
// other daemon claims them meanwhile.
void LeaseTo(pqxx::work& txn, const std::vector<std::string>& tenants, const std::string& node) {
  for (const std::string& t : tenants) {
    txn.exec_params(
        "INSERT INTO tenant_leases (tenant_id, owner_id, owner_address, epoch, expires_at) "
        "VALUES ($1, $2 || '/bench', 'tokenledger-bench', 1, now() + interval '1 hour') "
        "ON CONFLICT (tenant_id) DO UPDATE SET owner_id = excluded.owner_id, "
        "owner_address = excluded.owner_address, epoch = tenant_leases.epoch + 1, "
        "expires_at = excluded.expires_at",
        t, node);
  }
}

// Inserts tenant `tenant_id` (timezone UTC, leased to node `lease_node`) and its system
// accounts. Returns the system accounts' ids as an SQL array literal.
std::string InsertTenantRows(pqxx::work& txn, const std::string& tenant_id,
                             const std::string& display_name, int64_t now_us,
                             const std::string& lease_node) {
  txn.exec_params(
      "INSERT INTO tenants (tenant_id, display_name, unit, timezone, created_at) "
      "VALUES ($1, $2, 'usd_micros', 'UTC', $3)",
      tenant_id, display_name, now_us);
  LeaseTo(txn, {tenant_id}, lease_node);
  std::vector<std::string> system;
  // txn.esc and StrCat, not txn.quote (the same text): GCC 12 at -O3 warns (-Wrestrict, a false
  // positive in libstdc++) about the operator+ inside libpqxx 6.4's quote.
  for (absl::string_view s : kSystemAccounts) {
    system.push_back(absl::StrCat("'", txn.esc(std::string(s)), "'"));
  }
  const std::string system_array = absl::StrCat("ARRAY[", absl::StrJoin(system, ","), "]::text[]");
  txn.exec_params(absl::StrCat("INSERT INTO accounts (tenant_id, account_id, display_name, "
                               "created_at) SELECT $1, s, s, $2 FROM unnest(",
                               system_array, ") s"),
                  tenant_id, now_us);
  return system_array;
}

}  // namespace

absl::Status LeaseTenantsTo(const std::string& url, const std::vector<std::string>& tenants,
                            const std::string& node) {
  try {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    LeaseTo(txn, tenants, node);
    txn.commit();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("leasing the tenants: ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> InsertBigTenant(const std::string& url, const std::string& tenant_id,
                                       int64_t accounts, const std::string& lease_node) {
  return BulkInsert(url, "the big tenant",
                    [&](pqxx::work& txn, int64_t now_us) {
                      InsertTenantRows(txn, tenant_id, "tokenledger-bench big tenant", now_us,
                                       lease_node);
                      // The fastest bulk path: rows generated inside the server, no client round
                      // trips.
                      txn.exec_params(
                          "INSERT INTO accounts (tenant_id, account_id, created_at) "
                          "SELECT $1, 'user-' || g, $2 FROM generate_series(1, $3::bigint) g",
                          tenant_id, now_us, accounts);
                      txn.exec_params(
                          "INSERT INTO balances (tenant_id, account_id) "
                          "SELECT tenant_id, account_id FROM accounts WHERE tenant_id = $1",
                          tenant_id);
                    },
                    {"tenants", "accounts", "balances"});
}

absl::StatusOr<double> InsertClosedHolds(const std::string& url, const std::string& tenant_id,
                                         int64_t holds) {
  if (holds <= 0) return absl::InvalidArgumentError("closed holds: count must be positive");
  return BulkInsert(
      url, "closed holds",
      [&](pqxx::work& txn, int64_t now_us) {
        // Each as a captured hold's row: its Authorize's answer and fingerprint, closed between
        // 30 minutes ago and now.
        txn.exec_params(
            "INSERT INTO holds (tenant_id, hold_id, account_id, amount, created_at, expires_at, "
            "status, idempotency_key, closed_at, fingerprint, response) "
            "SELECT $1, 'h_bench' || g, 'user-1', 1, c - 1000000, c + 599000000, 2, "
            "'bench-closed-' || g, c, g, convert_to('r1|h_bench' || g || '|1|999|' || "
            "(c + 599000000) || '|1|0|0|0', 'UTF8') "
            "FROM generate_series(1, $3::bigint) g, "
            "LATERAL (SELECT $2::bigint - (1800000000 * ($3 - g)) / $3 AS c) t",
            tenant_id, now_us, holds);
      },
      {"holds"});
}

absl::StatusOr<double> InsertResetTenant(const std::string& url, const std::string& tenant_id,
                                         int64_t accounts, int64_t previous_period_us,
                                         int64_t allocation, int64_t rollover_max,
                                         const std::string& lease_node) {
  if (accounts <= 0 || allocation <= 0 || rollover_max < 0 ||
      allocation > std::numeric_limits<int64_t>::max() / accounts) {
    return absl::InvalidArgumentError("resets tenant: accounts x allocation out of range");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now_us = UnixMicrosNow();
  // As DeleteTenantRows: a superuser skips the foreign-key checks (five per account here), which
  // is sound because every row they would check is inserted in this transaction, consistent.
  auto run = [&](bool skip_triggers) {
    pqxx::connection conn(url);
    {
      pqxx::work txn(conn);
      if (skip_triggers) txn.exec("SET LOCAL session_replication_role = replica");
      const std::string system_array =
          InsertTenantRows(txn, tenant_id, "tokenledger-bench resets tenant", now_us, lease_node);
      txn.exec_params(
          "INSERT INTO accounts (tenant_id, account_id, has_policy, monthly_allocation, "
          "rollover_max, created_at) "
          "SELECT $1, 'user-' || g, true, $2, $3, $4 FROM generate_series(1, $5::bigint) g",
          tenant_id, allocation, rollover_max, previous_period_us, accounts);
      // The previous period's reset of each account: its RESET_GRANT (kind 4) and periods row,
      // stamped alike (Reconcile pairs them by account and created_at).
      txn.exec_params(
          "INSERT INTO transfers (tenant_id, transfer_id, debit_account_id, credit_account_id, "
          "amount, kind, created_at, memo) "
          "SELECT $1, 'bench-prev-' || g, '@funding', 'user-' || g, $2, 4, $3, "
          "'tokenledger-bench: previous period' FROM generate_series(1, $4::bigint) g",
          tenant_id, allocation, previous_period_us, accounts);
      txn.exec_params(
          "INSERT INTO periods (tenant_id, account_id, period_start, carried, expired, granted, "
          "created_at) "
          "SELECT $1, 'user-' || g, $2, 0, 0, $3, $2 FROM generate_series(1, $4::bigint) g",
          tenant_id, previous_period_us, allocation, accounts);
      txn.exec_params(
          "INSERT INTO balances (tenant_id, account_id, credits, granted) "
          "SELECT $1, 'user-' || g, $2, $2 FROM generate_series(1, $3::bigint) g",
          tenant_id, allocation, accounts);
      txn.exec_params(absl::StrCat("INSERT INTO balances (tenant_id, account_id, debits) "
                                   "SELECT $1, s, CASE WHEN s = '@funding' THEN $2::bigint "
                                   "ELSE 0 END FROM unnest(",
                                   system_array, ") s"),
                      tenant_id, allocation * accounts);
      txn.commit();
    }
    pqxx::nontransaction ntx(conn);
    for (const char* table : {"tenants", "accounts", "balances", "transfers", "periods"}) {
      ntx.exec(absl::StrCat("ANALYZE ", table));
    }
  };
  try {
    try {
      run(/*skip_triggers=*/true);
    } catch (const pqxx::insufficient_privilege&) {
      run(/*skip_triggers=*/false);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("inserting the resets tenant: ", e.what()));
  }
  return SecondsSince(t0);
}

struct PeriodCounter::Impl {
  pqxx::connection conn;
  explicit Impl(const std::string& url) : conn(url) {}
};

PeriodCounter::PeriodCounter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PeriodCounter::~PeriodCounter() = default;

absl::StatusOr<std::unique_ptr<PeriodCounter>> PeriodCounter::Open(const std::string& url) {
  try {
    auto impl = std::make_unique<Impl>(url);
    impl->conn.prepare("bench_count_periods",
                       "SELECT count(*) FROM periods WHERE tenant_id = $1 AND period_start = $2");
    return std::unique_ptr<PeriodCounter>(new PeriodCounter(std::move(impl)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("periods counter: ", e.what()));
  }
}

absl::StatusOr<int64_t> PeriodCounter::Count(const std::string& tenant_id,
                                             int64_t period_start_us) {
  try {
    pqxx::nontransaction ntx(impl_->conn);
    const pqxx::result r = ntx.exec_prepared("bench_count_periods", tenant_id, period_start_us);
    return r.at(0).at(0).as<int64_t>();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("counting periods: ", e.what()));
  }
}

absl::StatusOr<double> DeleteTenantRows(const std::string& url, const std::string& tenant_id) {
  const auto t0 = std::chrono::steady_clock::now();
  // Children before parents: whatever the daemon may have written for the tenant, then its
  // balances, accounts, teams, keys and the tenant row. Each deleted account fires five
  // foreign-key checks (about 70 us together, over a minute for a million accounts); as a
  // superuser the checks are skipped (session_replication_role = replica), which is sound here
  // because every referencing row of the tenant goes in the same transaction and no daemon knows
  // the tenant. Without the privilege, the plain (slow) path.
  auto run = [&](bool skip_triggers) {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    if (skip_triggers) txn.exec("SET LOCAL session_replication_role = replica");
    // audit_events refuses DELETE through a trigger, which the replica role skips: without the
    // privilege the tenant's rows stay (the delete of the tenant row fails on them).
    for (const char* table :
         {"transfers", "holds", "hold_batches", "periods", "idempotency_keys", "balances",
          "accounts", "teams", "api_keys", "tenant_leases", "audit_events", "tenants"}) {
      txn.exec_params(absl::StrCat("DELETE FROM ", table, " WHERE tenant_id = $1"), tenant_id);
    }
    txn.commit();
  };
  try {
    try {
      run(/*skip_triggers=*/true);
    } catch (const pqxx::insufficient_privilege&) {
      run(/*skip_triggers=*/false);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("deleting tenant ", tenant_id, ": ", e.what()));
  }
  return SecondsSince(t0);
}

absl::StatusOr<double> VacuumLedgerTables(const std::string& url) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction ntx(conn);  // VACUUM cannot run in a transaction block
    ntx.exec(
        "VACUUM (ANALYZE) transfers, holds, hold_batches, periods, idempotency_keys, balances, "
        "accounts");
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("vacuuming: ", e.what()));
  }
  return SecondsSince(t0);
}

absl::StatusOr<HoldBatchesSize> HoldBatchesOf(const std::string& url,
                                              const std::string& tenant_id) {
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction ntx(conn);
    pqxx::row r = ntx.exec_params1(
        "SELECT count(*), coalesce(sum(octet_length(holds)), 0) FROM hold_batches "
        "WHERE tenant_id = $1",
        tenant_id);
    return HoldBatchesSize{r[0].as<int64_t>(), r[1].as<int64_t>()};
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("reading hold_batches: ", e.what()));
  }
}

}  // namespace tokenledger::bench
