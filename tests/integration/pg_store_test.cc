// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore and the migration runner against a real PostgreSQL, named by
// TOKENLEDGER_TEST_DATABASE_URL (scripts/test.sh sets it). Every test works in tenants of its
// own (random ids), so tests neither depend on nor disturb each other or earlier runs.
#include "postgres/pg_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "postgres/pg_encode.h"
#include "postgres/pg_migrate.h"
#include "store/store_rules.h"
#include "store_contract/store_contract.h"

namespace tokenledger {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string DatabaseUrl() {
  const char* url = std::getenv("TOKENLEDGER_TEST_DATABASE_URL");
  return url == nullptr ? "" : url;
}

std::string RandomSuffix() {
  static absl::BitGen gen;
  return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

uint64_t RandomBatchId() {
  static absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen, 1, uint64_t{1} << 62);
}

// Adds a server option (e.g. "-c search_path=x") to a URI or key=value connection string.
std::string WithServerOptions(const std::string& url, const std::string& options) {
  if (url.rfind("postgres", 0) == 0 && url.find("://") != std::string::npos) {
    std::string encoded;
    for (char c : options) {
      if (c == ' ') {
        encoded += "%20";
      } else if (c == '=') {
        encoded += "%3D";
      } else {
        encoded += c;
      }
    }
    return absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&", "options=", encoded);
  }
  return absl::StrCat(url, " options='", options, "'");
}

// The mutation and record builders the store contract suite uses (store_contract.h).
using store_contract::AccountMutation;
using store_contract::GrantMutation;
using store_contract::TestTenantMutation;
using store_contract::Transfer;

// The holds of `tenant` in a snapshot, by id, and the segments it has records in.
std::map<std::string, HoldRecord> HoldsOf(const Snapshot& s, const std::string& tenant) {
  std::map<std::string, HoldRecord> out;
  for (const HoldRecord& h : s.holds) {
    if (h.tenant_id == tenant) out[h.hold_id] = h;
  }
  return out;
}
std::vector<HoldSegment> SegmentsOf(const Snapshot& s, const std::string& tenant) {
  std::vector<HoldSegment> out;
  for (const HoldSegment& seg : s.hold_segments) {
    if (seg.tenant_id == tenant) out.push_back(seg);
  }
  return out;
}
std::set<int64_t> SegmentIdsOf(const Snapshot& s, const std::string& tenant) {
  std::set<int64_t> out;
  for (const HoldSegment& seg : SegmentsOf(s, tenant)) out.insert(seg.segment);
  return out;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty()) << "TOKENLEDGER_TEST_DATABASE_URL is not set (scripts/test.sh "
                                  "sets it; scripts/pg.sh url prints one)";
    static const absl::Status migrated = ApplyMigrations(url_, DefaultMigrationsDir());
    ASSERT_TRUE(migrated.ok()) << migrated;
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    tenant_ = "t-" + RandomSuffix();
    Mutation tenant = TestTenantMutation(tenant_);
    Mutation alice = AccountMutation(tenant_, "alice");
    Mutation bob = AccountMutation(tenant_, "bob");
    ASSERT_TRUE(Commit({&tenant, &alice, &bob}).ok());
  }

  std::unique_ptr<PgStore> OpenStore(PgStoreOptions options = {}) {
    absl::StatusOr<std::unique_ptr<PgStore>> store = PgStore::Open(url_, std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  absl::StatusOr<std::vector<MutationOutcome>> Commit(std::vector<const Mutation*> batch,
                                                      uint64_t batch_id = 0) {
    return store_->Commit(batch, batch_id != 0 ? batch_id : RandomBatchId());
  }

  // This test's tenant's accounts in a snapshot, by id.
  std::map<std::string, Snapshot::AccountBalance> Accounts(const Snapshot& s) {
    std::map<std::string, Snapshot::AccountBalance> out;
    for (const Snapshot::AccountBalance& ab : s.accounts) {
      if (ab.account.tenant_id == tenant_) out[ab.account.account_id] = ab;
    }
    return out;
  }

  PostedTotals Balance(const std::string& account) {
    absl::StatusOr<Snapshot> s = store_->Load();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return {};
    auto accounts = Accounts(*s);
    auto it = accounts.find(account);
    EXPECT_NE(it, accounts.end()) << account;
    return it == accounts.end() ? PostedTotals{} : it->second.posted;
  }

  // Commits the holds `ids` open (alice's, expiring in 10 minutes), then closes `closed` of them
  // as `how`.
  void PlaceAndClose(std::vector<std::string> ids, std::vector<std::string> closed,
                     HoldStatus how) {
    const int64_t expires = absl::ToUnixMicros(absl::Now() + absl::Minutes(10));
    Mutation place, close;
    for (const std::string& id : ids) {
      place.holds.push_back(HoldRecord{.tenant_id = tenant_,
                                       .hold_id = id,
                                       .account_id = "alice",
                                       .amount = 1,
                                       .expires_at_us = expires});
    }
    for (const std::string& id : closed) {
      close.holds.push_back(HoldRecord{
          .tenant_id = tenant_, .hold_id = id, .account_id = "alice", .amount = 1, .status = how});
    }
    ASSERT_TRUE(Commit({&place}).ok());
    ASSERT_TRUE(Commit({&close}).ok());
  }

  // Runs one statement with this test's tenant as $1, outside the store.
  void Sql(const std::string& statement) {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec_params0(statement, tenant_);
    txn.commit();
  }

  // The holds of this test's tenant that Load returns, by id.
  std::map<std::string, HoldStatus> LoadedHolds() {
    absl::StatusOr<Snapshot> s = store_->Load();
    EXPECT_TRUE(s.ok()) << s.status();
    std::map<std::string, HoldStatus> holds;
    if (!s.ok()) return holds;
    for (const HoldRecord& h : s->holds) {
      if (h.tenant_id == tenant_) holds[h.hold_id] = h.status;
    }
    return holds;
  }

  std::vector<std::string> TransferIds(const std::string& account, int32_t limit = 1000) {
    auto page = store_->ListTransfers(
        TransferQuery{.tenant_id = tenant_, .account_id = account, .limit = limit});
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const TransferRecord& t : *page) ids.push_back(t.transfer_id);
    }
    return ids;
  }

  std::string url_;
  std::unique_ptr<PgStore> store_;
  std::string tenant_;
};

