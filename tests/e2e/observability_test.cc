// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Operating a real tokenledgerd: /metrics, read with Prometheus' own text parser, counts exactly
// the calls made; /healthz and /readyz through start-up and drain; and the log of a whole session
// in both formats names tenant, method, request id and status on every call line while no key,
// no operator key and no database password ever appears.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tcp_proxy.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- scraping --------------------------------------------------------------------------------

struct Scrape {
  std::string content_type;
  std::map<std::string, std::string> families;  // name -> type, as the parser names them
  std::map<std::string, double> samples;        // name{labels, sorted} -> value
};

Scrape ScrapeMetrics(int port) {
  Scrape out;
  std::string text;
  const int rc = RunCommand(absl::StrCat("/usr/bin/python3 ", TOKENLEDGER_E2E_DIR,
                                         "/scrape_metrics.py http://127.0.0.1:", port, "/metrics"),
                            &text);
  EXPECT_EQ(rc, 0) << text;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "content-type ")) {
      out.content_type = std::string(line);
      continue;
    }
    const bool family = absl::ConsumePrefix(&line, "family ");
    if (!family && !absl::ConsumePrefix(&line, "sample ")) continue;
    const size_t space = line.rfind(' ');
    const std::string name(line.substr(0, space));
    const absl::string_view rest = line.substr(space + 1);
    if (family) {
      out.families[name] = std::string(rest);
    } else {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(rest, &v)) << line;
      out.samples[name] = v;
    }
  }
  return out;
}

double Value(const Scrape& s, const std::string& sample) {
  auto it = s.samples.find(sample);
  if (it == s.samples.end()) {
    ADD_FAILURE() << "no sample " << sample;
    return std::nan("");
  }
  return it->second;
}

std::string Calls(const std::string& service, const std::string& method, const std::string& code) {
  return absl::StrCat("tokenledger_grpc_calls_total{code=\"", code, "\",method=\"", method,
                      "\",service=\"tokenledger.v1.", service, "\"}");
}

// ---- a session -------------------------------------------------------------------------------

class Session {
 public:
  explicit Session(const Daemon& d)
      : budget_(v1::BudgetService::NewStub(d.Channel())),
        gateway_(v1::AuthorizationService::NewStub(d.Channel())) {}

  grpc::Status UpsertAccount(const TenantKeys& keys, const std::string& id) {
    v1::UpsertAccountRequest req;
    req.set_account_id(id);
    req.set_idempotency_key(Unique("ua"));
    v1::UpsertAccountResponse resp;
    return budget_->UpsertAccount(Ctx(keys.hr).get(), req, &resp);
  }
  grpc::Status Grant(const TenantKeys& keys, const std::string& id, int64_t amount,
                     int deadline_s = 10) {
    v1::GrantRequest req;
    req.set_account_id(id);
    req.set_amount(amount);
    req.set_idempotency_key(Unique("gr"));
    v1::GrantResponse resp;
    return budget_->Grant(Ctx(keys.hr, deadline_s).get(), req, &resp);
  }
  grpc::Status Authorize(grpc::ClientContext* ctx, const std::string& id, int64_t amount,
                         const std::string& idem, v1::AuthorizeResponse* resp) {
    v1::AuthorizeRequest req;
    req.set_account_id(id);
    req.set_amount(amount);
    req.set_idempotency_key(idem);
    return gateway_->Authorize(ctx, req, resp);
  }
  grpc::Status Debit(const std::string& key, const std::string& id, const std::string& hold,
                     int64_t amount) {
    v1::DebitRequest req;
    req.set_account_id(id);
    req.set_hold_id(hold);
    req.set_amount(amount);
    req.set_idempotency_key(Unique("db"));
    v1::DebitResponse resp;
    return gateway_->Debit(Ctx(key).get(), req, &resp);
  }
  v1::BudgetService::Stub& budget() { return *budget_; }

 private:
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  std::unique_ptr<v1::AuthorizationService::Stub> gateway_;
};

// ---- /metrics --------------------------------------------------------------------------------

