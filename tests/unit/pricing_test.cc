// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Pricing arithmetic and the price book's effective dating, as tables: what a call of so many
// tokens costs, and which price is in force at an instant.
#include "ledger/pricing.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger {
namespace {

using ::testing::HasSubstr;

PriceRecord Price(int64_t in, int64_t out, int64_t cached = 0, std::string model = "m",
                  int64_t effective_at = 1) {
  return PriceRecord{.tenant_id = "t",
                     .model = std::move(model),
                     .effective_at_us = effective_at,
                     .input_per_million = in,
                     .output_per_million = out,
                     .cached_input_per_million = cached};
}

struct ArithmeticCase {
  const char* name;
  PriceRecord price;
  TokenUsage usage;
  int64_t want;
};

TEST(PricingTest, PricesTokensExactlyWithOneCeilingPerCall) {
  const int64_t kMaxFit = int64_t{1} << 62;
  const std::vector<ArithmeticCase> cases = {
      // $2.50 and $10.00 per million tokens, in usd_micros: 1,234 x 2.5 + 567 x 10 = 8,755.
      {"typical call", Price(2'500'000, 10'000'000), {1234, 567, 0}, 8755},
      // 1 token at 2,500,000 per million is 2.5 micros: rounds up to 3.
      {"one input token rounds up", Price(2'500'000, 0), {1, 0, 0}, 3},
      // 1 token at a price that does not divide a million (7 per million): 0.000007, up to 1.
      {"one token at a price below a million", Price(7, 7), {1, 0, 0}, 1},
      {"one output token", Price(0, 3), {0, 1, 0}, 1},
      // One ceiling per call, not per kind: 0.5 + 0.5 is 1, not 2.
      {"one ceiling for the sum", Price(500'000, 500'000), {1, 1, 0}, 1},
      {"cached input at its own price",
       Price(2'500'000, 10'000'000, 1'250'000),
       {0, 0, 1000},
       1250},
      {"zero tokens of a kind",
       Price(2'500'000, 10'000'000, 1'250'000),
       {1'000'000, 0, 0},
       2'500'000},
      {"a free model", Price(0, 0, 0), {1000, 1000, 1000}, 0},
      {"exact millions", Price(3, 15, 1), {2'000'000, 1'000'000, 4'000'000}, 25},
      // The largest counts that fit: 2^62 tokens at 1,000,000 per million is 2^62.
      {"largest token count that fits", Price(1'000'000, 0), {kMaxFit, 0, 0}, kMaxFit},
      {"largest price that fits", Price(kMaxFit, 0), {1'000'000, 0, 0}, kMaxFit},
      // 2^62 tokens at 1 per million: 2^62 / 10^6 = 4,611,686,018,427.387904, up to ...428.
      {"largest tokens at the smallest price", Price(1, 1, 1), {kMaxFit, 0, 0}, 4'611'686'018'428},
  };
  for (const ArithmeticCase& c : cases) {
    absl::StatusOr<int64_t> got = PriceTokens(c.price, c.usage);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(PricingTest, AnAmountPast2To62IsInvalidArgumentNamingTheField) {
  const int64_t kMaxFit = int64_t{1} << 62;
  const std::vector<std::pair<PriceRecord, TokenUsage>> cases = {
      {Price(1'000'001, 0), {kMaxFit, 0, 0}},                           // one micro past
      {Price(kMaxFit, kMaxFit, kMaxFit), {kMaxFit, kMaxFit, kMaxFit}},  // the 128-bit corner
      {Price(kMaxFit, 0), {1'000'001, 0, 0}},
  };
  for (const auto& [price, usage] : cases) {
    absl::StatusOr<int64_t> got = PriceTokens(price, usage, "usage");
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr("usage"));
  }
  // The boundary itself fits.
  EXPECT_TRUE(PriceTokens(Price(1'000'000, 0), {kMaxFit, 0, 0}).ok());
}

TEST(PricingTest, NegativeTokensAreRefused) {
  EXPECT_EQ(PriceTokens(Price(1, 1), {-1, 0, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PriceBookTest, APriceChangeAppliesFromItsInstantOn) {
  PriceBook book;
  const int64_t t = 1'000'000'000;
  ASSERT_TRUE(book.Add(Price(2'500'000, 10'000'000, 0, "gpt", 1)));
  ASSERT_TRUE(book.Add(Price(5'000'000, 20'000'000, 0, "gpt", t)));
  const TokenUsage one_million_in{1'000'000, 0, 0};
  auto before = book.Price("gpt", one_million_in, t - 1, "usd_micros", "usage");
  auto at = book.Price("gpt", one_million_in, t, "usd_micros", "usage");
  ASSERT_TRUE(before.ok() && at.ok());
  EXPECT_EQ(before->amount, 2'500'000);
  EXPECT_EQ(before->price_effective_at_us, 1);
  EXPECT_EQ(at->amount, 5'000'000);
  EXPECT_EQ(at->price_effective_at_us, t);
  // Before the first price of the model there is none.
  EXPECT_EQ(book.Find("gpt", 0), nullptr);
}

TEST(PriceBookTest, TheFallbackPricesOnlyModelsWithoutAPriceOfTheirOwn) {
  PriceBook book;
  ASSERT_TRUE(book.Add(Price(1'000'000, 1'000'000, 0, "*", 1)));
  ASSERT_TRUE(book.Add(Price(3'000'000, 3'000'000, 0, "gpt", 100)));
  EXPECT_EQ(book.Find("gpt", 100)->model, "gpt");
  EXPECT_EQ(book.Find("other", 100)->model, "*");
  // Before gpt's own price exists, the fallback prices it.
  EXPECT_EQ(book.Find("gpt", 99)->model, "*");
  EXPECT_EQ(book.FindExact("other", 100), nullptr);
}

TEST(PriceBookTest, WithoutAPriceAUsdTenantIsRefusedAndATokensTenantCountsTokens) {
  PriceBook book;
  auto usd = book.Price("gpt", {10, 5, 1}, 50, "usd_micros", "usage");
  EXPECT_EQ(usd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(usd.status().message(), HasSubstr("'gpt'"));
  auto tokens = book.Price("gpt", {10, 5, 1}, 50, "tokens", "usage");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->amount, 16);
  EXPECT_FALSE(tokens->price_effective_at_us.has_value());
}

TEST(PriceBookTest, ListsThePricesInForceAndAModelsHistory) {
  PriceBook book;
  ASSERT_TRUE(book.Add(Price(1, 1, 0, "b", 10)));
  ASSERT_TRUE(book.Add(Price(2, 2, 0, "b", 20)));
  ASSERT_TRUE(book.Add(Price(3, 3, 0, "a", 30)));  // not yet in force at 25
  ASSERT_TRUE(book.Add(Price(4, 4, 0, "*", 5)));
  EXPECT_FALSE(book.Add(Price(9, 9, 0, "b", 20)));  // never edited
  EXPECT_EQ(book.size(), 4u);
  std::vector<PriceRecord> now = book.InForce(25);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].model, "*");
  EXPECT_EQ(now[1].model, "b");
  EXPECT_EQ(now[1].input_per_million, 2);
  std::vector<PriceRecord> history = book.History("b");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].effective_at_us, 20);  // newest first
  EXPECT_EQ(history[1].effective_at_us, 10);
}

}  // namespace
}  // namespace tokenledger