// The store contract on PgStore: every test in a tenant of its own; a reopen is a new PgStore on
// the same database.
class PgStoreEnv {
 public:
  void SetUp() {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty()) << "TOKENLEDGER_TEST_DATABASE_URL is not set";
    static const absl::Status migrated = ApplyMigrations(url_, DefaultMigrationsDir());
    ASSERT_TRUE(migrated.ok()) << migrated;
    Reopen();
  }
  LedgerStore& store() { return *store_; }
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<PgStore>> store = PgStore::Open(url_, PgStoreOptions{});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::string NewTenant() { return "t-" + RandomSuffix(); }
  uint64_t NewBatchId() { return RandomBatchId(); }

 private:
  std::string url_;
  std::unique_ptr<PgStore> store_;
};
}  // namespace
// In the suite's namespace: the macro names the suite's registration unqualified.
namespace store_contract {
INSTANTIATE_TYPED_TEST_SUITE_P(PgStore, StoreContractTest, PgStoreEnv);
}  // namespace store_contract
namespace {

TEST_F(PgStoreTest, LoadAfterRestartReturnsExactlyTheCommittedState) {
  Mutation policy_account = AccountMutation(tenant_, "carol",
                                            Policy{.monthly_allocation = 500,
                                                   .rollover_max = 100,
                                                   .daily_limit = 50,
                                                   .overdraft_limit = 10});
  Mutation team;
  team.team = TeamRecord{
      .tenant_id = tenant_, .team_id = "eng", .display_name = "Engineering", .monthly_cap = 9000};
  Mutation key;
  key.api_key = ApiKeyRecord{.key_id = "k-" + tenant_,
                             .tenant_id = tenant_,
                             .role = Role::kGateway,
                             .key_hash = "hash-" + tenant_,
                             .created_at_us = 5};
  Mutation grant_a = GrantMutation(tenant_, "alice", 1000, "ga");
  Mutation grant_c = GrantMutation(tenant_, "carol", 400, "gc");
  ASSERT_TRUE(Commit({&policy_account, &team, &key, &grant_a, &grant_c}).ok());

  Mutation usage;
  usage.transfers.push_back(Transfer(tenant_, "u1", "alice", "@usage", 250, TransferKind::kUsage));
  usage.transfers.push_back(
      Transfer(tenant_, "x1", "carol", "@expired", 300, TransferKind::kResetExpire));
  usage.transfers.push_back(
      Transfer(tenant_, "r1", "@funding", "carol", 500, TransferKind::kResetGrant));
  usage.transfers.push_back(
      Transfer(tenant_, "adj", "@adjustments", "bob", 7, TransferKind::kAdjustment));
  usage.holds.push_back(HoldRecord{.tenant_id = tenant_,
                                   .hold_id = "h1",
                                   .account_id = "alice",
                                   .amount = 40,
                                   .created_at_us = 10,
                                   .expires_at_us = 20,
                                   .idempotency_key = "hk"});
  Mutation revoke;
  revoke.api_key = *key.api_key;
  revoke.api_key->revoked = true;
  ASSERT_TRUE(Commit({&usage, &revoke}).ok());

  // A new process: nothing in memory, everything from the database.
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  auto accounts = Accounts(*s);
  ASSERT_EQ(accounts.size(), 7u);  // four system accounts, alice, bob, carol
  EXPECT_EQ(accounts["alice"].posted,
            (PostedTotals{.credits = 1000, .debits = 250, .granted = 1000, .spent = 250}));
  EXPECT_EQ(accounts["bob"].posted, (PostedTotals{.credits = 7}));
  EXPECT_EQ(accounts["carol"].posted,
            (PostedTotals{.credits = 900, .debits = 300, .granted = 900, .expired = 300}));
  EXPECT_EQ(accounts["@funding"].posted, (PostedTotals{.debits = 1900}));
  EXPECT_EQ(accounts["@usage"].posted, (PostedTotals{.credits = 250}));
  EXPECT_EQ(accounts["@expired"].posted, (PostedTotals{.credits = 300}));
  EXPECT_EQ(accounts["@adjustments"].posted, (PostedTotals{.debits = 7}));
  int64_t sum = 0;
  for (const auto& [id, ab] : accounts) sum += ab.posted.credits - ab.posted.debits;
  EXPECT_EQ(sum, 0);

  const AccountRecord& carol = accounts["carol"].account;
  ASSERT_TRUE(carol.policy.has_value());
  EXPECT_EQ(carol.policy->monthly_allocation, 500);
  EXPECT_EQ(carol.policy->overdraft_limit, 10);
  EXPECT_EQ(carol.display_name, "Account carol");
  EXPECT_EQ(carol.team_id, "eng");
  EXPECT_EQ(carol.created_at_us, 77);
  EXPECT_FALSE(accounts["alice"].account.policy.has_value());
  EXPECT_EQ(accounts["@funding"].account.created_at_us, 12345);

  bool found_tenant = false;
  for (const TenantRecord& t : s->tenants) {
    if (t.tenant_id != tenant_) continue;
    found_tenant = true;
    EXPECT_EQ(t.display_name, "Test tenant");
    EXPECT_EQ(t.unit, "tokens");
    EXPECT_EQ(t.timezone, "Europe/Paris");
    EXPECT_EQ(t.created_at_us, 12345);
  }
  EXPECT_TRUE(found_tenant);
  bool found_team = false;
  for (const TeamRecord& t : s->teams) {
    if (t.tenant_id != tenant_) continue;
    found_team = true;
    EXPECT_EQ(t.monthly_cap, 9000);
  }
  EXPECT_TRUE(found_team);
  bool found_key = false;
  for (const ApiKeyRecord& k : s->api_keys) {
    if (k.key_id != "k-" + tenant_) continue;
    found_key = true;
    EXPECT_EQ(k.role, Role::kGateway);
    EXPECT_EQ(k.tenant_id, tenant_);
    EXPECT_TRUE(k.revoked);
  }
  EXPECT_TRUE(found_key);
  bool found_hold = false;
  for (const HoldRecord& h : s->holds) {
    if (h.tenant_id != tenant_) continue;
    found_hold = true;
    EXPECT_EQ(h.hold_id, "h1");
    EXPECT_EQ(h.amount, 40);
    EXPECT_EQ(h.status, HoldStatus::kOpen);
    EXPECT_EQ(h.idempotency_key, "hk");
  }
  EXPECT_TRUE(found_hold);
  bool found_idem = false;
  for (const IdempotencyRecord& r : s->idempotency) {
    if (r.tenant_id != tenant_ || r.key != "ga") continue;
    found_idem = true;
    EXPECT_EQ(r.fingerprint, 0xfedcba9876543210u);
    EXPECT_EQ(r.response, "r-ga");
  }
  EXPECT_TRUE(found_idem);
}

TEST_F(PgStoreTest, DuplicateIdempotencyKeyIsRefusedByTheDatabase) {
  Mutation first = GrantMutation(tenant_, "alice", 10, "k1");
  ASSERT_TRUE(Commit({&first}).ok());
  // A fresh store: the duplicate is found by the database, not by any memory.
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  Mutation again = GrantMutation(tenant_, "alice", 999, "k1");
  again.transfers[0].transfer_id = "t-again";
  again.idempotency->response = "other response";
  Mutation fresh = GrantMutation(tenant_, "bob", 3, "k2");
  Mutation fresh_twice = GrantMutation(tenant_, "bob", 4, "k2");  // same key, same batch
  fresh_twice.transfers[0].transfer_id = "t-twice";
  absl::StatusOr<std::vector<MutationOutcome>> out = Commit({&again, &fresh, &fresh_twice});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_FALSE((*out)[0].committed);
  EXPECT_EQ((*out)[0].existing.tenant_id, tenant_);
  EXPECT_EQ((*out)[0].existing.key, "k1");
  EXPECT_EQ((*out)[0].existing.response, "r-k1");
  EXPECT_EQ((*out)[0].existing.fingerprint, 0xfedcba9876543210u);
  EXPECT_TRUE((*out)[1].committed);
  EXPECT_FALSE((*out)[2].committed);
  EXPECT_EQ((*out)[2].existing.response, "r-k2");

  EXPECT_THAT(TransferIds("alice"), ElementsAre("t-k1"));
  EXPECT_THAT(TransferIds("bob"), ElementsAre("t-k2"));
  EXPECT_EQ(Balance("alice").credits, 10);
  EXPECT_EQ(Balance("bob").credits, 3);
  auto stored = store_->GetIdempotency(tenant_, "k1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->response, "r-k1");
  // Operator-scope keys (empty tenant) are their own scope.
  EXPECT_FALSE(store_->GetIdempotency("", "k1")->has_value());
}

// Strings that break naive array literals, JSON or SQL.
const std::vector<std::string>& NastyStrings() {
  static const auto* strings = new std::vector<std::string>{
      "",
      "plain",
      "with space",
      " leading and trailing ",
      "quote\"inside",
      "\"",
      "back\\slash",
      "\\",
      "\\\\\"",
      "trailing backslash\\",
      "comma,separated",
      "{braces}",
      "{",
      "}",
      "{\"a\":1}",
      "NULL",
      "null",
      "Null",
      "(parens)",
      "'single quotes'",
      "'; DROP TABLE transfers; --",
      "$1 $2::text[]",
      "%s %d %%",
      "tab\there\nnewline\rreturn",
      "\x01\x1f control",
      "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80",  // héllo ✓ 😀
      "\\x41",
      "[1,2]",
      "a\"b\\c,d{e}f",
  };
  return *strings;
}

TEST_F(PgStoreTest, ArrayLiteralEscapingRoundTrips) {
  {
    pg_internal::ArrayLiteral lit;
    lit.AddText("a\"b");
    lit.AddText("c\\d");
    lit.AddNull();
    lit.AddText("NULL");
    EXPECT_EQ(std::move(lit).Finish(), R"({"a\"b","c\\d",NULL,"NULL"})");
    pg_internal::ArrayLiteral bytes;
    bytes.AddBytes(std::string("\x00\xff", 2));
    EXPECT_EQ(std::move(bytes).Finish(), R"({"\\x00ff"})");
    pg_internal::ArrayLiteral empty;
    EXPECT_EQ(std::move(empty).Finish(), "{}");
  }
  // Through the server: every string comes back unchanged, in order; NULL stays NULL.
  pqxx::connection conn(url_);
  pqxx::nontransaction txn(conn);
  pg_internal::ArrayLiteral lit;
  for (const std::string& s : NastyStrings()) lit.AddText(s);
  lit.AddNull();
  pqxx::result r = txn.exec_params(
      "SELECT u, u IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS x(u, o) ORDER BY o",
      std::move(lit).Finish());
  ASSERT_EQ(r.size(), NastyStrings().size() + 1);
  for (size_t i = 0; i < NastyStrings().size(); ++i) {
    EXPECT_FALSE(r[i][1].as<bool>());
    EXPECT_EQ(r[i][0].as<std::string>(), NastyStrings()[i]) << i;
  }
  EXPECT_TRUE(r[NastyStrings().size()][1].as<bool>());

  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  pg_internal::ArrayLiteral bytes;
  bytes.AddBytes(all_bytes);
  bytes.AddBytes("");
  r = txn.exec_params(
      "SELECT length(u) FROM unnest($1::bytea[]) WITH ORDINALITY AS x(u, o) "
      "ORDER BY o",
      std::move(bytes).Finish());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][0].as<int>(), 256);
  EXPECT_EQ(r[1][0].as<int>(), 0);
}

