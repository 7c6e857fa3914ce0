// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/tenant_state.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tokenledger {
namespace {

TEST(AccountTableTest, FindsEveryAccountAcrossChunksWithStableAddresses) {
  AccountTable table;
  constexpr int kAccounts = 10000;  // more than two chunks
  std::vector<AccountState*> addresses;
  for (int i = 0; i < kAccounts; ++i) {
    AccountState& a = table["acct-" + std::to_string(i)];
    a.posted.credits = i;
    addresses.push_back(&a);
  }
  EXPECT_EQ(table.size(), static_cast<size_t>(kAccounts));
  for (int i = 0; i < kAccounts; ++i) {
    const std::string id = "acct-" + std::to_string(i);
    auto* entry = table.find(id);
    ASSERT_NE(entry, table.end()) << id;
    EXPECT_EQ(entry->first, id);
    EXPECT_EQ(entry->second.posted.credits, i);
    EXPECT_EQ(&table.at(id), addresses[i]);  // never moved by later inserts
  }
  EXPECT_EQ(table.find("acct-10000"), nullptr);
  EXPECT_FALSE(table.contains("nobody"));
  // operator[] on an existing id returns it, not a new one.
  EXPECT_EQ(&table["acct-7"], addresses[7]);
  EXPECT_EQ(table.size(), static_cast<size_t>(kAccounts));
  int64_t sum = 0;
  int visited = 0;
  table.ForEach([&](const std::string&, AccountState& a) {
    sum += a.posted.credits;
    ++visited;
  });
  EXPECT_EQ(visited, kAccounts);
  EXPECT_EQ(sum, int64_t{kAccounts} * (kAccounts - 1) / 2);
}

TEST(IdempotencyCacheTest, EvictsOldestCommittedButNeverPending) {
  IdempotencyCache cache(2);
  cache.Insert("a", IdempotencyEntry{1, /*pending=*/true, "ra", {}});
  cache.Insert("b", IdempotencyEntry{2, false, "rb", {}});
  cache.Insert("c", IdempotencyEntry{3, false, "rc", {}});
  // "a" is in flight: it stays even though it is the oldest, so the cache runs over its bound.
  EXPECT_NE(cache.Find("a"), nullptr);
  cache.Find("a")->pending = false;
  cache.Insert("d", IdempotencyEntry{4, false, "rd", {}});
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_NE(cache.Find("d"), nullptr);
}

TEST(OpResultTest, EncodingRoundTrips) {
  OpResult r{.id = "t_0123",
             .amount = -5,
             .available = int64_t{1} << 62,
             .expires_at_us = 42,
             .decision = Decision::kDenied,
             .deny_reason = DenyReason::kTeamLimit,
             .overage = true,
             .flag = true};
  auto back = DecodeResult(EncodeResult(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(DecodeResult("garbage").ok());
}

}  // namespace
}  // namespace tokenledger