TEST(MetricsEndpointTest, TheScrapeCountsExactlyTheCallsMade) {
  Daemon d;
  d.Start();
  EXPECT_EQ(HttpGet(d.metrics_port(), "/healthz").status, 200);
  EXPECT_EQ(HttpGet(d.metrics_port(), "/readyz").status, 200);
  const TenantKeys keys = MakeTenant(d);  // 1 CreateTenant, 4 CreateApiKey
  Session s(d);
  ASSERT_TRUE(s.UpsertAccount(keys, "alice").ok());
  ASSERT_TRUE(s.Grant(keys, "alice", 1000).ok());
  // 7 Authorize answered OK: 5 allowed, 2 denied for budget.
  std::string hold;
  for (int i = 0; i < 7; ++i) {
    v1::AuthorizeResponse resp;
    const int64_t amount = i < 5 ? 100 : 10'000;
    ASSERT_TRUE(s.Authorize(Ctx(keys.gateway).get(), "alice", amount, Unique("az"), &resp).ok());
    EXPECT_EQ(resp.decision(), i < 5 ? v1::ALLOWED : v1::DENIED);
    if (i == 0) hold = resp.hold_id();
  }
  // 2 INVALID_ARGUMENT (a negative amount, no idempotency key) and 1 UNAUTHENTICATED.
  v1::AuthorizeResponse resp;
  EXPECT_EQ(s.Authorize(Ctx(keys.gateway).get(), "alice", -1, "neg", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.Authorize(Ctx(keys.gateway).get(), "alice", 5, "", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.Authorize(Ctx(Unique("tlk_no_such_key")).get(), "alice", 5, "x", &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(s.Debit(keys.gateway, "alice", hold, 80).ok());

  const Scrape m = ScrapeMetrics(d.metrics_port());
  EXPECT_THAT(m.content_type, StartsWith("text/plain; version=0.0.4"));
  EXPECT_EQ(Value(m, Calls("AuthorizationService", "Authorize", "OK")), 7);
  EXPECT_EQ(Value(m, Calls("AuthorizationService", "Authorize", "INVALID_ARGUMENT")), 2);
  EXPECT_EQ(Value(m, Calls("AuthorizationService", "Authorize", "UNAUTHENTICATED")), 1);
  EXPECT_EQ(Value(m, Calls("AuthorizationService", "Debit", "OK")), 1);
  EXPECT_EQ(Value(m, Calls("AdminService", "CreateTenant", "OK")), 1);
  EXPECT_EQ(Value(m, Calls("AdminService", "CreateApiKey", "OK")), 4);
  EXPECT_EQ(Value(m, Calls("BudgetService", "UpsertAccount", "OK")), 1);
  EXPECT_EQ(Value(m, Calls("BudgetService", "Grant", "OK")), 1);
  EXPECT_EQ(m.samples.count(Calls("BudgetService", "Grant", "INTERNAL")), 0u);
  const std::string authorize =
      R"(method="Authorize",service="tokenledger.v1.AuthorizationService")";
  EXPECT_EQ(Value(m, "tokenledger_grpc_call_duration_seconds_count{" + authorize + "}"), 10);
  EXPECT_EQ(
      Value(m, "tokenledger_grpc_call_duration_seconds_bucket{le=\"+Inf\"," + authorize + "}"), 10);
  EXPECT_EQ(Value(m, R"(tokenledger_authorize_decisions_total{decision="ALLOWED"})"), 5);
  EXPECT_EQ(Value(m, R"(tokenledger_authorize_decisions_total{decision="INSUFFICIENT_BUDGET"})"),
            2);
  EXPECT_EQ(Value(m, R"(tokenledger_authorize_decisions_total{decision="DAILY_LIMIT"})"), 0);
  // The writer: at least this session's 8 durable writes (its 5 holds are written after
  // --hold-journal-delay-ms; the shared database may add expiries of other tests' holds), none
  // failed.
  EXPECT_GE(Value(m, "tokenledger_commit_batch_size_sum{}"), 8);
  EXPECT_GE(Value(m, "tokenledger_commit_batch_size_count{}"), 1);
  EXPECT_GE(Value(m, "tokenledger_commit_duration_seconds_count{}"), 1);
  EXPECT_EQ(Value(m, "tokenledger_commit_batches_failed_total{}"), 0);
  EXPECT_GE(Value(m, "tokenledger_write_queue_depth{}"), 0);
  EXPECT_GE(Value(m, "tokenledger_cached_accounts{}"), 5);  // alice and the system accounts
  EXPECT_GE(Value(m, "tokenledger_open_holds{}"), 4);
  EXPECT_GE(Value(m, "tokenledger_resets_performed_total{}"), 0);
  EXPECT_GE(Value(m, "tokenledger_lease_owned_tenants{}"), 1);
  EXPECT_GT(Value(m, "tokenledger_process_resident_memory_bytes{}"), 1e6);
  EXPECT_GT(Value(m, "tokenledger_process_start_time_seconds{}"), 1.6e9);
  bool build_info = false;
  for (const auto& [name, v] : m.samples) {
    if (absl::StartsWith(name, "tokenledger_build_info{version=\"") && v == 1) build_info = true;
  }
  EXPECT_TRUE(build_info);
  EXPECT_EQ(m.families.at("tokenledger_grpc_calls"), "counter");
  EXPECT_EQ(m.families.at("tokenledger_grpc_call_duration_seconds"), "histogram");
  EXPECT_EQ(m.families.at("tokenledger_commit_batch_size"), "histogram");
  EXPECT_EQ(m.families.at("tokenledger_write_queue_depth"), "gauge");
  EXPECT_EQ(HttpGet(d.metrics_port(), "/nothing-here").status, 404);
  EXPECT_EQ(d.Terminate(), 0);
}

// ---- /healthz, /readyz -----------------------------------------------------------------------

// Polls `path` until it answers `status` (at most `seconds`).
bool WaitForStatus(int port, const std::string& path, int status, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (HttpGet(port, path).status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(HealthEndpointTest, NotReadyWhileStartingUp) {
  // A "database" that takes connections and never answers: the start-up hangs in migrations.
  int port = 0;
  const int fd = SilentListener(&port);
  Daemon d;
  d.database_url = absl::StrCat("postgresql://postgres@127.0.0.1:", port, "/x");
  d.Spawn();
  ASSERT_TRUE(WaitForStatus(d.metrics_port(), "/healthz", 200, 20)) << d.ReadLog();
  EXPECT_EQ(HttpGet(d.metrics_port(), "/readyz").status, 503);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(HttpGet(d.metrics_port(), "/readyz").status, 503);
  d.Kill();
  close(fd);
}

TEST(HealthEndpointTest, NotReadyWhileDraining) {
  const int pg_port = UrlThroughPort(TestDatabaseUrl(), 0).second;
  TcpProxy proxy(pg_port);
  Daemon d;
  d.database_url = UrlThroughPort(TestDatabaseUrl(), proxy.port()).first;
  d.Start();
  const TenantKeys keys = MakeTenant(d);
  Session s(d);
  ASSERT_TRUE(s.UpsertAccount(keys, "alice").ok());
  // A durable call in flight while the database is away keeps the drain busy for the writer's
  // retry window (5 s).
  proxy.Cut(true);
  grpc::Status grant;
  std::thread granter([&] { grant = s.Grant(keys, "alice", 100, 30); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int exit_code = -2;
  std::thread stopper([&] { exit_code = d.Terminate(); });
  ASSERT_TRUE(WaitForStatus(d.metrics_port(), "/readyz", 503, 4));
  EXPECT_EQ(HttpGet(d.metrics_port(), "/healthz").status, 200);  // alive, just not ready
  granter.join();
  stopper.join();
  EXPECT_EQ(grant.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(exit_code, 0);
  proxy.Cut(false);
}

// ---- logs ------------------------------------------------------------------------------------

struct CallLine {
  std::string level, method, status, tenant, request_id;
};

// Call records of a JSON log, through Python's json module (every line must parse).
std::vector<CallLine> JsonCallLines(const Daemon& d) {
  std::string out;
  EXPECT_EQ(RunCommand(absl::StrCat("/usr/bin/python3 ", TOKENLEDGER_E2E_DIR, "/check_json_log.py ",
                                    d.log_path()),
                       &out),
            0)
      << out;
  std::vector<CallLine> lines;
  for (absl::string_view l : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(l, '\t');
    if (f.size() != 5) {
      ADD_FAILURE() << "unexpected: " << l;
      continue;
    }
    lines.push_back({f[0], f[1], f[2], f[3], f[4]});
  }
  return lines;
}

// Call records of a text log: "<ts> <level> call[ failed] key=value key="quoted value" ...".
std::vector<CallLine> TextCallLines(const std::string& log) {
  static const std::regex kCall(R"(^\S+ (\w+) call( failed)? )");
  auto field = [](const std::string& line, const std::string& key) {
    const std::regex re(" " + key + R"(=("(?:[^"\\]|\\.)*"|\S*))");
    std::smatch m;
    if (!std::regex_search(line, m, re)) return std::string("<missing>");
    std::string v = m[1];
    return v.size() >= 2 && v.front() == '"' ? v.substr(1, v.size() - 2) : v;
  };
  std::vector<CallLine> lines;
  for (absl::string_view l : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    const std::string line(l);
    std::smatch m;
    if (!std::regex_search(line, m, kCall)) continue;
    lines.push_back({m[1], field(line, "method"), field(line, "status"), field(line, "tenant"),
                     field(line, "request_id")});
  }
  return lines;
}

class DaemonLogTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DaemonLogTest, ASessionLogsEveryCallWithItsFieldsAndNoSecret) {
  const std::string db_password = Unique("db-password");
  Daemon d;
  d.database_url = UrlWithPassword(TestDatabaseUrl(), db_password);  // trust auth ignores it
  d.extra_args = {"--log-level", "debug", "--log-format", GetParam()};
  d.Start();
  const TenantKeys keys = MakeTenant(d);
  Session s(d);
  ASSERT_TRUE(s.UpsertAccount(keys, "alice").ok());
  ASSERT_TRUE(s.Grant(keys, "alice", 1000).ok());
  // The client's request id is kept and sent back.
  const std::string request_id = Unique("req-e2e");
  auto ctx = Ctx(keys.gateway);
  ctx->AddMetadata("x-request-id", request_id);
  v1::AuthorizeResponse hold;
  ASSERT_TRUE(s.Authorize(ctx.get(), "alice", 100, Unique("az"), &hold).ok());
  auto echoed = ctx->GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(echoed, ctx->GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), request_id);
  ASSERT_TRUE(s.Debit(keys.gateway, "alice", hold.hold_id(), 60).ok());
  // A failed call with a key that does not exist gets an id of the server's.
  const std::string wrong_key = Unique("tlk_wrong_key_0123456789abcdef0123456789");
  auto bad = Ctx(wrong_key);
  v1::GetBalanceRequest breq;
  breq.set_account_id("alice");
  v1::Balance balance;
  EXPECT_EQ(s.budget().GetBalance(bad.get(), breq, &balance).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const bool in_initial = bad->GetServerInitialMetadata().count("x-request-id") == 1;
  const bool in_trailing = bad->GetServerTrailingMetadata().count("x-request-id") == 1;
  EXPECT_TRUE(in_initial || in_trailing);
  ASSERT_EQ(d.Terminate(), 0);

  const std::string log = d.ReadLog();
  for (const std::string& secret : {keys.admin, keys.hr, keys.gateway, keys.auditor,
                                    d.operator_key(), wrong_key, db_password}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a secret in the log: " << secret;
  }
  EXPECT_THAT(log, HasSubstr(":***@"));  // the database URL, masked

  const std::vector<CallLine> calls = GetParam() == "json" ? JsonCallLines(d) : TextCallLines(log);
  EXPECT_GE(calls.size(), 10u);  // 5 by MakeTenant, 5 here (and the harness's readiness probes)
  auto find = [&](const std::string& method, const std::string& status) -> const CallLine* {
    for (const CallLine& c : calls) {
      if (c.method == method && c.status == status) return &c;
    }
    ADD_FAILURE() << "no log line of " << method << " " << status;
    return nullptr;
  };
  for (const CallLine& c : calls) {
    EXPECT_NE(c.method, "<missing>");
    EXPECT_NE(c.status, "<missing>");
    EXPECT_NE(c.tenant, "<missing>");
    EXPECT_NE(c.request_id, "<missing>");
    EXPECT_FALSE(c.request_id.empty());
  }
  for (const char* method : {"UpsertAccount", "Grant", "Authorize", "Debit"}) {
    if (const CallLine* c = find(method, "OK")) {
      EXPECT_EQ(c->tenant, keys.tenant_id);
      EXPECT_EQ(c->level, "debug");
    }
  }
  if (const CallLine* c = find("CreateTenant", "OK")) {
    EXPECT_EQ(c->tenant, "");  // the operator's call
  }
  bool ours = false;
  for (const CallLine& c : calls) ours |= c.method == "Authorize" && c.request_id == request_id;
  EXPECT_TRUE(ours) << "the client's request id is not in the log";
  if (const CallLine* c = find("GetBalance", "UNAUTHENTICATED")) {
    EXPECT_EQ(c->level, "info");
    EXPECT_EQ(c->tenant, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, DaemonLogTest, ::testing::Values("text", "json"));

}  // namespace
}  // namespace tokenledger::testing