TEST_F(PgStoreTest, StoredStringsRoundTripThroughEveryPath) {
  const std::vector<std::string>& nasty = NastyStrings();
  // An account id with every special character, in the composite foreign keys too.
  const std::string odd_account = "odd,\"acc\\ount{}\" NULL";
  Mutation account = AccountMutation(tenant_, odd_account);
  // Every nasty string in one: the accounts are read back by COPY, whose text format escapes
  // tabs, newlines, carriage returns, backslashes and other control characters.
  const std::string every_nasty = absl::StrJoin(nasty, "\t");
  account.account->display_name = every_nasty;
  account.account->team_id = nasty[23];
  // Model names in the policy's model limits (JSON, then arrays through COPY), prices and holds
  // (open: a hold batch row; closed: a row of their own).
  Policy policy;
  Mutation prices_and_holds;
  for (size_t i = 0; i < nasty.size(); ++i) {
    policy.model_limits.push_back(ModelLimit{nasty[i], static_cast<int64_t>(i)});
    if (!nasty[i].empty()) {
      prices_and_holds.prices.push_back(PriceRecord{
          .tenant_id = tenant_, .model = nasty[i], .effective_at_us = 1, .input_per_million = 2});
    }
    prices_and_holds.holds.push_back(
        HoldRecord{.tenant_id = tenant_,
                   .hold_id = absl::StrCat("h", i),
                   .account_id = "alice",
                   .amount = 1,
                   .expires_at_us = absl::ToUnixMicros(absl::Now() + absl::Minutes(10)),
                   .status = i % 2 == 0 ? HoldStatus::kOpen : HoldStatus::kReleased,
                   .model = nasty[i]});
  }
  account.account->policy = policy;
  Mutation team;
  team.team = TeamRecord{.tenant_id = tenant_, .team_id = nasty[14], .display_name = nasty[25]};
  ASSERT_TRUE(Commit({&account, &team, &prices_and_holds}).ok());

  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  std::vector<Mutation> mutations;
  for (size_t i = 0; i < nasty.size(); ++i) {
    Mutation m;
    m.idempotency = IdempotencyRecord{.tenant_id = tenant_,
                                      .key = absl::StrCat(i, nasty[i]),
                                      .fingerprint = i,
                                      .response = all_bytes + nasty[i]};
    TransferRecord t = Transfer(tenant_, absl::StrCat("id", i, nasty[i]), "@funding", odd_account,
                                1, TransferKind::kGrant, /*created_at_us=*/i);
    t.request_id = nasty[i];
    t.model = nasty[nasty.size() - 1 - i];
    t.memo = nasty[i] + nasty[i];
    t.hold_id = nasty[i];
    t.idempotency_key = nasty[i];
    t.metadata = {{nasty[i], nasty[nasty.size() - 1 - i]}, {"k" + nasty[i], nasty[i]}};
    m.transfers.push_back(std::move(t));
    mutations.push_back(std::move(m));
  }
  std::vector<const Mutation*> batch;
  for (const Mutation& m : mutations) batch.push_back(&m);
  absl::StatusOr<std::vector<MutationOutcome>> out = Commit(batch);
  ASSERT_TRUE(out.ok()) << out.status();

  auto page = store_->ListTransfers(
      TransferQuery{.tenant_id = tenant_, .account_id = odd_account, .limit = 1000});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), nasty.size());
  for (size_t j = 0; j < nasty.size(); ++j) {
    const TransferRecord& got = (*page)[nasty.size() - 1 - j];  // newest first
    const TransferRecord& want = mutations[j].transfers[0];
    EXPECT_EQ(got.transfer_id, want.transfer_id);
    EXPECT_EQ(got.credit_account_id, odd_account);
    EXPECT_EQ(got.request_id, want.request_id);
    EXPECT_EQ(got.model, want.model);
    EXPECT_EQ(got.memo, want.memo);
    EXPECT_EQ(got.hold_id, want.hold_id);
    EXPECT_EQ(got.idempotency_key, want.idempotency_key);
    EXPECT_EQ(got.created_at_us, want.created_at_us);
    EXPECT_EQ(got.metadata, NormalizeMetadata(want.metadata)) << j;

    auto idem = store_->GetIdempotency(tenant_, mutations[j].idempotency->key);
    ASSERT_TRUE(idem.ok() && idem->has_value()) << j;
    EXPECT_EQ((*idem)->response, mutations[j].idempotency->response) << j;
    EXPECT_EQ((*idem)->fingerprint, j);
  }

  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok());
  auto accounts = Accounts(*s);
  ASSERT_TRUE(accounts.contains(odd_account));
  EXPECT_EQ(accounts[odd_account].account.display_name, every_nasty);
  EXPECT_EQ(accounts[odd_account].account.team_id, nasty[23]);
  EXPECT_EQ(accounts[odd_account].posted.credits, static_cast<int64_t>(nasty.size()));
  ASSERT_TRUE(accounts[odd_account].account.policy.has_value());
  EXPECT_EQ(accounts[odd_account].account.policy->model_limits,
            NormalizeModelLimits(policy.model_limits));
  std::vector<PriceRecord> prices = store_contract::PricesOf(*s, tenant_);
  std::set<std::string> price_models;
  for (const PriceRecord& p : prices) price_models.insert(p.model);
  EXPECT_EQ(price_models.size(), nasty.size() - 1);
  for (size_t i = 1; i < nasty.size(); ++i) EXPECT_TRUE(price_models.contains(nasty[i])) << i;
  std::map<std::string, HoldRecord> holds = HoldsOf(*s, tenant_);
  ASSERT_EQ(holds.size(), nasty.size());
  for (size_t i = 0; i < nasty.size(); ++i) EXPECT_EQ(holds[absl::StrCat("h", i)].model, nasty[i]);
  bool found_team = false;
  for (const TeamRecord& t : s->teams) {
    if (t.tenant_id == tenant_ && t.team_id == nasty[14]) {
      found_team = true;
      EXPECT_EQ(t.display_name, nasty[25]);
    }
  }
  EXPECT_TRUE(found_team);

  // Text PostgreSQL cannot hold is refused before anything is sent.
  Mutation nul = GrantMutation(tenant_, "alice", 1, "nul");
  nul.transfers[0].memo = std::string("a\0b", 3);
  EXPECT_EQ(Commit({&nul}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PgStoreTest, ListTransfersPagesNewestFirstWithSinceAndUntil) {
  std::vector<Mutation> mutations;
  for (int i = 0; i < 10; ++i) {
    Mutation m;
    m.transfers.push_back(Transfer(tenant_, absl::StrCat("t", i), "@funding",
                                   i % 2 == 0 ? "alice" : "bob", 1 + i, TransferKind::kGrant,
                                   /*created_at_us=*/100 + i));
    if (i == 3) {
      m.transfers.push_back(
          Transfer(tenant_, "pay", "alice", "bob", 1, TransferKind::kAdjustment, 100 + i));
    }
    mutations.push_back(std::move(m));
  }
  // Two batches: seq increases across batches and within a batch in batch order.
  ASSERT_TRUE(Commit({&mutations[0], &mutations[1], &mutations[2], &mutations[3]}).ok());
  ASSERT_TRUE(Commit({&mutations[4], &mutations[5], &mutations[6], &mutations[7], &mutations[8],
                      &mutations[9]})
                  .ok());

  TransferQuery q{.tenant_id = tenant_, .account_id = "alice", .limit = 3};
  auto page = store_->ListTransfers(q);
  ASSERT_TRUE(page.ok()) << page.status();
  std::vector<std::string> ids;
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("t8", "t6", "t4"));
  EXPECT_GT((*page)[0].seq, (*page)[1].seq);
  EXPECT_GT((*page)[1].seq, (*page)[2].seq);
  EXPECT_EQ((*page)[0].amount, 9);
  EXPECT_EQ((*page)[0].kind, TransferKind::kGrant);
  EXPECT_EQ((*page)[0].tenant_id, tenant_);

  q.before_seq = page->back().seq;
  page = store_->ListTransfers(q);
  ASSERT_TRUE(page.ok());
  ids.clear();
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("pay", "t2", "t0"));

  q.before_seq = page->back().seq;
  page = store_->ListTransfers(q);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(*page, IsEmpty());

  TransferQuery window{
      .tenant_id = tenant_, .account_id = "bob", .limit = 100, .since_us = 103, .until_us = 107};
  page = store_->ListTransfers(window);
  ASSERT_TRUE(page.ok());
  ids.clear();
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("t5", "pay", "t3"));

  window.since_us = 0;
  window.limit = 2;
  page = store_->ListTransfers(window);
  ASSERT_TRUE(page.ok());
  ids.clear();
  for (const auto& t : *page) ids.push_back(t.transfer_id);
  EXPECT_THAT(ids, ElementsAre("t5", "pay"));

  // Another tenant's account of the same name sees nothing of these.
  EXPECT_THAT(*store_->ListTransfers({.tenant_id = tenant_ + "x", .account_id = "alice"}),
              IsEmpty());
  EXPECT_EQ(store_->ListTransfers({.tenant_id = tenant_, .account_id = "alice", .limit = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PgStoreTest, RecomputeFindsACorruptedBalanceAndRepairFixesIt) {
  Mutation grant = GrantMutation(tenant_, "alice", 100, "g");
  Mutation spend;
  spend.transfers.push_back(Transfer(tenant_, "u1", "alice", "@usage", 30, TransferKind::kUsage));
  spend.holds.push_back(
      HoldRecord{.tenant_id = tenant_, .hold_id = "h1", .account_id = "alice", .amount = 5});
  spend.holds.push_back(
      HoldRecord{.tenant_id = tenant_, .hold_id = "h2", .account_id = "alice", .amount = 7});
  Mutation capture;
  capture.holds.push_back(HoldRecord{.tenant_id = tenant_,
                                     .hold_id = "h2",
                                     .account_id = "alice",
                                     .amount = 7,
                                     .status = HoldStatus::kCaptured});
  ASSERT_TRUE(Commit({&grant, &spend, &capture}).ok());

  {
    // A balance changed behind the ledger's back.
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec_params0(
        "UPDATE balances SET credits = credits + 5, spent = 1 "
        "WHERE tenant_id = $1 AND account_id = 'alice'",
        tenant_);
    txn.commit();
  }

  absl::StatusOr<ReconcileData> data = store_->Recompute(tenant_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->transfers_checked, 2);
  EXPECT_EQ(data->ledger_sum, 0);
  ASSERT_EQ(data->rows.size(), 6u);
  std::vector<std::pair<std::string, PostedTotals>> fixes;
  for (const ReconcileData::Row& row : data->rows) {
    if (row.account_id == "alice") {
      EXPECT_EQ(row.recomputed,
                (PostedTotals{.credits = 100, .debits = 30, .granted = 100, .spent = 30}));
      EXPECT_EQ(row.stored,
                (PostedTotals{.credits = 105, .debits = 30, .granted = 100, .spent = 1}));
      EXPECT_EQ(row.open_held, 5);  // h2 was captured
    } else {
      EXPECT_EQ(row.recomputed, row.stored) << row.account_id;
      EXPECT_EQ(row.open_held, 0);
    }
    if (row.recomputed != row.stored) fixes.emplace_back(row.account_id, row.recomputed);
  }
  ASSERT_EQ(fixes.size(), 1u);
  const AuditRecord audit{.tenant_id = tenant_,
                          .actor_key_id = "k_admin",
                          .action = "Reconcile",
                          .target = tenant_,
                          .detail = "repaired 1",
                          .created_at_us = 5};
  ASSERT_TRUE(store_->RepairBalances(tenant_, fixes, audit).ok());

  data = store_->Recompute(tenant_);
  ASSERT_TRUE(data.ok());
  for (const ReconcileData::Row& row : data->rows) {
    EXPECT_EQ(row.recomputed, row.stored) << row.account_id;
  }
  EXPECT_EQ(Balance("alice").credits, 100);
  // Repairing an account that does not exist fails and changes nothing, its audit event
  // included.
  EXPECT_FALSE(store_->RepairBalances(tenant_, {{"nobody", PostedTotals{}}}, audit).ok());
  absl::StatusOr<std::vector<AuditRecord>> events =
      store_->ListAudit(AuditQuery{.tenant_id = tenant_});
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actor_key_id, "k_admin");
  EXPECT_EQ((*events)[0].detail, "repaired 1");
}

TEST_F(PgStoreTest, AuditEventsCommitWithTheirChangeAndCannotBeEdited) {
  Mutation grant = GrantMutation(tenant_, "alice", 100, "audited");
  grant.audit.push_back(AuditRecord{.tenant_id = tenant_,
                                    .actor_key_id = "k_hr",
                                    .action = "Grant",
                                    .target = "alice",
                                    .detail = "GRANT +100 'quoted' \\ text",
                                    .created_at_us = 9});
  ASSERT_TRUE(Commit({&grant}).ok());
  // A replay of the same key commits nothing, so it records nothing either.
  ASSERT_TRUE(Commit({&grant}).ok());
  absl::StatusOr<std::vector<AuditRecord>> events =
      store_->ListAudit(AuditQuery{.tenant_id = tenant_});
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].detail, "GRANT +100 'quoted' \\ text");
  EXPECT_EQ((*events)[0].action, "Grant");
  EXPECT_GT((*events)[0].seq, 0);
  // Even with SQL access, the table is append-only.
  pqxx::connection conn(url_);
  pqxx::nontransaction txn(conn);
  EXPECT_THROW(
      txn.exec_params("UPDATE audit_events SET detail = 'x' WHERE tenant_id = $1", tenant_),
      pqxx::sql_error);
  EXPECT_THROW(txn.exec_params("DELETE FROM audit_events WHERE tenant_id = $1", tenant_),
               pqxx::sql_error);
}

