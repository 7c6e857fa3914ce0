// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/server.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"
#include "store/pg_migrate.h"
#include "store/pg_store.h"

namespace tokenledger {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  if (config.database_url.empty()) {
    return absl::InvalidArgumentError("--database-url (or TOKENLEDGER_DATABASE_URL) is required");
  }
  // Transport security first: a bad certificate stops the start before the database is touched.
  auto credentials = MakeServerCredentials(
      TlsFiles{config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file});
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<Server> s(new Server());
  s->config_ = config;
  if (config.clock_offset != absl::ZeroDuration()) {
    s->own_clock_ = std::make_unique<OffsetClock>(config.clock_offset);
    s->clock_ = s->own_clock_.get();
    spdlog::warn("clock shifted by {} s (testing only)", absl::ToInt64Seconds(config.clock_offset));
  }
  const std::string dir =
      config.migrations_dir.empty() ? DefaultMigrationsDir() : config.migrations_dir;
  if (absl::Status m = ApplyMigrations(config.database_url, dir); !m.ok()) {
    return absl::Status(m.code(),
                        absl::StrCat("applying migrations from ", dir, ": ", m.message()));
  }
  auto store = PgStore::Open(config.database_url, PgStoreOptions{});
  if (!store.ok()) return store.status();
  s->store_ = std::move(*store);
  const absl::Time load_start = absl::Now();
  // The writer's waits (flush interval, retries) are in real time even when the ledger's clock is
  // shifted for a test.
  s->writer_ =
      std::make_unique<GroupCommitWriter>(s->store_.get(), SystemClock::Default(), config.writer);
  s->ledger_ =
      std::make_unique<Ledger>(s->writer_.get(), s->store_.get(), s->clock_, config.engine);
  {
    auto snapshot = s->store_->Load();
    if (!snapshot.ok()) return snapshot.status();
    if (absl::Status l = s->ledger_->Load(*snapshot); !l.ok()) return l;
  }
  // The snapshot is gone: hand its memory back to the system rather than keep it in the heap.
  malloc_trim(0);
  const EngineStats loaded = s->ledger_->stats();
  spdlog::info("loaded {} tenants, {} accounts, {} open holds in {} ms", loaded.tenants,
               loaded.accounts, loaded.open_holds,
               absl::ToInt64Milliseconds(absl::Now() - load_start));

  s->auth_ = std::make_unique<Authenticator>(s->ledger_.get(), config.operator_key);
  ApiContext api{s->ledger_.get(), s->auth_.get(), &s->counters_,
                 [p = s.get()] { return p->Stats(); }};
  s->authorization_ = std::make_unique<AuthorizationServiceImpl>(api);
  s->budget_ = std::make_unique<BudgetServiceImpl>(api);
  s->admin_ = std::make_unique<AdminServiceImpl>(api);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &s->port_);
  builder.RegisterService(s->authorization_.get());
  builder.RegisterService(s->budget_.get());
  builder.RegisterService(s->admin_.get());
  builder.SetMaxReceiveMessageSize(4 << 20);
  s->grpc_ = builder.BuildAndStart();
  if (!s->grpc_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  s->sweeper_ = std::thread([p = s.get()] { p->SweepLoop(); });
  s->grpc_->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("serving on {} (port {}, {})", config.listen, s->port_,
               config.tls_cert_file.empty()        ? "plaintext"
               : config.tls_client_ca_file.empty() ? "TLS"
                                                   : "mutual TLS");
  return s;
}

Server::~Server() { Shutdown(); }

ServerStats Server::Stats() const {
  ServerStats out;
  const WriterStats w = writer_->stats();
  out.writer =
      WriterStatsView{w.batches,           w.mutations,  w.failed_batches, w.commit_micros_total,
                      w.commit_micros_max, w.queue_depth};
  out.engine = ledger_->stats();
  // Resident set size from /proc (Linux): pages in the second field of statm.
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2) {
      out.resident_memory_bytes = static_cast<uint64_t>(resident) * sysconf(_SC_PAGESIZE);
    }
    std::fclose(f);
  }
  return out;
}

void Server::SweepLoop() {
  do {
    const int64_t expired = ledger_->ExpireHolds();
    if (expired > 0) spdlog::debug("expired {} holds", expired);
    // Period resets due now (at start: the catch-up after downtime). Cheap when none are due.
    ledger_->RunResets(
        "", clock_->Now(),
        [](absl::StatusOr<int64_t> n) {
          if (n.ok() && *n > 0) spdlog::info("performed {} period resets", *n);
          if (!n.ok()) spdlog::warn("period resets: {}", std::string(n.status().message()));
        },
        config_.resets_per_tick_max);
  } while (!stop_sweep_.WaitForNotificationWithTimeout(config_.hold_sweep_interval));
}

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc_) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    // Refuses new calls and waits (up to the deadline) for those in flight; their durable
    // writes are still being committed by the writer meanwhile.
    grpc_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(config_.drain_timeout));
  }
  if (sweeper_.joinable()) {
    stop_sweep_.Notify();
    sweeper_.join();
  }
  if (writer_) writer_->Stop();  // commits what is queued
  if (grpc_) grpc_->Wait();
  spdlog::info("stopped");
}

}  // namespace tokenledger
