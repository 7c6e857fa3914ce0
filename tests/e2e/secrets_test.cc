// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// End to end: an API key made through the API is stored only as its SHA-256. The whole test
// database is dumped with pg_dump (every table, every column, as text) and searched for the key in
// every form a careless store could leave it in; only its key id and its hash may be there.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string PgDump() {
  const char* bundled = "/usr/lib/postgresql/15/bin/pg_dump";
  const std::string pg_dump = access(bundled, X_OK) == 0 ? bundled : "pg_dump";
  auto [rc, out] = RunCommand(absl::StrCat(pg_dump, " --no-owner '", TestDatabaseUrl(), "'"));
  EXPECT_EQ(rc, 0) << out;
  return out;
}

// The forms of `secret` that must not be stored: as it is, its random part, in hex (as bytea or
// an encoded copy would show it) and in base64 (standard and URL-safe, with and without padding).
std::vector<std::string> Forms(const std::string& secret) {
  const std::string random_hex(absl::StripPrefix(secret, "tlk_"));
  const std::string random_bytes = absl::HexStringToBytes(random_hex);
  std::vector<std::string> forms = {secret,
                                    random_hex,
                                    absl::AsciiStrToUpper(random_hex),
                                    absl::BytesToHexString(secret),
                                    absl::Base64Escape(secret),
                                    absl::WebSafeBase64Escape(secret),
                                    absl::Base64Escape(random_bytes),
                                    absl::WebSafeBase64Escape(random_bytes),
                                    absl::BytesToHexString(random_bytes)};
  // Without padding, and cut to the part that does not depend on what follows the secret.
  for (size_t i = 0, n = forms.size(); i < n; ++i) {
    std::string f(absl::StripSuffix(absl::StripSuffix(forms[i], "="), "="));
    forms.push_back(f.substr(0, f.size() - 2));
  }
  return forms;
}

TEST(SecretsTest, ApiKeysAreStoredOnlyAsTheirHash) {
  Daemon d;
  d.Start();
  TenantKeys keys = MakeTenant(d);
  auto admin = v1::AdminService::NewStub(d.Channel());
  v1::CreateApiKeyRequest req;
  req.set_role("gateway");
  req.set_idempotency_key("secret-key-1");
  v1::CreateApiKeyResponse created;
  ASSERT_TRUE(admin->CreateApiKey(Ctx(keys.admin).get(), req, &created).ok());
  const std::string secret = created.key();
  ASSERT_THAT(secret, ::testing::StartsWith("tlk_"));
  ASSERT_EQ(secret.size(), 4u + 64u);
  // The key works, and a replay of its creation names it without the secret.
  v1::CreateApiKeyResponse replayed;
  ASSERT_TRUE(admin->CreateApiKey(Ctx(keys.admin).get(), req, &replayed).ok());
  EXPECT_EQ(replayed.key_id(), created.key_id());
  EXPECT_EQ(replayed.key(), "");
  ASSERT_EQ(d.Terminate(), 0);  // everything is committed

  auto [rc, hash] = RunCommand(absl::StrCat("printf %s '", secret, "' | sha256sum"));
  ASSERT_EQ(rc, 0);
  hash = hash.substr(0, 64);

  const std::string dump = PgDump();
  ASSERT_THAT(dump, HasSubstr("COPY public.api_keys"));
  EXPECT_THAT(dump, HasSubstr(created.key_id()));
  EXPECT_THAT(dump, HasSubstr(hash));
  for (const std::string& form : Forms(secret)) {
    EXPECT_THAT(dump, Not(HasSubstr(form))) << "the key is stored as " << form;
  }
  for (const std::string& form : Forms(keys.admin)) {
    EXPECT_THAT(dump, Not(HasSubstr(form))) << "the admin key is stored as " << form;
  }
  EXPECT_THAT(dump, Not(HasSubstr(d.operator_key())));
  // Nor does the daemon's log show them.
  const std::string log = d.ReadLog();
  EXPECT_THAT(log, Not(HasSubstr(secret)));
  EXPECT_THAT(log, Not(HasSubstr(d.operator_key())));
}

}  // namespace
}  // namespace tokenledger::testing