TEST_F(PgStoreTest, CommittedBatchTellsWhetherABatchCommitted) {
  const uint64_t committed = RandomBatchId();
  const uint64_t never = RandomBatchId();
  Mutation grant = GrantMutation(tenant_, "alice", 1, "cb");
  ASSERT_TRUE(Commit({&grant}, committed).ok());
  EXPECT_TRUE(*store_->CommittedBatch(committed));
  EXPECT_FALSE(*store_->CommittedBatch(never));
  // A failed batch leaves no id behind.
  const uint64_t failed = RandomBatchId();
  Mutation bad = GrantMutation(tenant_, "nobody", 1, "cb2");
  EXPECT_FALSE(Commit({&bad}, failed).ok());
  EXPECT_FALSE(*store_->CommittedBatch(failed));
  // Ids above 2^63 survive the bigint column.
  const uint64_t high = (uint64_t{1} << 63) | RandomBatchId();
  Mutation grant2 = GrantMutation(tenant_, "alice", 1, "cb3");
  ASSERT_TRUE(Commit({&grant2}, high).ok());
  EXPECT_TRUE(*store_->CommittedBatch(high));
}

TEST_F(PgStoreTest, RecentlyClosedHoldsAreLoadedOldOnesAreNot) {
  PlaceAndClose({"open", "recent", "old"}, {"recent", "old"}, HoldStatus::kReleased);
  Sql("UPDATE holds SET closed_at = closed_at - 7200000000 "
      "WHERE tenant_id = $1 AND hold_id = 'old'");
  EXPECT_THAT(LoadedHolds(),
              ElementsAre(Pair("open", HoldStatus::kOpen), Pair("recent", HoldStatus::kReleased)));
}

// Start-up reads every open hold but only the most recently closed ones (closed_holds_load_max):
// it does not grow with an hour of traffic. GetHold answers for a hold Load left out.
TEST_F(PgStoreTest, LoadReadsOnlyTheMostRecentlyClosedHoldsAndGetHoldFindsTheOthers) {
  store_ = OpenStore(PgStoreOptions{.closed_holds_load_max = 2});
  ASSERT_NE(store_, nullptr);
  PlaceAndClose({"open", "c1", "c2", "c3"}, {"c1", "c2", "c3"}, HoldStatus::kCaptured);
  // Closed in the order c1, c2, c3, later than any other test's holds in this database: ten
  // minutes ahead of now (of other tests running at the same time), and later than those of an
  // earlier run of this test (whose "now" was earlier).
  Sql("UPDATE holds SET closed_at = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
      "+ 600000000 + substr(hold_id, 2)::int WHERE tenant_id = $1 AND hold_id LIKE 'c_'");
  EXPECT_THAT(LoadedHolds(),
              ElementsAre(Pair("c2", HoldStatus::kCaptured), Pair("c3", HoldStatus::kCaptured),
                          Pair("open", HoldStatus::kOpen)));

  absl::StatusOr<std::optional<HoldRecord>> c1 = store_->GetHold(tenant_, "c1");
  ASSERT_TRUE(c1.ok()) << c1.status();
  ASSERT_TRUE(c1->has_value());
  EXPECT_EQ((*c1)->status, HoldStatus::kCaptured);
  EXPECT_EQ((*c1)->account_id, "alice");
  // Unknown, and open only in a hold batch: not found.
  for (const std::string& id : {std::string("nope"), std::string("open"), std::string("c1\0", 3)}) {
    absl::StatusOr<std::optional<HoldRecord>> h = store_->GetHold(tenant_, id);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_FALSE(h->has_value()) << id;
  }
}

