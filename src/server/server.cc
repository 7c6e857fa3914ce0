// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/server.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "obs/log.h"
#include "obs/process.h"
#include "postgres/pg_migrate.h"
#include "postgres/pg_store.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"

#ifndef TOKENLEDGER_VERSION
#define TOKENLEDGER_VERSION "dev"
#endif

namespace tokenledger {

namespace {

// How often holds whose journaling delay is over are written.
constexpr absl::Duration kHoldJournalTick = absl::Milliseconds(5);

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

std::string_view DaemonVersion() { return TOKENLEDGER_VERSION; }

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
  s->credentials_ = *std::move(credentials);
  obs::Log(spdlog::level::info, "starting",
           {{"version", DaemonVersion()},
            {"database", obs::RedactDatabaseUrl(config.database_url)},
            {"listen", config.listen},
            {"metrics_listen", config.metrics_listen}});
  if (absl::Status o = s->StartObservability(); !o.ok()) return o;
  if (absl::Status st = s->OpenStore(); !st.ok()) return st;
  const absl::Time load_start = absl::Now();
  // Ownership: claim the leases of every tenant nobody else holds, then load those tenants.
  LeaseOwner owner{
      .owner_id = OwnerId(config.node_id, config.listen),
      .address = config.advertise_address.empty() ? config.listen : config.advertise_address,
      .ttl = config.lease_ttl};
  if (absl::Status l = s->LoadLedger(owner); !l.ok()) return l;
  // The snapshot is gone: hand its memory back to the system rather than keep it in the heap.
  malloc_trim(0);
  const EngineStats loaded = s->ledger_->stats();
  spdlog::info("loaded {} tenants, {} accounts, {} open holds in {} ms", loaded.tenants,
               loaded.accounts, loaded.open_holds,
               absl::ToInt64Milliseconds(absl::Now() - load_start));
  s->RegisterStateMetrics();
  if (absl::Status g = s->StartGrpc(); !g.ok()) return g;
  if (config.advertise_address.empty()) {
    // Callers sent elsewhere need the port actually bound (the flag may say port 0).
    owner.address = absl::StrCat(config.listen.substr(0, config.listen.rfind(':')), ":", s->port_);
    s->leases()->EnableFencing(owner);
  }
  s->StartServing();
  return s;
}

absl::Status Server::StartObservability() {
  if (config_.clock_offset != absl::ZeroDuration()) {
    own_clock_ = std::make_unique<OffsetClock>(config_.clock_offset);
    clock_ = own_clock_.get();
    spdlog::warn("clock shifted by {} s (testing only)",
                 absl::ToInt64Seconds(config_.clock_offset));
  }
  obs::RegisterProcessMetrics(registry_, DaemonVersion());
  call_metrics_ = std::make_unique<CallMetrics>(registry_);
  RegisterWriterMetrics();
  // The endpoint comes first: /healthz answers (and /readyz says 503) while the cache loads.
  if (config_.metrics_listen.empty()) return absl::OkStatus();
  auto http = HttpEndpoint::Start(config_.metrics_listen, &registry_, [this] { return serving(); });
  if (!http.ok()) return http.status();
  http_ = std::move(*http);
  return absl::OkStatus();
}

absl::Status Server::OpenStore() {
  const std::string dir =
      config_.migrations_dir.empty() ? DefaultMigrationsDir() : config_.migrations_dir;
  if (absl::Status m = ApplyMigrations(config_.database_url, dir); !m.ok()) {
    return absl::Status(m.code(),
                        absl::StrCat("applying migrations from ", dir, ": ", m.message()));
  }
  absl::StatusOr<std::unique_ptr<PgStore>> store =
      PgStore::Open(config_.database_url, PgStoreOptions{});
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  return absl::OkStatus();
}

absl::Status Server::LoadLedger(const LeaseOwner& owner) {
  // The writer's waits (flush interval, retries) are in real time even when the ledger's clock is
  // shifted for a test.
  writer_ =
      std::make_unique<GroupCommitWriter>(ledger_store(), SystemClock::Default(), config_.writer);
  ledger_ = std::make_unique<Ledger>(writer_.get(), ledger_store(), clock_, config_.engine);
  leases()->EnableFencing(owner);
  ownership_ = std::make_unique<Ownership>(leases(), ledger_store(), ledger_.get(),
                                           OwnershipOptions{.ttl = config_.lease_ttl});
  return ownership_->Start();
}

void Server::StartServing() {
  sweeper_ = std::thread([this] { SweepLoop(); });
  grpc_->GetHealthCheckService()->SetServingStatus(true);
  serving_.store(true, std::memory_order_release);
  obs::Log(spdlog::level::info, "serving",
           {{"listen", config_.listen},
            {"transport", config_.tls_cert_file.empty()        ? "plaintext"
                          : config_.tls_client_ca_file.empty() ? "TLS"
                                                               : "mutual TLS"},
            {"port", absl::StrCat(port_), true},
            {"metrics_port", absl::StrCat(metrics_port()), true}});
}

LedgerStore* Server::ledger_store() const { return store_.get(); }

LeaseStore* Server::leases() const { return store_.get(); }

absl::Status Server::StartGrpc() {
  auth_ = std::make_unique<Authenticator>(ledger_.get(), config_.operator_key);
  ApiContext api{ledger_.get(), auth_.get(), call_metrics_.get(), [this] { return Stats(); }};
  api.serves = [o = ownership_.get()](const std::string& tenant) { return o->CheckServes(tenant); };
  api.inflight = &inflight_;
  api.inflight_max = static_cast<int64_t>(config_.max_inflight_calls);
  authorization_ = std::make_unique<AuthorizationServiceImpl>(api);
  budget_ = std::make_unique<BudgetServiceImpl>(api);
  admin_ = std::make_unique<AdminServiceImpl>(api);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, credentials_, &port_);
  builder.RegisterService(authorization_.get());
  builder.RegisterService(budget_.get());
  builder.RegisterService(admin_.get());
  builder.SetMaxReceiveMessageSize(4 << 20);
  // gRPC's default SO_REUSEPORT would let a second daemon bind the same address and take half of
  // the calls instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen));
  }
  return absl::OkStatus();
}

