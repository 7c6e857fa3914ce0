// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// End to end, through the `tokenledger` CLI against a real tokenledgerd: an admin sets a model's
// prices (one in force now, one from tomorrow) and reads the book; a gateway sends token counts
// and nothing else; hr reads what each call cost. Prices as the README's worked example: $2.50
// and $10.00 per million input and output tokens, in usd_micros.
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliPricesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.Start();
    keys_ = MakeTenant(daemon_);
  }

  // Runs `tokenledger <args>` against the daemon with `key`; exit code and stdout + stderr.
  std::pair<int, std::string> Cli(const std::string& key, const std::string& args) {
    return RunCommand(absl::StrCat("TOKENLEDGER_KEY=", key, " ", TOKENLEDGER_CLI_PATH, " --target ",
                                   daemon_.target(), " ", args));
  }

  Daemon daemon_;
  TenantKeys keys_;
};

// The first line of `text` that holds `needle`, empty when none does.
std::string LineWith(const std::string& text, const std::string& needle) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, needle)) return std::string(line);
  }
  return "";
}

// The value of the JSON string field `name` in one line of --json output ("" when absent).
std::string JsonField(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":\"");
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return json.substr(start, json.find('"', start) - start);
}

TEST_F(CliPricesTest, AGatewaySendsTokensAndTheLedgerChargesThePriceInForce) {
  // hr: an account whose policy limits gpt-4o to 20,000 usd_micros a month, funded with $100.
  auto [rc, out] = Cli(keys_.hr,
                       "account upsert alice --monthly-allocation 0 --model-limit gpt-4o=20000 "
                       "--model-limit other-model=5");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "policy.model_limits"), HasSubstr("gpt-4o=20000,other-model=5"));
  std::tie(rc, out) = Cli(keys_.hr, "grant alice 100000000 --idempotency-key fund-alice");
  ASSERT_EQ(rc, 0) << out;

  // admin: $2.50 / $10.00 per million now, $5.00 / $20.00 from tomorrow.
  const int64_t tomorrow = absl::ToUnixMicros(absl::Now() + absl::Hours(24));
  std::tie(rc, out) = Cli(keys_.admin,
                          "price set gpt-4o --input-per-million 2500000 "
                          "--output-per-million 10000000 --idempotency-key price-now");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "input_per_million"), HasSubstr("2500000"));
  std::tie(rc, out) = Cli(keys_.admin, absl::StrCat("price set gpt-4o --input-per-million 5000000 "
                                                    "--output-per-million 20000000 --effective-at ",
                                                    tomorrow));
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = Cli(keys_.gateway,
                          "price set gpt-4o --input-per-million 1 "
                          "--output-per-million 1");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED"));

  // The gateway reads the book (so may hr and the auditor): in force now, then gpt-4o's history
  // (newest first, the row in force marked), then the book as of tomorrow.
  std::tie(rc, out) = Cli(keys_.gateway, "price list");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "unit"), HasSubstr("usd_micros"));
  EXPECT_THAT(LineWith(out, "gpt-4o"), HasSubstr("10000000"));
  EXPECT_THAT(out, Not(HasSubstr("20000000")));
  std::tie(rc, out) = Cli(keys_.gateway, "price list --model gpt-4o");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("prices (2)"));
  EXPECT_LT(out.find("20000000"), out.find("10000000")) << out;
  EXPECT_THAT(LineWith(out, "20000000"), HasSubstr("false"));
  EXPECT_THAT(LineWith(out, "10000000"), HasSubstr("true"));
  std::tie(rc, out) = Cli(keys_.gateway, absl::StrCat("price list --as-of ", tomorrow + 1));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "gpt-4o"), HasSubstr("20000000"));

  // gateway: hold an estimate (1,234 in, at most 1,000 out: 3,085 + 10,000 = 13,085), then
  // debit the usage against that hold (1,234 in, 567 out: 3,085 + 5,670 = 8,755).
  std::tie(rc, out) = Cli(keys_.gateway,
                          "--json authorize alice --input-tokens 1234 --max-output-tokens 1000 "
                          "--model gpt-4o --idempotency-key call-1-auth");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(JsonField(out, "decision"), "ALLOWED") << out;
  EXPECT_EQ(JsonField(out, "amount"), "13085") << out;
  const std::string hold = JsonField(out, "hold_id");
  ASSERT_FALSE(hold.empty()) << out;
  std::tie(rc, out) = Cli(keys_.gateway, absl::StrCat("debit alice --input-tokens 1234 "
                                                      "--output-tokens 567 --model gpt-4o --hold ",
                                                      hold, " --idempotency-key call-1-debit"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "amount"), HasSubstr("8755"));
  EXPECT_THAT(LineWith(out, "input_tokens"), HasSubstr("1234"));
  EXPECT_THAT(LineWith(out, "output_tokens"), HasSubstr("567"));
  EXPECT_THAT(LineWith(out, "price_effective_at"), HasSubstr("Z"));  // a time, not 0
  // One input token: 2,500,000 / 1,000,000 = 2.5, rounded up to 3.
  std::tie(rc, out) = Cli(keys_.gateway, "--json debit alice --input-tokens 1 --model gpt-4o");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(JsonField(out, "amount"), "3") << out;

  // A model without a price (and no "*"): refused, naming it. An amount and tokens: refused by
  // the CLI.
  std::tie(rc, out) = Cli(keys_.gateway, "debit alice --input-tokens 10 --model claude-x");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(out, HasSubstr("claude-x"));
  std::tie(rc, out) = Cli(keys_.gateway, "debit alice 5 --input-tokens 10 --model gpt-4o");
  EXPECT_EQ(rc, 64) << out;
  EXPECT_THAT(out, HasSubstr("not both"));
  std::tie(rc, out) = Cli(keys_.gateway, "authorize alice --output-tokens 10 --model gpt-4o");
  EXPECT_EQ(rc, 64) << out;
  EXPECT_THAT(out, HasSubstr("--max-output-tokens"));

  // gpt-4o has 8,758 spent of its 20,000: another estimate of 13,085 passes the model's limit.
  std::tie(rc, out) = Cli(keys_.gateway,
                          "--json authorize alice --input-tokens 1234 --max-output-tokens 1000 "
                          "--model gpt-4o");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(JsonField(out, "decision"), "DENIED") << out;
  EXPECT_EQ(JsonField(out, "deny_reason"), "MODEL_LIMIT") << out;
  EXPECT_EQ(JsonField(out, "amount"), "13085") << out;
  std::tie(rc, out) = Cli(
      keys_.gateway, "--json check alice --input-tokens 1 --max-output-tokens 1 --model gpt-4o");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"would_allow\":true")) << out;
  EXPECT_EQ(JsonField(out, "amount"), "13") << out;  // 2.5 + 10 = 12.5, rounded up

  // hr: the balance by model, and the transfers with their tokens and price.
  std::tie(rc, out) = Cli(keys_.hr, "balance alice");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(LineWith(out, "model_spent"), HasSubstr("gpt-4o=8758"));
  EXPECT_THAT(LineWith(out, "available"), HasSubstr("99991242"));
  std::tie(rc, out) = Cli(keys_.hr, "transfers alice");
  ASSERT_EQ(rc, 0) << out;
  const std::string header = LineWith(out, "transfer_id");
  EXPECT_THAT(header, HasSubstr("input_tokens"));
  EXPECT_THAT(header, HasSubstr("output_tokens"));
  EXPECT_THAT(header, HasSubstr("price_effective_at"));
  const std::string call = LineWith(out, "  8755 ");
  EXPECT_THAT(call, HasSubstr("1234"));
  EXPECT_THAT(call, HasSubstr("567"));
  EXPECT_THAT(call, HasSubstr("gpt-4o"));
  std::tie(rc, out) = Cli(keys_.hr, "--json transfers alice");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"input_tokens\":\"1234\",\"output_tokens\":\"567\""));
}

}  // namespace
}  // namespace tokenledger::testing