// Closed holds come oldest closed first: memory forgets closed holds in the order it learns of
// them, so a start-up past its limit forgets the oldest.
TEST_F(PgStoreTest, LoadGivesClosedHoldsInTheOrderTheyClosed) {
  PlaceAndClose({"b", "a", "c"}, {"b", "a", "c"}, HoldStatus::kReleased);
  // Earlier than now (later would compete with LoadReadsOnlyTheMostRecentlyClosedHolds..., which
  // takes the latest of the whole database).
  Sql("UPDATE holds SET closed_at = closed_at - 60000000 * "
      "CASE hold_id WHEN 'c' THEN 3 WHEN 'b' THEN 2 ELSE 1 END WHERE tenant_id = $1");
  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> order;
  for (const HoldRecord& h : s->holds) {
    if (h.tenant_id == tenant_) order.push_back(h.hold_id);
  }
  EXPECT_THAT(order, ElementsAre("c", "b", "a"));
}

// Holds written open go to hold_batches, one row per tenant and batch; their later states are rows
// of `holds`, which win.
TEST_F(PgStoreTest, OpenHoldsAreOneRowPerBatchAndTheirLaterRowsWin) {
  const int64_t expires = absl::ToUnixMicros(absl::Now() + absl::Minutes(10));
  auto hold = [&](const std::string& id, const std::string& account, int64_t amount) {
    return HoldRecord{.tenant_id = tenant_,
                      .hold_id = id,
                      .account_id = account,
                      .amount = amount,
                      .created_at_us = expires - 600'000'000,
                      .expires_at_us = expires,
                      .idempotency_key = "k-" + id,
                      .fingerprint = 0x8000000000000001u,
                      .response = std::string("answer\0of ", 10) + id};
  };
  Mutation a, b, c;
  a.holds = {hold("h1", "alice", 5), hold("h2", "alice", 7)};
  b.holds = {hold("h3", "bob", 11)};
  c.holds = {hold("h4", "bob", 13)};
  ASSERT_TRUE(Commit({&a, &b}).ok());
  ASSERT_TRUE(Commit({&c}).ok());
  pqxx::connection conn(url_);
  auto count = [&](const std::string& table) {
    pqxx::nontransaction txn(conn);
    return txn.exec_params1("SELECT count(*) FROM " + table + " WHERE tenant_id = $1", tenant_)[0]
        .as<int>();
  };
  EXPECT_EQ(count("hold_batches"), 2);  // one per batch: 3 holds, then 1
  EXPECT_EQ(count("holds"), 0);

  // h1 captured (its row carries no answer), h4 released.
  Mutation close;
  HoldRecord h1 = hold("h1", "alice", 5);
  h1.status = HoldStatus::kCaptured;
  h1.fingerprint = 0;
  h1.response.clear();
  HoldRecord h4 = hold("h4", "bob", 13);
  h4.status = HoldStatus::kReleased;
  close.holds = {h1, h4};
  ASSERT_TRUE(Commit({&close}).ok());
  EXPECT_EQ(count("holds"), 2);

  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, HoldRecord> loaded;
  for (const HoldRecord& h : s->holds) {
    if (h.tenant_id == tenant_) loaded[h.hold_id] = h;
  }
  ASSERT_EQ(loaded.size(), 4u);
  EXPECT_EQ(loaded["h1"].status, HoldStatus::kCaptured);
  // The row has no answer: the batch entry's fills it, for a retry of the Authorize.
  EXPECT_EQ(loaded["h1"].response, hold("h1", "", 0).response);
  EXPECT_EQ(loaded["h1"].fingerprint, 0x8000000000000001u);
  EXPECT_EQ(loaded["h2"].status, HoldStatus::kOpen);
  EXPECT_EQ(loaded["h2"].amount, 7);
  EXPECT_EQ(loaded["h2"].idempotency_key, "k-h2");
  EXPECT_EQ(loaded["h2"].response, hold("h2", "", 0).response);
  EXPECT_EQ(loaded["h3"].status, HoldStatus::kOpen);
  EXPECT_EQ(loaded["h4"].status, HoldStatus::kReleased);

  // Reconcile's view of the store: the open holds of the batches count as held.
  absl::StatusOr<ReconcileData> data = store_->Recompute(tenant_);
  ASSERT_TRUE(data.ok()) << data.status();
  std::map<std::string, int64_t> held;
  for (const ReconcileData::Row& row : data->rows) held[row.account_id] = row.open_held;
  EXPECT_EQ(held["alice"], 7);
  EXPECT_EQ(held["bob"], 11);
}

// Open holds go to rows of their segment (one per tenant, segment and batch); dropping a segment
// deletes its rows, and only those: the closing rows stay, and so does every other segment.
TEST_F(PgStoreTest, DroppingASegmentDeletesItsOpenRecordsOnly) {
  const int64_t expires = absl::ToUnixMicros(absl::Now() + absl::Minutes(10));
  auto hold = [&](const std::string& id, int64_t segment) {
    return HoldRecord{.tenant_id = tenant_,
                      .hold_id = id,
                      .account_id = "alice",
                      .amount = 5,
                      .created_at_us = expires - 600'000'000,
                      .expires_at_us = expires,
                      .idempotency_key = "k-" + id,
                      .fingerprint = 7,
                      .response = "answer " + id,
                      .segment = segment};
  };
  Mutation a, b;
  a.holds = {hold("h1", 41), hold("h2", 41), hold("h3", 42)};  // two segments in one batch
  b.holds = {hold("h4", 41)};
  ASSERT_TRUE(Commit({&a}).ok());
  ASSERT_TRUE(Commit({&b}).ok());
  pqxx::connection conn(url_);
  auto rows = [&](int64_t segment) {
    pqxx::nontransaction txn(conn);
    return txn
        .exec_params1("SELECT count(*) FROM hold_batches WHERE tenant_id = $1 AND segment = $2",
                      tenant_, segment)[0]
        .as<int>();
  };
  EXPECT_EQ(rows(41), 2);
  EXPECT_EQ(rows(42), 1);
  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, HoldRecord> loaded = HoldsOf(*s, tenant_);
  EXPECT_EQ(loaded["h1"].segment, 41);
  EXPECT_EQ(loaded["h3"].segment, 42);
  EXPECT_EQ(SegmentIdsOf(*s, tenant_), (std::set<int64_t>{41, 42}));

  // Segment 41's holds close (h2 expired in memory: its row comes with the drop); it is dropped.
  HoldRecord h1 = hold("h1", 0), h2 = hold("h2", 0), h4 = hold("h4", 0);
  h1.status = HoldStatus::kCaptured;
  h4.status = HoldStatus::kReleased;
  Mutation close, drop;
  close.holds = {h1, h4};
  h2.status = HoldStatus::kExpired;
  drop.holds = {h2};
  drop.dropped_hold_segments = {HoldSegment{tenant_, 41}};
  ASSERT_TRUE(Commit({&close}).ok());
  ASSERT_TRUE(Commit({&drop}).ok());
  EXPECT_EQ(rows(41), 0);
  EXPECT_EQ(rows(42), 1);
  s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  loaded = HoldsOf(*s, tenant_);
  EXPECT_EQ(SegmentIdsOf(*s, tenant_), (std::set<int64_t>{42}));
  ASSERT_EQ(loaded.size(), 4u);
  EXPECT_EQ(loaded["h1"].status, HoldStatus::kCaptured);
  EXPECT_EQ(loaded["h1"].response, "answer h1");  // carried by the closing row now
  EXPECT_EQ(loaded["h2"].status, HoldStatus::kExpired);
  EXPECT_EQ(loaded["h2"].response, "answer h2");
  EXPECT_EQ(loaded["h3"].status, HoldStatus::kOpen);
  EXPECT_EQ(loaded["h4"].status, HoldStatus::kReleased);
  // Segment 0 (rows written before segments) is never dropped by segment.
  Mutation zero, drop_zero;
  zero.holds = {hold("h5", 0)};
  drop_zero.dropped_hold_segments = {HoldSegment{tenant_, 0}};
  ASSERT_TRUE(Commit({&zero}).ok());
  ASSERT_TRUE(Commit({&drop_zero}).ok());
  EXPECT_EQ(rows(0), 1);
}