void Server::RegisterWriterMetrics() {
  obs::Histogram* sizes = &registry_
                               .AddHistogram("tokenledger_commit_batch_size",
                                             "Mutations per group-commit batch (one transaction).",
                                             {}, obs::ExponentialBuckets(1, 2, 13))
                               .WithLabels({});
  obs::Histogram* durations =
      &registry_
           .AddHistogram(
               "tokenledger_commit_duration_seconds",
               "Time to commit one batch, retries included, in seconds.", {},
               {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
           .WithLabels({});
  obs::Counter* failed =
      &registry_
           .AddCounter("tokenledger_commit_batches_failed_total",
                       "Batches that could not be committed (their calls failed, nothing of them "
                       "was recorded).")
           .WithLabels({});
  config_.writer.on_commit = [sizes, durations, failed](size_t n, absl::Duration took, bool ok) {
    sizes->Observe(static_cast<double>(n));
    durations->Observe(absl::ToDoubleSeconds(took));
    if (!ok) failed->Increment();
  };
}

void Server::RegisterStateMetrics() {
  registry_.AddCallbackGauge("tokenledger_write_queue_depth",
                             "Mutations queued for the group-commit writer.",
                             [this] { return static_cast<double>(writer_->stats().queue_depth); });
  registry_.AddCallbackGauge("tokenledger_cached_tenants", "Tenants held in memory.",
                             [this] { return static_cast<double>(ledger_->stats().tenants); });
  registry_.AddCallbackGauge("tokenledger_cached_accounts",
                             "Accounts held in memory (system accounts included).",
                             [this] { return static_cast<double>(ledger_->stats().accounts); });
  registry_.AddCallbackGauge("tokenledger_open_holds", "Holds open (reserved, not yet closed).",
                             [this] { return static_cast<double>(ledger_->stats().open_holds); });
  registry_.AddCallbackCounter(
      "tokenledger_resets_performed_total",
      "Period resets (one account, one period) committed by this process.",
      [this] { return static_cast<double>(ledger_->stats().resets_performed); });
  registry_.AddCallbackGauge("tokenledger_lease_owned_tenants",
                             "Tenants this daemon holds the lease of.",
                             [this] { return static_cast<double>(OwnedTenants()); });
}

int64_t Server::OwnedTenants() const { return ownership_ ? ownership_->owned() : 0; }

Server::~Server() { Shutdown(); }

ServerStats Server::Stats() const {
  ServerStats out;
  const WriterStats w = writer_->stats();
  out.writer =
      WriterStatsView{w.batches,           w.mutations,  w.failed_batches, w.commit_micros_total,
                      w.commit_micros_max, w.queue_depth};
  out.engine = ledger_->stats();
  out.resident_memory_bytes = obs::ResidentMemoryBytes();
  return out;
}

void Server::SweepLoop() {
  // Holds are journaled on a short tick (their delay is short); expiries and resets once per
  // sweep interval.
  const bool delayed = config_.engine.hold_journal_delay > absl::ZeroDuration();
  const absl::Duration tick = delayed ? std::min(config_.hold_sweep_interval, kHoldJournalTick)
                                      : config_.hold_sweep_interval;
  absl::Time next_sweep = absl::InfinitePast();
  do {
    if (delayed) ledger_->JournalHolds();
    if (absl::Now() < next_sweep) continue;
    next_sweep = absl::Now() + config_.hold_sweep_interval - tick / 2;
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
  } while (!stop_sweep_.WaitForNotificationWithTimeout(tick));
}

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  serving_.store(false, std::memory_order_release);  // /readyz: 503 from now on
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
  // Holds still in memory only are written before the writer stops: the next owner gets them.
  if (ledger_) {
    const int64_t n = ledger_->JournalHolds(/*all=*/true);
    if (n > 0) spdlog::info("journaled {} open holds before stopping", n);
  }
  if (writer_) writer_->Stop();  // commits what is queued
  // Everything is committed: another process may take the tenants over at once.
  if (ownership_) ownership_->Stop(/*release=*/true);
  if (grpc_) grpc_->Wait();
  if (http_) http_->Stop();
  spdlog::info("stopped");
}

}  // namespace tokenledger
