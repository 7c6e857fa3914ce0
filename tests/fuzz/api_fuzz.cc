// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledger_fuzz_api: libFuzzer drives the real gRPC services (AuthorizationService,
// BudgetService, AdminService) over an in-process channel, so that every request is decoded and
// validated exactly as in production, on the engine with the in-memory store and the real
// group-commit writer.
//
// An input is a sequence of at most kCallsMax calls, each:
//   byte 0  the method: one of the 19 RPCs, in the order of the services' descriptors
//   byte 1  the key: operator, admin, hr, gateway, auditor, none, garbage, revoked (mod 8)
//   byte 2  a structured change (Mutate), applied when the body parses as the method's request
//   byte 3, 4  the change's selectors
//   byte 5  the body's length (255: the rest of the input)
//   then the body: the request's bytes, whatever they are
// Each input runs in a tenant of its own (made in bulk on the engine when a fixture starts) with
// accounts alice (funded, with a policy and a team) and bob, an open hold of alice, one key of
// each role and a revoked key.
//
// After each call: the status is one that docs/api.md allows for it (INVALID_ARGUMENT naming a
// field of the request, UNAUTHENTICATED exactly for a bad key, PERMISSION_DENIED for a role the
// method does not allow); a call that failed or only reads changed no balance, hold or transfer.
// After each input: Reconcile through the API finds the ledger sum 0 and no mismatch. A violation
// aborts with a description, which libFuzzer reports as a crash with the input. With env
// TOKENLEDGER_FUZZ_VERBOSE set, every call and its answer is printed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "api/auth.h"
#include "api/services.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/grpcpp.h"
#include "ledger/engine.h"
#include "spdlog/spdlog.h"
#include "store/group_commit.h"
#include "support/raw_call.h"
#include "testing/memory_store.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger {
namespace {

namespace pb = ::google::protobuf;

constexpr size_t kCallsMax = 8;
constexpr size_t kHeaderBytes = 6;
// Inputs per fixture: each has a tenant of its own (about 1 MB of cache); then the fixture is
// made anew.
constexpr int kTenantsPerFixture = 200;
constexpr char kOperatorKey[] = "tlo_fuzz_operator_key_0123456789abcdef";

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "tokenledger_fuzz_api: invariant violated: %s\n", what.c_str());
  std::abort();
}

// One RPC: its path, request type and Method.
struct Rpc {
  std::string path;
  const pb::Descriptor* request;
  Method method;
  bool mutating;
};

std::vector<Rpc> AllRpcs() {
  const std::set<std::string> read_only = {"Check",     "GetBalance",     "ListTransfers",
                                           "Reconcile", "GetServerStats", "ListAuditEvents",
                                           "ListPrices"};
  std::vector<Rpc> out;
  for (const char* name :
       {v1::AuthorizationService::service_full_name(), v1::BudgetService::service_full_name(),
        v1::AdminService::service_full_name()}) {
    const pb::ServiceDescriptor* s = pb::DescriptorPool::generated_pool()->FindServiceByName(name);
    for (int i = 0; i < s->method_count(); ++i) {
      const pb::MethodDescriptor* m = s->method(i);
      Method method = Method::kAuthorize;
      for (int k = 0; k <= static_cast<int>(Method::kListPrices); ++k) {
        if (MethodName(static_cast<Method>(k)) == m->name()) method = static_cast<Method>(k);
      }
      out.push_back(Rpc{absl::StrCat("/", s->full_name(), "/", m->name()), m->input_type(), method,
                        read_only.count(m->name()) == 0});
    }
  }
  if (out.size() != 19) Violation("expected 19 RPCs");
  return out;
}

// Names of every field of `type` and of the messages inside it.
std::set<std::string> FieldNames(const pb::Descriptor* type) {
  std::set<std::string> names = {"request"};
  std::vector<const pb::Descriptor*> work = {type};
  for (size_t i = 0; i < work.size() && i < 32; ++i) {
    for (int f = 0; f < work[i]->field_count(); ++f) {
      names.insert(work[i]->field(f)->name());
      if (work[i]->field(f)->message_type() != nullptr) {
        work.push_back(work[i]->field(f)->message_type());
      }
    }
  }
  return names;
}

// ---- the server under test ----------------------------------------------------------------------

// The tenant of one input.
struct Tenant {
  std::string id;
  std::string keys[8];  // by key selector; [5] none, [6] garbage, [7] revoked
  std::string revoked_key_id;
  std::string hold_id;
};

