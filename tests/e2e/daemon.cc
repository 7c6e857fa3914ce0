// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace tokenledger::testing {

std::string TestDatabaseUrl() {
  const char* url = std::getenv("TOKENLEDGER_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    std::fprintf(stderr,
                 "TOKENLEDGER_TEST_DATABASE_URL is not set: run the tests through "
                 "scripts/test.sh, which starts PostgreSQL\n");
    std::abort();
  }
  return url;
}

std::string Unique(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(prefix, "-", rng() % 1000000000000ull);
}

namespace {

// A TCP socket bound to a free port of 127.0.0.1; `port` gets the port.
int BindLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

int FreePort() {
  int port = 0;
  close(BindLoopback(&port));
  return port;
}

int SilentListener(int* port) {
  const int fd = BindLoopback(port);
  EXPECT_EQ(listen(fd, 16), 0);
  return fd;
}

std::pair<std::string, int> UrlThroughPort(const std::string& url, int port) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme + 3);
  const size_t colon = url.rfind(':', slash);
  int original = 5432;
  if (colon != std::string::npos && colon > scheme + 3) {
    EXPECT_TRUE(absl::SimpleAtoi(url.substr(colon + 1, slash - colon - 1), &original));
    return {absl::StrCat(url.substr(0, colon + 1), port, url.substr(slash)), original};
  }
  return {absl::StrCat(url.substr(0, slash), ":", port, url.substr(slash)), original};
}

std::string UrlWithPassword(const std::string& url, const std::string& password) {
  const size_t authority = url.find("://") + 3;
  const size_t at = url.find('@', authority);
  if (at == std::string::npos || at > url.find('/', authority)) {
    return absl::StrCat(url.substr(0, authority), "postgres:", password, "@",
                        url.substr(authority));
  }
  return absl::StrCat(url.substr(0, at), ":", password, url.substr(at));
}

HttpReply HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  HttpReply out;
  if (auto res = client.Get(path.c_str())) {
    out.status = res->status;
    out.body = res->body;
    out.content_type = res->get_header_value("Content-Type");
  }
  return out;
}

int RunCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* p = popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Daemon::Daemon() {
  target_ = absl::StrCat("127.0.0.1:", FreePort());
  do {
    metrics_port_ = FreePort();
  } while (absl::StrCat("127.0.0.1:", metrics_port_) == target_);
  operator_key_ = Unique("tlo_test_operator_key_0123456789abcdef");
  log_path_ =
      absl::StrCat(::testing::TempDir(), "/tokenledgerd-", getpid(), "-", Unique("log"), ".log");
}

Daemon::~Daemon() {
  if (pid_ > 0) Kill();
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const ClientTls& tls) {
  if (tls.ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(tls.ca_file);
  if (!tls.cert_file.empty()) options.pem_cert_chain = ReadFileOrDie(tls.cert_file);
  if (!tls.key_file.empty()) options.pem_private_key = ReadFileOrDie(tls.key_file);
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> Daemon::Channel() const {
  return Channel(ClientCredentials(client_tls));
}

std::shared_ptr<grpc::Channel> Daemon::Channel(
    std::shared_ptr<grpc::ChannelCredentials> creds) const {
  // A private subchannel pool and short reconnect backoff: a channel made while the daemon
  // (re)starts must not sit out gRPC's default backoff of seconds.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  return grpc::CreateCustomChannel(target_, std::move(creds), args);
}

void Daemon::Spawn() {
  ASSERT_LE(pid_, 0) << "already running";
  std::vector<std::string> args = {TOKENLEDGERD_PATH,
                                   "--listen",
                                   target_,
                                   "--database-url",
                                   database_url,
                                   "--metrics-listen",
                                   absl::StrCat("127.0.0.1:", metrics_port_)};
  for (const auto& a : extra_args) args.push_back(a);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("TOKENLEDGER_OPERATOR_KEY", operator_key_.c_str(), 1);
    for (const auto& [name, value] : extra_env) setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
}

void Daemon::Start(int wait_seconds) {
  Spawn();
  if (::testing::Test::HasFatalFailure()) return;
  // Ready when a call gets an answer from the daemon itself (here: no key, UNAUTHENTICATED).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    // A fresh channel each time: a failed connect would otherwise wait out its backoff.
    auto stub = v1::AdminService::NewStub(Channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    ctx.set_wait_for_ready(true);
    v1::ReconcileRequest req;
    v1::ReconcileResponse resp;
    if (stub->Reconcile(&ctx, req, &resp).error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "tokenledgerd exited during start:\n" << ReadLog();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL() << "tokenledgerd did not start serving in " << wait_seconds << " s:\n" << ReadLog();
}

int Daemon::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Daemon::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

std::string Daemon::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& key, int deadline_seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
  return ctx;
}

TenantKeys MakeTenant(const Daemon& d, const std::string& timezone) {
  TenantKeys keys;
  keys.tenant_id = Unique("tenant");
  auto admin = v1::AdminService::NewStub(d.Channel());
  v1::CreateTenantRequest treq;
  treq.set_tenant_id(keys.tenant_id);
  treq.set_timezone(timezone);
  treq.set_idempotency_key(Unique("ct"));
  v1::CreateTenantResponse tresp;
  grpc::Status s = admin->CreateTenant(Ctx(d.operator_key()).get(), treq, &tresp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  for (auto [role, out] :
       {std::pair{"admin", &keys.admin}, std::pair{"hr", &keys.hr},
        std::pair{"gateway", &keys.gateway}, std::pair{"auditor", &keys.auditor}}) {
    v1::CreateApiKeyRequest kreq;
    kreq.set_tenant_id(keys.tenant_id);
    kreq.set_role(role);
    kreq.set_idempotency_key(Unique("ck"));
    v1::CreateApiKeyResponse kresp;
    s = admin->CreateApiKey(Ctx(d.operator_key()).get(), kreq, &kresp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    *out = kresp.key();
    if (std::string(role) == "admin") keys.admin_key_id = kresp.key_id();
  }
  return keys;
}

}  // namespace tokenledger::testing