// A compaction: an open hold's record written again into another segment, in the commit that
// drops its old one. The hold is then found in its new segment only.
TEST_F(PgStoreTest, AnOpenHoldWrittenAgainMovesToItsNewSegment) {
  const int64_t expires = absl::ToUnixMicros(absl::Now() + absl::Minutes(10));
  HoldRecord h{.tenant_id = tenant_,
               .hold_id = "h1",
               .account_id = "alice",
               .amount = 5,
               .created_at_us = expires - 600'000'000,
               .expires_at_us = expires,
               .idempotency_key = "k-h1",
               .fingerprint = 7,
               .response = "answer",
               .segment = 50};
  Mutation first;
  first.holds = {h};
  ASSERT_TRUE(Commit({&first}).ok());
  Mutation compact;
  h.segment = 60;
  compact.holds = {h};
  compact.dropped_hold_segments = {HoldSegment{tenant_, 50}};
  ASSERT_TRUE(Commit({&compact}).ok());
  absl::StatusOr<Snapshot> s = store_->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  std::map<std::string, HoldRecord> loaded = HoldsOf(*s, tenant_);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded["h1"].status, HoldStatus::kOpen);
  EXPECT_EQ(loaded["h1"].segment, 60);
  EXPECT_EQ(loaded["h1"].response, "answer");
  EXPECT_EQ(SegmentsOf(*s, tenant_), (std::vector<HoldSegment>{{tenant_, 60, 1}}));
}

// A hold only ever closes, also within one batch: an open record after its closing one (a
// compaction rewriting a hold whose capture was in flight) leaves it closed, in no segment.
TEST_F(PgStoreTest, HoldBatchesLongExpiredArePruned) {
  PgStoreOptions options;
  options.prune_every = 1;  // every commit prunes
  store_ = OpenStore(options);
  ASSERT_NE(store_, nullptr);
  const int64_t long_ago = absl::ToUnixMicros(absl::Now() - absl::Hours(2));
  Mutation old;
  old.holds.push_back(HoldRecord{.tenant_id = tenant_,
                                 .hold_id = "stale",
                                 .account_id = "alice",
                                 .amount = 1,
                                 .expires_at_us = long_ago});
  ASSERT_TRUE(Commit({&old}).ok());  // its own commit may prune it at once
  Mutation next = GrantMutation(tenant_, "alice", 1, "after");
  ASSERT_TRUE(Commit({&next}).ok());
  pqxx::connection conn(url_);
  pqxx::nontransaction txn(conn);
  EXPECT_EQ(txn.exec_params1("SELECT count(*) FROM hold_batches WHERE tenant_id = $1", tenant_)[0]
                .as<int>(),
            0);
}

TEST(HoldEncodingTest, RoundTripsAnyBytesAndRefusesDamage) {
  std::vector<HoldRecord> holds;
  for (const std::string& s : {std::string(""), std::string("a\0b", 3), std::string("\xff\xfe"),
                               std::string(70000, 'x')}) {
    holds.push_back(HoldRecord{.tenant_id = "t",
                               .hold_id = "h" + std::to_string(holds.size()),
                               .account_id = s,
                               .amount = INT64_MAX,
                               .created_at_us = INT64_MIN,
                               .expires_at_us = -1,
                               .idempotency_key = s,
                               .model = s,
                               .fingerprint = UINT64_MAX,
                               .response = s});
  }
  std::vector<const HoldRecord*> ptrs;
  for (const HoldRecord& h : holds) ptrs.push_back(&h);
  const std::string bytes = pg_internal::EncodeHolds(ptrs);
  absl::StatusOr<std::vector<HoldRecord>> back = pg_internal::DecodeHolds("t", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), holds.size());
  for (size_t i = 0; i < holds.size(); ++i) {
    EXPECT_EQ((*back)[i].hold_id, holds[i].hold_id);
    EXPECT_EQ((*back)[i].account_id, holds[i].account_id);
    EXPECT_EQ((*back)[i].idempotency_key, holds[i].idempotency_key);
    EXPECT_EQ((*back)[i].response, holds[i].response);
    EXPECT_EQ((*back)[i].model, holds[i].model);
    EXPECT_EQ((*back)[i].amount, holds[i].amount);
    EXPECT_EQ((*back)[i].created_at_us, holds[i].created_at_us);
    EXPECT_EQ((*back)[i].expires_at_us, holds[i].expires_at_us);
    EXPECT_EQ((*back)[i].fingerprint, holds[i].fingerprint);
    EXPECT_EQ((*back)[i].status, HoldStatus::kOpen);
    EXPECT_EQ((*back)[i].tenant_id, "t");
  }
  EXPECT_EQ(pg_internal::DecodeHolds("t", bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(pg_internal::DecodeHolds("t", "").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(pg_internal::DecodeHolds("t", "\x03").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(bytes[0], '\x02');  // the format that carries the model
  const std::string one(1, '\x01');
  EXPECT_EQ(pg_internal::DecodeHolds("t", one + bytes.substr(1)).status().code(),
            absl::StatusCode::kDataLoss);  // a format 2 value read as format 1 does not parse
}

// hold_batches.holds as PgStore wrote it before holds had a model (format 1).
std::string HoldsFormat1(const std::vector<HoldRecord>& holds) {
  std::string out(1, '\x01');
  auto put = [&out](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  for (const HoldRecord& h : holds) {
    for (const std::string* text : {&h.hold_id, &h.account_id, &h.idempotency_key, &h.response}) {
      put(text->size(), 4);
      out += *text;
    }
    for (int64_t v : {h.amount, h.created_at_us, h.expires_at_us}) put(static_cast<uint64_t>(v), 8);
    put(h.fingerprint, 8);
  }
  return out;
}

TEST(HoldEncodingTest, ReadsFormat1WrittenBeforeHoldsHadAModel) {
  const std::vector<HoldRecord> holds = {
      HoldRecord{.hold_id = "h1",
                 .account_id = "alice",
                 .amount = 5,
                 .created_at_us = 10,
                 .expires_at_us = 20,
                 .idempotency_key = "k",
                 .fingerprint = 7,
                 .response = "answer"},
      HoldRecord{.hold_id = "h2", .account_id = "bob", .amount = 1}};
  absl::StatusOr<std::vector<HoldRecord>> back = pg_internal::DecodeHolds("t", HoldsFormat1(holds));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].hold_id, "h1");
  EXPECT_EQ((*back)[0].account_id, "alice");
  EXPECT_EQ((*back)[0].idempotency_key, "k");
  EXPECT_EQ((*back)[0].response, "answer");
  EXPECT_EQ((*back)[0].amount, 5);
  EXPECT_EQ((*back)[0].created_at_us, 10);
  EXPECT_EQ((*back)[0].expires_at_us, 20);
  EXPECT_EQ((*back)[0].fingerprint, 7u);
  EXPECT_EQ((*back)[0].model, "");
  EXPECT_EQ((*back)[0].tenant_id, "t");
  EXPECT_EQ((*back)[1].hold_id, "h2");
  EXPECT_EQ((*back)[1].account_id, "bob");
  EXPECT_EQ((*back)[1].model, "");
}

TEST_F(PgStoreTest, LargeBatchCommitsInOneTransaction) {
  constexpr int kMutations = 3000;
  std::vector<Mutation> mutations;
  mutations.reserve(kMutations);
  for (int i = 0; i < kMutations; ++i) {
    Mutation m = GrantMutation(tenant_, i % 2 == 0 ? "alice" : "bob", 2, absl::StrCat("big", i));
    m.transfers[0].metadata = {{"model", "m"}, {"i", absl::StrCat(i)}};
    if (i % 10 == 0) {
      m.holds.push_back(HoldRecord{.tenant_id = tenant_,
                                   .hold_id = absl::StrCat("h", i),
                                   .account_id = "alice",
                                   .amount = 1});
    }
    mutations.push_back(std::move(m));
  }
  std::vector<const Mutation*> batch;
  for (const Mutation& m : mutations) batch.push_back(&m);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<MutationOutcome>> out = Commit(batch);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  std::cout << "committed " << kMutations << " mutations in " << took << "\n";
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_EQ(Balance("alice").credits, kMutations);
  EXPECT_EQ(Balance("bob").credits, kMutations);
  EXPECT_EQ(Balance("@funding").debits, 2 * kMutations);
}

TEST_F(PgStoreTest, RecoversAfterItsConnectionsAreKilled) {
  PgStoreOptions options;
  options.application_name = "tl-test-" + RandomSuffix();
  std::unique_ptr<PgStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Load().ok());  // opens a read connection
  Mutation g1 = GrantMutation(tenant_, "alice", 1, "rc1");
  const Mutation* b1[] = {&g1};
  ASSERT_TRUE(store->Commit(b1, RandomBatchId()).ok());

  {
    // As a database restart would: every connection of this store is closed by the server.
    pqxx::connection conn(url_);
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec_params(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE application_name = $1",
        options.application_name);
    EXPECT_EQ(r.size(), 2u);
  }
  Mutation g2 = GrantMutation(tenant_, "alice", 1, "rc2");
  const Mutation* b2[] = {&g2};
  const uint64_t id = RandomBatchId();
  absl::StatusOr<std::vector<MutationOutcome>> out = store->Commit(b2, id);
  if (absl::IsUnknown(out.status())) {
    // The batch went in one round trip, so a connection found dead then leaves it in doubt; the
    // writer asks, and commits it again when it did not commit.
    absl::StatusOr<bool> committed = store->CommittedBatch(id);
    ASSERT_TRUE(committed.ok()) << committed.status();
    EXPECT_FALSE(*committed);
    out = store->Commit(b2, RandomBatchId());
  }
  EXPECT_TRUE(out.ok()) << out.status();
  absl::StatusOr<Snapshot> s = store->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Accounts(*s)["alice"].posted.credits, 2);
}

