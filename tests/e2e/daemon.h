// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Test harness: runs a real tokenledgerd as a child process against the test database, and
// gives typed stubs with a key.
#ifndef TOKENLEDGER_TESTS_E2E_DAEMON_H_
#define TOKENLEDGER_TESTS_E2E_DAEMON_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::testing {

// The test database (env TOKENLEDGER_TEST_DATABASE_URL); aborts the test binary when unset.
std::string TestDatabaseUrl();
// A random suffix for ids, so tests sharing a database do not meet.
std::string Unique(const std::string& prefix);
// A free TCP port on 127.0.0.1.
int FreePort();
// A socket listening on 127.0.0.1 that nobody accepts from: the kernel takes connections and
// nothing ever answers them. Returns the descriptor (close it); `port` gets the port.
int SilentListener(int* port);

// `url` (postgresql://user@host:port/db) with its port replaced, and the port it had.
std::pair<std::string, int> UrlThroughPort(const std::string& url, int port);
// `url` with `password` as the user's password.
std::string UrlWithPassword(const std::string& url, const std::string& password);

// GET http://127.0.0.1:<port><path>; status -1 when nothing answered.
struct HttpReply {
  int status = -1;
  std::string body;
  std::string content_type;
};
HttpReply HttpGet(int port, const std::string& path);

// Runs `command` with /bin/sh, stdout and stderr together; returns the exit code (or -1).
int RunCommand(const std::string& command, std::string* output);

// The client side of TLS, as PEM files. No ca_file: plaintext.
struct ClientTls {
  std::string ca_file;    // the CA that the server's certificate chains to
  std::string cert_file;  // mutual TLS: the client's certificate and its key (may be empty)
  std::string key_file;
};
std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const ClientTls& tls);
std::string ReadFileOrDie(const std::string& path);

class Daemon {
 public:
  Daemon();
  ~Daemon();  // SIGKILLs a daemon still running

  // Starts tokenledgerd and waits until it answers calls (at most `wait_seconds`).
  void Start(int wait_seconds = 30);
  // Starts tokenledgerd without waiting for anything.
  void Spawn();
  // SIGTERM, then waits for the exit; returns the exit status (or -1).
  int Terminate();
  void Kill();           // SIGKILL, and reaps
  void Signal(int sig);  // e.g. SIGSTOP, SIGCONT
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& target() const { return target_; }
  // The metrics endpoint (--metrics-listen 127.0.0.1:<metrics_port>, unless extra_args say
  // otherwise: the later flag wins).
  int metrics_port() const { return metrics_port_; }
  const std::string& operator_key() const { return operator_key_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;
  std::vector<std::string> extra_args;
  std::vector<std::pair<std::string, std::string>> extra_env;  // set in the daemon's environment
  std::string database_url = TestDatabaseUrl();

  // What Channel() and the readiness probe of Start() present; the daemon's own TLS flags go in
  // extra_args (--tls-cert, --tls-key, --tls-client-ca).
  ClientTls client_tls;

  std::shared_ptr<grpc::Channel> Channel() const;
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::ChannelCredentials> creds) const;

 private:
  pid_t pid_ = -1;
  std::string target_;
  int metrics_port_ = 0;
  std::string operator_key_;
  std::string log_path_;
};

// Runs a shell command; returns its exit status (-1 when killed) and its output, stdout and
// stderr together.
std::pair<int, std::string> RunCommand(const std::string& command);

// A context carrying `authorization: Bearer <key>` and a deadline.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& key, int deadline_seconds = 10);

// A tenant with one key of each role, made through the API with the operator key.
struct TenantKeys {
  std::string tenant_id;
  std::string admin, hr, gateway, auditor;
  std::string admin_key_id;
};
TenantKeys MakeTenant(const Daemon& d, const std::string& timezone = "UTC");

}  // namespace tokenledger::testing

#endif  // TOKENLEDGER_TESTS_E2E_DAEMON_H_