struct Fixture {
  Fixture()
      : clock(absl::FromCivil(absl::CivilSecond(2026, 3, 15, 12, 0, 0), absl::UTCTimeZone())),
        writer(&store, SystemClock::Default(), WriterOptions{}),
        ledger(&writer, &store, &clock, EngineOptions{}),
        auth(&ledger, kOperatorKey),
        metrics(registry),
        api{&ledger, &auth, &metrics, [] { return ServerStats{}; }},
        authorization(api),
        budget(api),
        admin(api) {
    auto snapshot = store.Load();
    if (!snapshot.ok() || !ledger.Load(*snapshot).ok()) Violation("cannot load the store");
    grpc::ServerBuilder builder;
    builder.RegisterService(&authorization);
    builder.RegisterService(&budget);
    builder.RegisterService(&admin);
    builder.SetMaxReceiveMessageSize(4 << 20);  // as the daemon
    server = builder.BuildAndStart();
    channel = server->InProcessChannel(grpc::ChannelArguments());
  }
  ~Fixture() {
    server->Shutdown();
    writer.Stop();
  }

  ManualClock clock;
  MemoryStore store;
  GroupCommitWriter writer;
  Ledger ledger;
  Authenticator auth;
  obs::Registry registry;
  CallMetrics metrics;
  ApiContext api;
  AuthorizationServiceImpl authorization;
  BudgetServiceImpl budget;
  AdminServiceImpl admin;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::vector<Tenant> tenants;
  size_t next_tenant = 0;
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& key) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

// Starts `n` engine calls at once (`start(i, done)`) and waits for every answer. Together they
// share the writer's commits, which keeps a fixture's setup cheap.
void ForAll(int n, const char* what, absl::FunctionRef<void(int, ResultCallback)> start) {
  absl::BlockingCounter pending(n);
  absl::Mutex mu;
  std::string error;
  for (int i = 0; i < n; ++i) {
    start(i, [&, what](absl::StatusOr<OpResult> r) {
      if (!r.ok()) {
        absl::MutexLock lock(&mu);
        error = absl::StrCat(what, ": ", r.status().ToString());
      }
      pending.DecrementCount();
    });
  }
  pending.Wait();
  if (!error.empty()) Violation(absl::StrCat("setup: ", error));
}

IdemArgs SetupKey(const std::string& key) { return IdemArgs{key, 1}; }

// The keys of each tenant: admin, hr, gateway, auditor, and an hr key that is then revoked.
void MakeKeys(Ledger& ledger, std::vector<Tenant>& tenants) {
  const Role roles[] = {Role::kAdmin, Role::kHr, Role::kGateway, Role::kAuditor, Role::kHr};
  ForAll(static_cast<int>(tenants.size()) * 5, "CreateApiKey", [&](int i, ResultCallback done) {
    Tenant& t = tenants[i / 5];
    const std::string secret = NewApiKeySecret();
    ApiKeyRecord key{.key_id = NewApiKeyId(),
                     .tenant_id = t.id,
                     .role = roles[i % 5],
                     .key_hash = HashApiKey(secret)};
    t.keys[i % 5 < 4 ? i % 5 + 1 : 7] = secret;
    if (i % 5 == 4) t.revoked_key_id = key.key_id;
    ledger.CreateApiKey("", key, SetupKey(absl::StrCat("setup-", key.key_id)), std::move(done));
  });
  ForAll(static_cast<int>(tenants.size()), "RevokeApiKey", [&](int i, ResultCallback done) {
    ledger.RevokeApiKey("", tenants[i].revoked_key_id,
                        SetupKey(absl::StrCat("setup-revoke-", tenants[i].id)), std::move(done));
  });
}