TEST_F(PgStoreTest, ConnectionLostDuringCommitIsInDoubtAndResolvable) {
  // A deferred trigger runs at COMMIT; this one kills its own backend for one batch id only,
  // so that the connection is lost while COMMIT is under way (other users of the database are
  // not affected).
  const uint64_t doomed = RandomBatchId();
  const std::string name = "tl_test_kill_" + RandomSuffix();
  {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec("CREATE FUNCTION " + name +
             "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.batch_id = " +
             std::to_string(static_cast<int64_t>(doomed)) +
             " THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); "
             "END IF; RETURN NULL; END $$");
    txn.exec("CREATE CONSTRAINT TRIGGER " + name +
             " AFTER INSERT ON commit_batches DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
             "EXECUTE FUNCTION " +
             name + "()");
    txn.commit();
  }
  Mutation grant = GrantMutation(tenant_, "alice", 11, "doubt");
  absl::StatusOr<std::vector<MutationOutcome>> out = Commit({&grant}, doomed);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown) << out.status();
  EXPECT_THAT(std::string(out.status().message()), testing::HasSubstr("commit in doubt"));

  // The writer reconnects by itself, and the batch id answers the question.
  absl::StatusOr<bool> committed = store_->CommittedBatch(doomed);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(Balance("alice").credits, *committed ? 11 : 0);
  EXPECT_FALSE(*committed);  // the backend died before the commit record
  Mutation after = GrantMutation(tenant_, "alice", 1, "after");
  EXPECT_TRUE(Commit({&after}).ok());
  {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec("DROP TRIGGER " + name + " ON commit_batches");
    txn.exec("DROP FUNCTION " + name + "()");
    txn.commit();
  }
}

TEST(PgStoreOpenTest, UnreachableDatabaseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<PgStore>> store =
      PgStore::Open("postgresql://postgres@127.0.0.1:1/none", PgStoreOptions{});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

TEST(PgMigrateTest, ApplyingTwiceIsANoOpAndConcurrentRunsAreSafe) {
  const std::string url = DatabaseUrl();
  ASSERT_FALSE(url.empty()) << "TOKENLEDGER_TEST_DATABASE_URL is not set";
  ASSERT_TRUE(ApplyMigrations(url, DefaultMigrationsDir()).ok());
  std::vector<std::string> applied;
  ASSERT_TRUE(ApplyMigrations(url, DefaultMigrationsDir(), &applied).ok());
  EXPECT_THAT(applied, IsEmpty());

  // A fresh, empty schema, migrated by two "daemons" starting at once.
  const std::string schema = "mig_" + RandomSuffix();
  pqxx::connection admin(url);
  {
    pqxx::nontransaction txn(admin);
    txn.exec("CREATE SCHEMA " + txn.quote_name(schema));
  }
  const std::string schema_url = WithServerOptions(url, "-c search_path=" + schema);
  absl::Status results[2];
  std::vector<std::string> applied_by[2];
  {
    std::thread a(
        [&] { results[0] = ApplyMigrations(schema_url, DefaultMigrationsDir(), &applied_by[0]); });
    std::thread b(
        [&] { results[1] = ApplyMigrations(schema_url, DefaultMigrationsDir(), &applied_by[1]); });
    a.join();
    b.join();
  }
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_TRUE(results[1].ok()) << results[1];
  // Exactly one of them applied the migrations.
  EXPECT_NE(applied_by[0].empty(), applied_by[1].empty());
  const std::vector<std::string>& did = applied_by[0].empty() ? applied_by[1] : applied_by[0];
  EXPECT_THAT(did, testing::Contains("0001_init.sql"));
  {
    pqxx::nontransaction txn(admin);
    pqxx::row r = txn.exec_params1(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema);
    EXPECT_EQ(r[0].as<int>(), 15);  // fourteen tables of the migrations and schema_migrations
    pqxx::row versions =
        txn.exec1("SELECT count(*) FROM " + txn.quote_name(schema) + ".schema_migrations");
    EXPECT_EQ(versions[0].as<size_t>(), did.size());
    txn.exec("DROP SCHEMA " + txn.quote_name(schema) + " CASCADE");
  }
}

TEST(PgMigrateTest, BadDirectoryIsAnError) {
  EXPECT_EQ(ApplyMigrations("postgresql://unused", "/nonexistent/migrations").code(),
            absl::StatusCode::kInvalidArgument);
}

// A database of the release before prices, with rows in it: 0009 applies over them, they read
// back as before (no usage, no model, no model limits), and the new rows and rules work beside
// them.
TEST(PgMigrateTest, PricesMigrateADatabaseWithEarlierRows) {
  const std::string url = DatabaseUrl();
  ASSERT_FALSE(url.empty()) << "TOKENLEDGER_TEST_DATABASE_URL is not set";
  const std::string schema = "mig_" + RandomSuffix();
  const std::string schema_url = WithServerOptions(url, "-c search_path=" + schema);
  pqxx::connection admin(url);
  {
    pqxx::nontransaction txn(admin);
    txn.exec("CREATE SCHEMA " + txn.quote_name(schema));
  }
  // The migrations before 0009, from a directory of their own.
  namespace fs = std::filesystem;
  const fs::path old_dir = fs::temp_directory_path() / ("tl-migrations-" + RandomSuffix());
  fs::create_directories(old_dir);
  for (const fs::directory_entry& e : fs::directory_iterator(DefaultMigrationsDir())) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".sql") && name < "0009") fs::copy_file(e.path(), old_dir / name);
  }
  ASSERT_TRUE(ApplyMigrations(schema_url, old_dir.string()).ok());
  fs::remove_all(old_dir);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  const int64_t later = now + 600'000'000;
  {
    pqxx::connection conn(schema_url);
    pqxx::work txn(conn);
    txn.exec(
        "INSERT INTO tenants (tenant_id, created_at) VALUES ('old', 1);"
        "INSERT INTO accounts (tenant_id, account_id, has_policy, monthly_allocation, created_at) "
        "VALUES ('old', 'alice', true, 100, 1), ('old', '@usage', false, 0, 1);"
        "INSERT INTO transfers (tenant_id, transfer_id, debit_account_id, credit_account_id, "
        "amount, kind, created_at, model) VALUES ('old', 't1', 'alice', '@usage', 5, 2, 100, "
        "'gpt-4o');");
    txn.exec_params0(
        "INSERT INTO holds (tenant_id, hold_id, account_id, amount, created_at, expires_at, "
        "status, closed_at) VALUES ('old', 'closed', 'alice', 3, 1, $1, 2, $2)",
        later, now);
    const std::string open = HoldsFormat1({HoldRecord{
        .hold_id = "open", .account_id = "alice", .amount = 4, .expires_at_us = later}});
    txn.exec_params0(
        "INSERT INTO hold_batches (tenant_id, expires_max, holds) "
        "VALUES ('old', $1, decode($2, 'hex'))",
        later, absl::BytesToHexString(open));
    txn.commit();
  }
  std::vector<std::string> applied;
  ASSERT_TRUE(ApplyMigrations(schema_url, DefaultMigrationsDir(), &applied).ok());
  EXPECT_THAT(applied, ElementsAre("0009_prices.sql"));

  absl::StatusOr<std::unique_ptr<PgStore>> store =
      PgStore::Open(url, PgStoreOptions{.search_path = schema});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<Snapshot> s = (*store)->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->prices, IsEmpty());
  for (const Snapshot::AccountBalance& ab : s->accounts) {
    if (ab.account.account_id != "alice") continue;
    ASSERT_TRUE(ab.account.policy.has_value());
    EXPECT_EQ(ab.account.policy->monthly_allocation, 100);
    EXPECT_THAT(ab.account.policy->model_limits, IsEmpty());
  }
  std::map<std::string, HoldRecord> holds = HoldsOf(*s, "old");
  ASSERT_EQ(holds.size(), 2u);
  EXPECT_EQ(holds["open"].amount, 4);
  EXPECT_EQ(holds["open"].model, "");
  EXPECT_EQ(holds["closed"].model, "");
  EXPECT_EQ(holds["closed"].status, HoldStatus::kCaptured);
  auto page = (*store)->ListTransfers(
      TransferQuery{.tenant_id = "old", .account_id = "alice", .limit = 10});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].amount, 5);
  EXPECT_FALSE((*page)[0].usage.has_value());
  EXPECT_FALSE((*page)[0].price_effective_at_us.has_value());
  EXPECT_FALSE((*page)[0].occurred_at_us.has_value());

  // New rows beside the old ones; the relaxed and the new checks hold.
  Mutation m;
  m.prices = {PriceRecord{.tenant_id = "old", .model = "*", .effective_at_us = 1}};
  TransferRecord free = Transfer("old", "t2", "alice", "@usage", 0, TransferKind::kUsage, 200);
  free.model = "gpt-4o";
  free.usage = TokenUsage{.input_tokens = 3};
  free.price_effective_at_us = 1;
  m.transfers = {free};
  m.holds = {HoldRecord{.tenant_id = "old",
                        .hold_id = "new",
                        .account_id = "alice",
                        .amount = 0,
                        .expires_at_us = later,
                        .model = "gpt-4o"}};
  const Mutation* batch[] = {&m};
  ASSERT_TRUE((*store)->Commit(batch, RandomBatchId()).ok());
  Mutation zero;
  zero.transfers = {Transfer("old", "t3", "alice", "@usage", 0, TransferKind::kUsage)};
  const Mutation* zero_batch[] = {&zero};
  EXPECT_EQ((*store)->Commit(zero_batch, RandomBatchId()).status().code(),
            absl::StatusCode::kInternal);
  absl::StatusOr<std::vector<UsageSums>> sums = (*store)->SumUsage("old", 0, 0);
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_EQ(sums->size(), 1u);
  EXPECT_EQ((*sums)[0].period_spent, 5);
  EXPECT_THAT((*sums)[0].model_spent, ElementsAre(Pair("gpt-4o", 5)));
  s = (*store)->Load();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(HoldsOf(*s, "old")["new"].model, "gpt-4o");
  EXPECT_EQ(s->prices.size(), 1u);

  store->reset();
  pqxx::nontransaction txn(admin);
  // The checks 0009 replaced are gone (a migration names them: their names matter).
  pqxx::row r = txn.exec_params1(
      "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
      "WHERE n.nspname = $1 AND c.conname IN ('transfers_amount_check', 'holds_amount_check')",
      schema);
  EXPECT_EQ(r[0].as<int>(), 0);
  txn.exec("DROP SCHEMA " + txn.quote_name(schema) + " CASCADE");
}

