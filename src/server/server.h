// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's wiring: store, writer, engine, gRPC services, health, reflection, the scheduler
// that expires holds, and the HTTP endpoint of metrics and health. main() loads ServerConfig
// (server/config.h: flags, environment, config file) and runs a Server.
#ifndef TOKENLEDGER_SERVER_SERVER_H_
#define TOKENLEDGER_SERVER_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "api/auth.h"
#include "api/services.h"
#include "grpcpp/grpcpp.h"
#include "ledger/engine.h"
#include "obs/metrics.h"
#include "server/metrics_http.h"
#include "server/ownership.h"
#include "store/group_commit.h"
#include "tokenledger/clock.h"
#include "tokenledger/lease.h"
#include "tokenledger/store.h"

namespace tokenledger {

class PgStore;  // store/pg_store.h

struct ServerConfig {
  std::string listen = "127.0.0.1:7443";
  std::string database_url;
  std::string migrations_dir;  // empty: the source tree's migrations/
  std::string operator_key;    // empty: no operator access
  absl::Duration hold_sweep_interval = absl::Seconds(1);
  absl::Duration drain_timeout = absl::Seconds(30);
  absl::Duration clock_offset;         // testing only: shifts the daemon's clock
  size_t resets_per_tick_max = 10000;  // accounts the scheduler resets per sweep interval

  // Observability (issue 6). Empty metrics_listen: no HTTP endpoint.
  std::string metrics_listen = "127.0.0.1:9464";
  std::string log_format = "text";  // "text" or "json"
  std::string log_level = "info";   // trace, debug, info, warn, error

  // TLS (issue 5). All empty: plaintext. cert+key: TLS. Plus client_ca: mutual TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  // Ownership (issue 5): tenants are served under a lease with a fencing epoch.
  std::string node_id;            // empty: host:port (host:pid when the port is 0)
  std::string advertise_address;  // told to callers of tenants served elsewhere; empty: listen
  absl::Duration lease_ttl = absl::Seconds(5);

  // Overload (issue 5): calls admitted at once; past it RESOURCE_EXHAUSTED.
  size_t max_inflight_calls = 20000;
  WriterOptions writer;
  EngineOptions engine;
};

// The daemon's version (the CMake project's).
std::string_view DaemonVersion();

class Server {
 public:
  // Applies migrations, opens the store, loads the cache, starts the writer and gRPC.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();

  // The port bound (useful with port 0).
  int port() const { return port_; }
  // The metrics endpoint's port (0 when metrics_listen is empty).
  int metrics_port() const { return http_ ? http_->port() : 0; }
  // Whether the gRPC server takes calls: after start-up, before the drain (/readyz).
  bool serving() const { return serving_.load(std::memory_order_acquire); }

  // Stops taking calls, lets the calls in flight finish, commits everything queued, stops.
  void Shutdown();

  ServerStats Stats() const;
  const obs::Registry& metrics() const { return registry_; }
  Ledger& ledger() { return *ledger_; }
  GroupCommitWriter& writer() { return *writer_; }

 private:
  Server() = default;
  // The steps of Start, in order. The clock, the process and call metrics, and the HTTP
  // endpoint (so that /healthz answers while the cache loads).
  absl::Status StartObservability();
  // Applies the migrations and opens the store.
  absl::Status OpenStore();
  // The writer and the engine; then fences writes with `owner`'s epochs, claims the leases of
  // the tenants nobody holds and loads those tenants.
  absl::Status LoadLedger(const LeaseOwner& owner);
  // The sweeper, the health status and /readyz: calls are welcome from now on.
  void StartServing();
  // The store as each of its users sees it.
  LedgerStore* ledger_store() const;
  LeaseStore* leases() const;
  void SweepLoop();
  // The metrics of the writer (before it starts: its options take the commit hook).
  void RegisterWriterMetrics();
  // The metrics read from the engine and the writer at scrape time.
  void RegisterStateMetrics();
  absl::Status StartGrpc();
  // The tenants this daemon holds the lease of (and serves).
  int64_t OwnedTenants() const;

  std::unique_ptr<Clock> own_clock_;
  const Clock* clock_ = SystemClock::Default();
  ServerConfig config_;
  // Declared before what it observes, so that it is destroyed after it.
  obs::Registry registry_;
  std::unique_ptr<CallMetrics> call_metrics_;
  std::atomic<bool> serving_{false};
  // The PostgreSQL store is both the ledger's store and the lease keeper: it is kept as what it
  // is, and each user is handed the interface it needs.
  std::unique_ptr<PgStore> store_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Ownership> ownership_;
  std::atomic<int64_t> inflight_{0};  // calls admitted and not finished
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<AuthorizationServiceImpl> authorization_;
  std::unique_ptr<BudgetServiceImpl> budget_;
  std::unique_ptr<AdminServiceImpl> admin_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;  // plaintext, TLS or mutual TLS
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;
  absl::Notification stop_sweep_;
  std::thread sweeper_;
  bool shut_down_ = false;
  // Last: destroyed first, as its callbacks read everything above.
  std::unique_ptr<HttpEndpoint> http_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_SERVER_SERVER_H_
