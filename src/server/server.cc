// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/server.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "spdlog/spdlog.h"
#include "store/pg_migrate.h"
#include "store/pg_store.h"

namespace tokenledger {
namespace {

// A lease owner is one process: the node's name plus a random incarnation. A new incarnation of
// a node takes its predecessor's leases over at once (the predecessor is gone: a node is one
// process at a time), with a new epoch. The default node name is host:port, which is that.
std::string OwnerId(const std::string& node_id, const std::string& listen) {
  std::string node = node_id;
  if (node.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    const std::string port = listen.substr(listen.rfind(':') + 1);
    node = port == "0" || port.empty() ? absl::StrCat(host, ":pid", getpid())
                                       : absl::StrCat(host, ":", port);
  }
  absl::BitGen gen;
  return absl::StrCat(node, "/", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  if (config.database_url.empty()) {
    return absl::InvalidArgumentError("--database-url (or TOKENLEDGER_DATABASE_URL) is required");
  }
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
  // Ownership: claim the leases of every tenant nobody else holds, then load those tenants.
  LeaseOwner owner{
      .owner_id = OwnerId(config.node_id, config.listen),
      .address = config.advertise_address.empty() ? config.listen : config.advertise_address,
      .ttl = config.lease_ttl};
  s->leases_ = static_cast<PgStore*>(s->store_.get());
  s->leases_->EnableFencing(owner);
  s->ownership_ = std::make_unique<Ownership>(s->leases_, s->store_.get(), s->ledger_.get(),
                                              OwnershipOptions{.ttl = config.lease_ttl});
  if (absl::Status o = s->ownership_->Start(); !o.ok()) return o;
  // The snapshot is gone: hand its memory back to the system rather than keep it in the heap.
  malloc_trim(0);
  const EngineStats loaded = s->ledger_->stats();
  spdlog::info("loaded {} tenants, {} accounts, {} open holds in {} ms", loaded.tenants,
               loaded.accounts, loaded.open_holds,
               absl::ToInt64Milliseconds(absl::Now() - load_start));

  s->auth_ = std::make_unique<Authenticator>(s->ledger_.get(), config.operator_key);
  ApiContext api{s->ledger_.get(), s->auth_.get(), &s->counters_,
                 [p = s.get()] { return p->Stats(); }};
  api.serves = [o = s->ownership_.get()](const std::string& tenant) {
    return o->CheckServes(tenant);
  };
  api.inflight = &s->inflight_;
  api.inflight_max = static_cast<int64_t>(config.max_inflight_calls);
  s->authorization_ = std::make_unique<AuthorizationServiceImpl>(api);
  s->budget_ = std::make_unique<BudgetServiceImpl>(api);
  s->admin_ = std::make_unique<AdminServiceImpl>(api);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->authorization_.get());
  builder.RegisterService(s->budget_.get());
  builder.RegisterService(s->admin_.get());
  builder.SetMaxReceiveMessageSize(4 << 20);
  s->grpc_ = builder.BuildAndStart();
  if (!s->grpc_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  if (config.advertise_address.empty()) {
    // Callers sent elsewhere need the port actually bound (the flag may say port 0).
    owner.address = absl::StrCat(config.listen.substr(0, config.listen.rfind(':')), ":", s->port_);
    s->leases_->EnableFencing(owner);
  }
  s->sweeper_ = std::thread([p = s.get()] { p->SweepLoop(); });
  s->grpc_->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("serving on {} (port {})", config.listen, s->port_);
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
  out.owned_tenants = ownership_ ? ownership_->owned() : 0;
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
  // Everything is committed: another process may take the tenants over at once.
  if (ownership_) ownership_->Stop(/*release=*/true);
  if (grpc_) grpc_->Wait();
  spdlog::info("stopped");
}

}  // namespace tokenledger