// ---- leases and fencing ------------------------------------------------------------------------

// Two processes' stores on a schema of their own (a daemon of another test claims every tenant
// without a lease in the shared schema).
class FencingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty()) << "TOKENLEDGER_TEST_DATABASE_URL is not set";
    schema_ = "fence_" + RandomSuffix();
    {
      pqxx::connection admin(url_);
      pqxx::nontransaction txn(admin);
      txn.exec("CREATE SCHEMA " + txn.quote_name(schema_));
    }
    const absl::Status migrated = ApplyMigrations(
        WithServerOptions(url_, "-c search_path=" + schema_), DefaultMigrationsDir());
    ASSERT_TRUE(migrated.ok()) << migrated;
    a_ = Open(
        LeaseOwner{.owner_id = "node-a/1", .address = "a.example:7443", .ttl = absl::Seconds(1)});
    b_ = Open(
        LeaseOwner{.owner_id = "node-b/1", .address = "b.example:7443", .ttl = absl::Seconds(30)});
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    // Created by A under fencing: leased to A at once, epoch 1.
    Mutation tenant;
    tenant.tenant = TenantRecord{.tenant_id = "acme", .display_name = "Acme"};
    Mutation alice = AccountMutation("acme", "alice");
    ASSERT_TRUE(a_->Commit({&tenant, &alice}, RandomBatchId()).ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    pqxx::connection admin(url_);
    pqxx::nontransaction txn(admin);
    txn.exec("DROP SCHEMA " + txn.quote_name(schema_) + " CASCADE");
  }

  std::unique_ptr<PgStore> Open(const LeaseOwner& owner) {
    absl::StatusOr<std::unique_ptr<PgStore>> store =
        PgStore::Open(url_, PgStoreOptions{.search_path = schema_});
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    (*store)->EnableFencing(owner);
    return std::move(*store);
  }

  static std::optional<LeaseRecord> Find(const absl::StatusOr<std::vector<LeaseRecord>>& leases,
                                         const std::string& tenant) {
    EXPECT_TRUE(leases.ok()) << leases.status();
    if (!leases.ok()) return std::nullopt;
    for (const LeaseRecord& l : *leases) {
      if (l.tenant_id == tenant) return l;
    }
    return std::nullopt;
  }

  int64_t Granted(PgStore& store, const std::string& account) {
    absl::StatusOr<Snapshot> s = store.Load();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return -1;
    for (const auto& ab : s->accounts) {
      if (ab.account.account_id == account) return ab.posted.granted;
    }
    return -1;
  }

  std::string url_;
  std::string schema_;
  std::unique_ptr<PgStore> a_;
  std::unique_ptr<PgStore> b_;
};

TEST_F(FencingTest, ATenantCreatedUnderFencingIsLeasedToItsCreator) {
  EXPECT_EQ(a_->FenceEpoch("acme"), 1);
  std::optional<LeaseRecord> lease = Find(a_->ListLeases(), "acme");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->owner_id, "node-a/1");
  EXPECT_EQ(lease->owner_address, "a.example:7443");
  EXPECT_EQ(lease->epoch, 1);
  // Another process cannot take a live lease.
  EXPECT_FALSE(Find(b_->ClaimLeases(/*claim=*/true), "acme").has_value());
}

TEST_F(FencingTest, AFormerOwnerCannotCommitAfterATakeover) {
  Mutation g1 = GrantMutation("acme", "alice", 10, "g1");
  ASSERT_TRUE(a_->Commit({&g1}, RandomBatchId()).ok());
  // A stops renewing (paused); its 1 s lease expires and B takes it with a new epoch.
  absl::SleepFor(absl::Milliseconds(1500));
  std::optional<LeaseRecord> taken = Find(b_->ClaimLeases(/*claim=*/true), "acme");
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->epoch, 2);
  EXPECT_EQ(taken->owner_id, "node-b/1");

  // A still believes it holds epoch 1: its batch is refused and nothing of it is stored.
  Mutation g2 = GrantMutation("acme", "alice", 20, "g2");
  absl::StatusOr<std::vector<MutationOutcome>> refused = a_->Commit({&g2}, RandomBatchId());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), testing::HasSubstr("lease lost"));
  EXPECT_EQ(Granted(*b_, "alice"), 10);
  // A cannot take the lease back while B holds it.
  EXPECT_FALSE(Find(a_->ClaimLeases(/*claim=*/true), "acme").has_value());

  // B, fenced at the new epoch, commits the retried call.
  b_->AddFence("acme", 2);
  ASSERT_TRUE(b_->Commit({&g2}, RandomBatchId()).ok());
  EXPECT_EQ(Granted(*b_, "alice"), 30);
}

TEST_F(FencingTest, AMutationOfATenantWithoutAFenceIsRefusedBeforeItIsSent) {
  Mutation g = GrantMutation("acme", "alice", 10, "unfenced");
  absl::StatusOr<std::vector<MutationOutcome>> refused = b_->Commit({&g}, RandomBatchId());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_EQ(Granted(*a_, "alice"), 0);
}

TEST_F(FencingTest, ANewIncarnationOfTheSameNodeTakesItsLeasesAtOnce) {
  std::unique_ptr<PgStore> restarted = Open(
      LeaseOwner{.owner_id = "node-a/2", .address = "a.example:7443", .ttl = absl::Seconds(30)});
  ASSERT_NE(restarted, nullptr);
  std::optional<LeaseRecord> taken = Find(restarted->ClaimLeases(/*claim=*/true), "acme");
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->epoch, 2);
  Mutation g = GrantMutation("acme", "alice", 10, "old-incarnation");
  EXPECT_EQ(a_->Commit({&g}, RandomBatchId()).status().code(), absl::StatusCode::kAborted);
}

TEST_F(FencingTest, ReleasedLeasesAreTakenWithoutWaitingForTheExpiry) {
  std::unique_ptr<PgStore> a_long = Open(
      LeaseOwner{.owner_id = "node-a/1", .address = "a.example:7443", .ttl = absl::Seconds(60)});
  ASSERT_TRUE(Find(a_long->ClaimLeases(/*claim=*/false), "acme").has_value());  // renewed
  EXPECT_FALSE(Find(b_->ClaimLeases(/*claim=*/true), "acme").has_value());
  ASSERT_TRUE(a_long->ReleaseLeases().ok());
  std::optional<LeaseRecord> taken = Find(b_->ClaimLeases(/*claim=*/true), "acme");
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->epoch, 2);
}

}  // namespace
}  // namespace tokenledger
