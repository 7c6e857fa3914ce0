// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// End to end: tokenledgerd serving TLS and mutual TLS, with a throwaway PKI made by the openssl
// command at test time (a CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate, and a second CA with a client certificate of its own).
#include <stdlib.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir_template = absl::StrCat(::testing::TempDir(), "/tokenledger-tls-XXXXXX");
    ASSERT_NE(mkdtemp(dir_template.data()), nullptr);
    dir_ = new std::string(dir_template);
    MakeCa("ca", "tokenledger test CA");
    MakeCa("other-ca", "another CA");
    MakeLeaf("server", "ca", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost", "serverAuth",
             2);
    MakeLeaf("client", "ca", "gateway-1", "", "clientAuth", 3);
    MakeLeaf("other-client", "other-ca", "gateway-1", "", "clientAuth", 4);
  }
  static void TearDownTestSuite() {
    RunCommand(absl::StrCat("rm -rf '", *dir_, "'"));
    delete dir_;
  }

  static std::string File(const std::string& name) { return absl::StrCat(*dir_, "/", name); }

  static void Openssl(const std::string& args) {
    auto [rc, out] = RunCommand(absl::StrCat("cd '", *dir_, "' && openssl ", args));
    ASSERT_EQ(rc, 0) << "openssl " << args << "\n" << out;
  }
  static void MakeCa(const std::string& name, const std::string& cn) {
    Openssl(absl::StrCat(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=", cn,
        "' -keyout ", name, ".key -out ", name, ".pem"));
  }
  static void MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                       const std::string& san, const std::string& usage, int serial) {
    Openssl(absl::StrCat("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=",
                         cn, "' -keyout ", name, ".key -out ", name, ".csr"));
    FILE* ext = std::fopen(File(name + ".ext").c_str(), "w");
    ASSERT_NE(ext, nullptr);
    std::fprintf(ext, "extendedKeyUsage=%s\n%s\n", usage.c_str(), san.c_str());
    std::fclose(ext);
    Openssl(absl::StrCat("x509 -req -in ", name, ".csr -CA ", ca, ".pem -CAkey ", ca,
                         ".key -set_serial ", serial, " -days 2 -extfile ", name, ".ext -out ",
                         name, ".pem"));
  }

  // The daemon with TLS (and with mutual TLS when `client_ca` is set); Channel() presents the
  // client certificate of "ca".
  void StartDaemon(bool mutual) {
    daemon_.extra_args = {"--tls-cert", File("server.pem"), "--tls-key", File("server.key")};
    daemon_.client_tls.ca_file = File("ca.pem");
    if (mutual) {
      daemon_.extra_args.push_back("--tls-client-ca");
      daemon_.extra_args.push_back(File("ca.pem"));
      daemon_.client_tls.cert_file = File("client.pem");
      daemon_.client_tls.key_file = File("client.key");
    }
    daemon_.Start();
  }

  // A call that reaches the handler answers UNAUTHENTICATED (no key); one refused by the
  // transport answers UNAVAILABLE.
  grpc::StatusCode Probe(std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub = v1::AdminService::NewStub(daemon_.Channel(std::move(creds)));
    v1::ReconcileRequest req;
    v1::ReconcileResponse resp;
    return stub->Reconcile(Ctx("", 5).get(), req, &resp).error_code();
  }

  std::string Cli(const std::string& flags) {
    return absl::StrCat(TOKENLEDGER_CLI_PATH, " --timeout 5 --target ", daemon_.target(), " ",
                        flags, " health");
  }

  static std::string* dir_;
  Daemon daemon_;
};

std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, TlsClientSucceedsPlaintextClientFails) {
  StartDaemon(/*mutual=*/false);
  TenantKeys keys = MakeTenant(daemon_);  // operator and admin calls over TLS
  ASSERT_FALSE(keys.admin.empty());
  EXPECT_EQ(Probe(ClientCredentials({File("ca.pem")})), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Probe(grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  // A client that does not trust the server's CA refuses the server.
  EXPECT_EQ(Probe(ClientCredentials({File("other-ca.pem")})), grpc::StatusCode::UNAVAILABLE);

  EXPECT_EQ(RunCommand(Cli(absl::StrCat("--tls-ca ", File("ca.pem")))).first, 0);
  EXPECT_NE(RunCommand(Cli("")).first, 0);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateSignedByTheClientCa) {
  StartDaemon(/*mutual=*/true);
  TenantKeys keys = MakeTenant(daemon_);
  ASSERT_FALSE(keys.admin.empty());
  EXPECT_EQ(Probe(ClientCredentials({File("ca.pem"), File("client.pem"), File("client.key")})),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Probe(ClientCredentials({File("ca.pem")})), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Probe(ClientCredentials(
                {File("ca.pem"), File("other-client.pem"), File("other-client.key")})),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Probe(grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);

  const std::string ca = absl::StrCat("--tls-ca ", File("ca.pem"));
  EXPECT_EQ(RunCommand(Cli(absl::StrCat(ca, " --tls-cert ", File("client.pem"), " --tls-key ",
                                        File("client.key"))))
                .first,
            0);
  EXPECT_NE(RunCommand(Cli(ca)).first, 0);
  EXPECT_NE(RunCommand(Cli(absl::StrCat(ca, " --tls-cert ", File("other-client.pem"), " --tls-key ",
                                        File("other-client.key"))))
                .first,
            0);
}

TEST_F(TlsTest, BadTlsFilesStopTheStartWithTheirName) {
  // `timeout`: a daemon that started anyway must not hang the test.
  const std::string base =
      absl::StrCat("timeout 20 ", TOKENLEDGERD_PATH, " --listen 127.0.0.1:", FreePort(),
                   " --database-url '", TestDatabaseUrl(), "'");
  struct Case {
    std::string flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("--tls-cert ", File("missing.pem"), " --tls-key ", File("server.key")),
       absl::StrCat("--tls-cert ", File("missing.pem"), ": cannot read")},
      {absl::StrCat("--tls-cert ", File("server.pem"), " --tls-key ", File("client.key")),
       "--tls-key"},
      {absl::StrCat("--tls-cert ", File("server.key"), " --tls-key ", File("server.key")),
       "no PEM certificate"},
      {absl::StrCat("--tls-cert ", File("server.pem")), "given without tls-key"},
      {absl::StrCat("--tls-cert ", File("server.pem"), " --tls-key ", File("server.key"),
                    " --tls-client-ca ", File("missing-ca.pem")),
       "--tls-client-ca"},
  };
  for (const Case& c : cases) {
    auto [rc, out] = RunCommand(absl::StrCat(base, " ", c.flags));
    EXPECT_NE(rc, 0) << c.flags;
    EXPECT_THAT(out, HasSubstr(c.message)) << c.flags;
  }
}

}  // namespace
}  // namespace tokenledger::testing