// Accounts alice (funded, with a policy and the team "search") and bob, and a hold of alice.
void MakeAccounts(Ledger& ledger, std::vector<Tenant>& tenants) {
  const int n = static_cast<int>(tenants.size());
  ForAll(n, "UpsertTeam", [&](int i, ResultCallback done) {
    ledger.UpsertTeam(tenants[i].id, TeamRecord{.team_id = "search", .monthly_cap = 5'000'000},
                      SetupKey("setup-team"), std::move(done));
  });
  ForAll(2 * n, "UpsertAccount", [&](int i, ResultCallback done) {
    AccountRecord a{.account_id = i % 2 == 0 ? "alice" : "bob"};
    if (i % 2 == 0) {
      a.team_id = "search";
      a.policy = Policy{.monthly_allocation = 500'000,
                        .rollover_max = 100'000,
                        .daily_limit = 300'000,
                        .overdraft_limit = 1'000};
    }
    ledger.UpsertAccount(tenants[i / 2].id, a, SetupKey("setup-" + a.account_id), std::move(done));
  });
  ForAll(n, "Grant", [&](int i, ResultCallback done) {
    ledger.Grant(tenants[i].id, "alice", 1'000'000, "", SetupKey("setup-grant"), std::move(done));
  });
  for (Tenant& t : tenants) {
    auto hold = ledger.Authorize(t.id, AuthorizeArgs{.account_id = "alice", .amount = 1'000},
                                 SetupKey("setup-hold"));
    if (!hold.ok()) Violation(absl::StrCat("setup: Authorize: ", hold.status().ToString()));
    t.hold_id = hold->id;
  }
}

// The tenants of a fixture's inputs, made on the engine (the API's own paths are what the inputs
// exercise).
std::vector<Tenant> MakeTenants(Ledger& ledger, int n) {
  static int generation = 0;
  ++generation;
  std::vector<Tenant> tenants(n);
  for (int i = 0; i < n; ++i) {
    tenants[i].id = absl::StrCat("fuzz-", generation, "-", i);
    tenants[i].keys[0] = kOperatorKey;
    tenants[i].keys[6] = "tlk_0000000000000000000000000000000000000000000000000000000000000000";
  }
  ForAll(n, "CreateTenant", [&](int i, ResultCallback done) {
    ledger.CreateTenant(TenantRecord{.tenant_id = tenants[i].id},
                        SetupKey(absl::StrCat("setup-", tenants[i].id)), std::move(done));
  });
  MakeKeys(ledger, tenants);
  MakeAccounts(ledger, tenants);
  return tenants;
}

// ---- structured changes -------------------------------------------------------------------------

const std::vector<std::string>& HostileStrings() {
  static const auto* values = new std::vector<std::string>{
      "",
      "alice",
      "bob",
      "search",
      "@funding",
      "@usage",
      "x'); DROP TABLE transfers; --",
      "' OR '1'='1",
      "\"quoted\" and \\backslash\\",
      "%s%n%x%p",
      "{\"json\": [1, 2]}",
      "\xff\xfe",
      "\xc0\xaf",
      "\xed\xa0\x80",
      std::string("nul\0byte", 8),
      "caf\xc3\xa9 \xf0\x9f\x92\xb8",
      std::string(128, 'a'),
      std::string(129, 'a'),
      std::string(1025, 'm'),
      std::string(100'000, 'z'),
      "tlk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "Europe/Berlin",
      "Not/A_Zone",
      "tokens",
      "admin",
      "operator",
      "h_0123456789abcdef",
      "9223372036854775807",
      "-1",
      "a b",
      "line\nbreak",
      "\t",
  };
  return *values;
}

const std::vector<int64_t>& ExtremeNumbers() {
  static const auto* values = new std::vector<int64_t>{
      0,
      1,
      -1,
      int64_t{1} << 62,
      (int64_t{1} << 62) + 1,
      INT64_MAX,
      INT64_MIN,
      INT32_MAX,
      INT32_MIN,
      86'400,
      86'401,
      1'000,
      1'001,
      absl::ToUnixMicros(absl::FromCivil(absl::CivilDay(2026, 3, 1), absl::UTCTimeZone())),
      absl::ToUnixMicros(absl::FromCivil(absl::CivilDay(2027, 1, 1), absl::UTCTimeZone())),
      999'999'999'999,
  };
  return *values;
}

std::vector<const pb::FieldDescriptor*> Fields(const pb::Descriptor* d,
                                               pb::FieldDescriptor::CppType type) {
  std::vector<const pb::FieldDescriptor*> out;
  for (int i = 0; i < d->field_count(); ++i) {
    if (!d->field(i)->is_repeated() && d->field(i)->cpp_type() == type) out.push_back(d->field(i));
  }
  return out;
}

void SetNumber(pb::Message* m, const pb::FieldDescriptor* f, int64_t v) {
  const pb::Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
      r->SetInt64(m, f, v);
      break;
    case pb::FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(m, f, static_cast<int32_t>(v));
      break;
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      r->SetEnumValue(m, f, static_cast<int>(v));
      break;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      r->SetBool(m, f, (v & 1) != 0);
      break;
    default:
      break;
  }
}

void AddMetadata(pb::Message* m, uint8_t sel) {
  const pb::FieldDescriptor* map = m->GetDescriptor()->FindFieldByName("metadata");
  if (map == nullptr) return;
  const pb::Reflection* r = m->GetReflection();
  const int entries = (sel & 1) != 0 ? 1 : 4 * (sel >> 1);
  for (int i = 0; i < entries; ++i) {
    pb::Message* entry = r->AddMessage(m, map);
    const pb::Descriptor* d = entry->GetDescriptor();
    entry->GetReflection()->SetString(entry, d->FindFieldByNumber(1), absl::StrCat("k", i));
    entry->GetReflection()->SetString(entry, d->FindFieldByNumber(2),
                                      (sel & 1) != 0 ? std::string(9'000, 'v') : "v");
  }
}

// Applies change `mode` (selectors a, b) to `m`, the parsed request of tenant `t`.
void Mutate(pb::Message* m, uint8_t mode, uint8_t a, uint8_t b, const Tenant& t) {
  const pb::Descriptor* d = m->GetDescriptor();
  const pb::Reflection* r = m->GetReflection();
  switch (mode) {
    case 1: {  // a string field gets a hostile value
      auto fields = Fields(d, pb::FieldDescriptor::CPPTYPE_STRING);
      if (fields.empty()) return;
      r->SetString(m, fields[a % fields.size()], HostileStrings()[b % HostileStrings().size()]);
      return;
    }
    case 2: {  // a number (or enum, or bool) gets an extreme value
      std::vector<const pb::FieldDescriptor*> fields;
      for (auto type : {pb::FieldDescriptor::CPPTYPE_INT64, pb::FieldDescriptor::CPPTYPE_INT32,
                        pb::FieldDescriptor::CPPTYPE_ENUM, pb::FieldDescriptor::CPPTYPE_BOOL}) {
        for (auto* f : Fields(d, type)) fields.push_back(f);
      }
      if (fields.empty()) return;
      SetNumber(m, fields[a % fields.size()], ExtremeNumbers()[b % ExtremeNumbers().size()]);
      return;
    }
    case 3:
      AddMetadata(m, b);
      return;
    case 4:  // names what the tenant has: its hold, its account, its revoked key, itself
      for (auto [name, value] : {std::pair<const char*, std::string>{"hold_id", t.hold_id},
                                 {"account_id", "alice"},
                                 {"key_id", t.revoked_key_id},
                                 {"tenant_id", t.id}}) {
        if (const pb::FieldDescriptor* f = d->FindFieldByName(name); f != nullptr) {
          r->SetString(m, f, value);
        }
      }
      return;
    default:
      return;
  }
}

// ---- invariants ---------------------------------------------------------------------------------

// What a call must not change unless it succeeded and writes.
struct Observed {
  size_t transfers = 0;
  size_t open_holds = 0;
  std::string balances;
  bool operator==(const Observed&) const = default;
};

Observed Observe(Fixture& f, const Tenant& t) {
  Observed o;
  o.transfers = f.store.transfer_count();
  o.open_holds = f.ledger.stats().open_holds;
  for (const char* id : {"alice", "bob"}) {
    auto b = f.ledger.GetBalance(t.id, id);
    if (!b.ok()) Violation(absl::StrCat("GetBalance ", id, ": ", b.status().ToString()));
    absl::StrAppend(&o.balances, id, ":", b->posted.credits, "/", b->posted.debits, "/", b->held,
                    "/", b->available, "/", b->pending_debit, " ");
  }
  return o;
}

void CheckStatus(const Rpc& rpc, int key, const grpc::Status& s) {
  const grpc::StatusCode code = s.error_code();
  const std::string where = absl::StrCat(rpc.path, " key ", key, ": ", static_cast<int>(code), " '",
                                         s.error_message(), "'");
  const bool bad_key = key >= 5;
  if (bad_key != (code == grpc::StatusCode::UNAUTHENTICATED)) {
    Violation(absl::StrCat("UNAUTHENTICATED exactly for a bad key: ", where));
  }
  const Role roles[] = {Role::kOperator, Role::kAdmin, Role::kHr, Role::kGateway, Role::kAuditor};
  if (!bad_key && !RoleAllows(roles[key], rpc.method) &&
      code != grpc::StatusCode::PERMISSION_DENIED) {
    Violation(absl::StrCat("PERMISSION_DENIED for a role the method does not allow: ", where));
  }
  switch (code) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return;
    case grpc::StatusCode::INVALID_ARGUMENT:
      break;
    default:
      Violation(absl::StrCat("a code docs/api.md does not allow: ", where));
  }
  // "the message names the field": "<field>[.<field>|/<field>]: ...".
  const std::string message = s.error_message();
  const size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) Violation(absl::StrCat("no field: ", where));
  const std::set<std::string> fields = FieldNames(rpc.request);
  for (absl::string_view part : absl::StrSplit(message.substr(0, colon), absl::ByAnyChar("./"))) {
    if (fields.count(std::string(part)) == 0) {
      Violation(absl::StrCat("INVALID_ARGUMENT names no field of the request: ", where));
    }
  }
}

void CheckReconcile(Fixture& f, const Tenant& t) {
  v1::ReconcileRequest req;
  v1::ReconcileResponse resp;
  grpc::Status s =
      v1::AdminService::NewStub(f.channel)->Reconcile(Context(t.keys[1]).get(), req, &resp);
  if (!s.ok()) Violation(absl::StrCat("Reconcile: ", s.error_message()));
  if (resp.ledger_sum() != 0 || resp.mismatches_size() != 0) {
    Violation(absl::StrCat("Reconcile: ledger_sum ", resp.ledger_sum(), ", ",
                           resp.mismatches_size(), " mismatches, first ",
                           resp.mismatches_size() > 0 ? resp.mismatches(0).DebugString() : ""));
  }
}

// ---- one input ----------------------------------------------------------------------------------

// Waits until every write queued so far is committed and applied to memory (deferred hold writes
// and expiries included), so that what a call changes is told apart from what was in flight.
void Settle(Fixture& f) {
  absl::Notification done;
  if (!f.writer.RunExclusive([&done](LedgerStore&) { done.Notify(); }).ok()) {
    Violation("the writer refused a barrier");
  }
  done.WaitForNotification();
}

void RunCall(Fixture& f, const Tenant& t, const Rpc& rpc, const uint8_t* header,
             const std::string& body) {
  const int key = header[1] % 8;
  const uint8_t mode = header[2];
  std::string request = body;
  if (mode >= 1 && mode <= 4) {
    std::unique_ptr<pb::Message> m(
        pb::MessageFactory::generated_factory()->GetPrototype(rpc.request)->New());
    if (m->ParseFromString(body)) {
      Mutate(m.get(), mode, header[3], header[4], t);
      request = m->SerializeAsString();
    }
  } else if (mode == 5) {
    f.clock.Advance(absl::Hours(1 + header[4]));
    f.ledger.ExpireHolds();
  }
  Settle(f);
  const Observed before = Observe(f, t);
  grpc::Status s =
      testing::RawUnaryCall(f.channel, Context(t.keys[key]).get(), rpc.path, request, nullptr);
  static const bool verbose = std::getenv("TOKENLEDGER_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s key %d mode %d: %d %s\n", rpc.path.c_str(), key, mode,
                 static_cast<int>(s.error_code()), s.error_message().c_str());
  }
  CheckStatus(rpc, key, s);
  if ((!s.ok() || !rpc.mutating) && !(Observe(f, t) == before)) {
    Violation(absl::StrCat(rpc.path, " changed the ledger but answered ",
                           static_cast<int>(s.error_code()), " '", s.error_message(), "'"));
  }
}

Fixture* CurrentFixture() {
  static Fixture* fixture = nullptr;
  if (fixture == nullptr || fixture->next_tenant == fixture->tenants.size()) {
    delete fixture;
    fixture = new Fixture();
    fixture->tenants = MakeTenants(fixture->ledger, kTenantsPerFixture);
  }
  return fixture;
}

}  // namespace
}  // namespace tokenledger

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in requests is expected here
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenledger;  // NOLINT: the entry point is outside the namespace
  static const std::vector<Rpc> rpcs = AllRpcs();
  Fixture& f = *CurrentFixture();
  const Tenant& t = f.tenants[f.next_tenant++];
  size_t pos = 0;
  for (size_t call = 0; call < kCallsMax && pos + kHeaderBytes <= size; ++call) {
    const uint8_t* header = data + pos;
    pos += kHeaderBytes;
    const size_t length = header[5] == 255 ? size - pos : std::min<size_t>(header[5], size - pos);
    const std::string body(reinterpret_cast<const char*>(data + pos), length);
    pos += length;
    RunCall(f, t, rpcs[header[0] % rpcs.size()], header, body);
  }
  CheckReconcile(f, t);
  return 0;
}
