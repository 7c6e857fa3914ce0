// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The ledger engine on the in-memory store fake, through the real group-commit writer.
#include "ledger/engine.h"

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ledger_process.h"
#include "store/group_commit.h"
#include "testing/faulty_store.h"
#include "testing/memory_store.h"

namespace tokenledger {
namespace {

using ::testing::HasSubstr;

constexpr char kTenant[] = "acme";

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : clock_(absl::FromUnixSeconds(1'790'000'000)), faulty_(&mem_) { Boot(); }
  ~EngineTest() override { Stop(); }

  // Starts a fresh process over the same store: a restart.
  void Boot(EngineOptions options = {}) {
    WriterOptions wo;
    wo.commit_retry_for = absl::Milliseconds(200);
    wo.retry_backoff = absl::Milliseconds(10);
    // The writer waits in real time (retries, backoff); the ledger lives in manual time.
    writer_ = std::make_unique<GroupCommitWriter>(&faulty_, SystemClock::Default(), wo);
    ledger_ = std::make_unique<Ledger>(writer_.get(), &faulty_, &clock_, options);
    auto snap = faulty_.Load();
    ASSERT_TRUE(snap.ok()) << snap.status();
    ASSERT_TRUE(ledger_->Load(*snap).ok());
  }
  void Stop() {
    if (writer_) writer_->Stop();
    ledger_.reset();
    writer_.reset();
  }
  void Restart(EngineOptions options = {}) {
    Stop();
    Boot(options);
  }

  // Runs an asynchronous engine call and waits for its answer.
  template <typename Fn>
  absl::StatusOr<OpResult> Wait(Fn fn) {
    return WaitFor(std::move(fn));
  }

  static IdemArgs Key(const std::string& key, uint64_t fp = 1) { return IdemArgs{key, fp}; }

  void CreateTenant(const std::string& id = kTenant) {
    auto r = Wait([&](ResultCallback cb) {
      ledger_->CreateTenant(TenantRecord{.tenant_id = id}, Key("t-" + id), std::move(cb));
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  absl::StatusOr<OpResult> Upsert(const std::string& account, std::optional<Policy> p = {},
                                  AccountStatus status = AccountStatus::kActive) {
    return Wait([&](ResultCallback cb) {
      ledger_->UpsertAccount(kTenant,
                             AccountRecord{.account_id = account, .policy = p, .status = status},
                             Key("u-" + account + std::to_string(static_cast<int>(status)) +
                                 (p ? std::to_string(p->overdraft_limit) : "")),
                             std::move(cb));
    });
  }
  absl::StatusOr<OpResult> Grant(const std::string& account, int64_t amount, const std::string& key,
                                 uint64_t fp = 1) {
    return Wait([&](ResultCallback cb) {
      ledger_->Grant(kTenant, account, amount, "", Key(key, fp), std::move(cb));
    });
  }
  absl::StatusOr<OpResult> Adjust(const std::string& account, int64_t delta,
                                  const std::string& key) {
    return Wait([&](ResultCallback cb) {
      ledger_->Adjust(kTenant, account, delta, "fix", Key(key), std::move(cb));
    });
  }
  absl::StatusOr<OpResult> Debit(const std::string& account, int64_t amount, const std::string& key,
                                 const std::string& hold = "", uint64_t fp = 1) {
    return Wait([&](ResultCallback cb) {
      ledger_->Debit(kTenant, DebitArgs{.account_id = account, .hold_id = hold, .amount = amount},
                     Key(key, fp), std::move(cb));
    });
  }
  absl::StatusOr<OpResult> Authorize(const std::string& account, int64_t amount,
                                     const std::string& key, int64_t ttl = 0) {
    return ledger_->Authorize(
        kTenant, AuthorizeArgs{.account_id = account, .amount = amount, .hold_ttl_seconds = ttl},
        Key(key));
  }
  absl::StatusOr<OpResult> Release(const std::string& hold, const std::string& key) {
    return Wait(
        [&](ResultCallback cb) { ledger_->Release(kTenant, hold, Key(key), std::move(cb)); });
  }
  int64_t Available(const std::string& account) {
    auto b = ledger_->GetBalance(kTenant, account);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? b->available : -1;
  }
  // After a restart: the store has `hold` alone, expired and in no segment, and the Authorize
  // that placed it (`account`, `amount`, `key`, `ttl`) replays it.
  void ExpectOnlyHoldStoredExpiredAndReplayed(const OpResult& hold, const std::string& account,
                                              int64_t amount, const std::string& key, int64_t ttl) {
    auto snap = mem_.Load();
    ASSERT_TRUE(snap.ok());
    EXPECT_TRUE(snap->hold_segments.empty());
    ASSERT_EQ(snap->holds.size(), 1u);
    EXPECT_EQ(snap->holds[0].status, HoldStatus::kExpired);
    auto replay = Authorize(account, amount, key, ttl);
    ASSERT_TRUE(replay.ok()) << replay.status();
    EXPECT_EQ(replay->id, hold.id);
  }
  ReconcileReport Reconcile(bool fix = false) {
    absl::Notification done;
    absl::StatusOr<ReconcileReport> out = absl::UnknownError("");
    ledger_->Reconcile(kTenant, fix, [&](absl::StatusOr<ReconcileReport> r) {
      out = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : ReconcileReport{};
  }
  void ExpectBooksBalance() {
    ReconcileReport r = Reconcile();
    EXPECT_EQ(r.ledger_sum, 0);
    EXPECT_TRUE(r.mismatches.empty())
        << r.mismatches.size()
        << " mismatches, first: " << (r.mismatches.empty() ? "" : r.mismatches[0].field);
  }

  ManualClock clock_;
  MemoryStore mem_;
  FaultyStore faulty_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(EngineTest, GrantThenBalance) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  auto g = Grant("alice", 1000, "g1");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->amount, 1000);
  EXPECT_EQ(g->available, 1000);
  auto b = ledger_->GetBalance(kTenant, "alice");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->posted.credits, 1000);
  EXPECT_EQ(b->posted.granted, 1000);
  EXPECT_EQ(b->posted.debits, 0);
  EXPECT_EQ(b->available, 1000);
  ExpectBooksBalance();
}

// Answers given at once (a replay, a conflict, an unknown account) come with no engine lock
// held: the callback may call the Ledger again (the API layer reads the account back).
TEST_F(EngineTest, CallbacksMayCallTheLedgerEvenWhenAnsweredAtOnce) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  auto reenter = [&](auto call) {
    absl::Notification done;
    call([&](absl::StatusOr<OpResult>) {
      EXPECT_TRUE(ledger_->GetAccount(kTenant, "alice").ok());
      EXPECT_TRUE(ledger_->GetBalance(kTenant, "alice").ok());
      done.Notify();
    });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  };
  const AccountRecord alice{.account_id = "alice", .status = AccountStatus::kActive};
  reenter([&](ResultCallback cb) {  // a replay
    ledger_->UpsertAccount(kTenant, alice, Key("u-alice1"), std::move(cb));
  });
  reenter([&](ResultCallback cb) {  // a conflict
    ledger_->UpsertAccount(kTenant, alice, Key("u-alice1", 99), std::move(cb));
  });
  reenter([&](ResultCallback cb) {  // an unknown account
    ledger_->Grant(kTenant, "nobody", 1, "", Key("g-x"), std::move(cb));
  });
  reenter([&](ResultCallback cb) {  // a committed call, answered by the writer
    ledger_->Grant(kTenant, "alice", 1, "", Key("g-y"), std::move(cb));
  });
}

TEST_F(EngineTest, AdjustBothWays) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto up = Adjust("alice", 50, "a1");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->amount, 50);
  EXPECT_EQ(up->available, 150);
  auto down = Adjust("alice", -30, "a2");
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(down->amount, -30);
  EXPECT_EQ(Available("alice"), 120);
  auto b = ledger_->GetBalance(kTenant, "alice");
  EXPECT_EQ(b->posted.granted, 100);  // adjustments are not grants
  EXPECT_EQ(b->posted.spent, 0);      // nor usage
  EXPECT_EQ(Adjust("alice", 0, "a3").status().code(), absl::StatusCode::kInvalidArgument);
  ExpectBooksBalance();
}

TEST_F(EngineTest, HoldCapturedForLessReleasesTheRest) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  auto h = Authorize("alice", 300, "auth1");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->decision, Decision::kAllowed);
  EXPECT_EQ(h->available, 700);
  EXPECT_EQ(ledger_->GetBalance(kTenant, "alice")->held, 300);
  auto d = Debit("alice", 120, "d1", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->available, 880);
  EXPECT_FALSE(d->overage);
  auto b = ledger_->GetBalance(kTenant, "alice");
  EXPECT_EQ(b->held, 0);
  EXPECT_EQ(b->posted.spent, 120);
  EXPECT_EQ(b->available, 880);
  // The hold is spent: capturing it again, or releasing it, is refused.
  EXPECT_EQ(Debit("alice", 10, "d2", h->id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Release(h->id, "r1").status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectBooksBalance();
}

TEST_F(EngineTest, HoldCapturedForMoreThanHeld) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  auto h = Authorize("alice", 100, "auth1");
  ASSERT_TRUE(h.ok());
  auto d = Debit("alice", 250, "d1", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->amount, 250);
  EXPECT_EQ(d->available, 750);
  EXPECT_EQ(ledger_->GetBalance(kTenant, "alice")->held, 0);
  ExpectBooksBalance();
}

TEST_F(EngineTest, ReleaseReturnsTheReservation) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  auto h = Authorize("alice", 400, "auth1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(Available("alice"), 600);
  auto r = Release(h->id, "rel1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->amount, 400);
  EXPECT_EQ(Available("alice"), 1000);
  auto again = Release(h->id, "rel2");  // another key: already released, nothing to release
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->amount, 0);
  // A released hold cannot be captured.
  EXPECT_EQ(Debit("alice", 10, "d1", h->id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Release("h_unknown", "rel3").status().code(), absl::StatusCode::kNotFound);
  ExpectBooksBalance();
}

TEST_F(EngineTest, DirectDebitPastBudgetIsRecordedAsOverage) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto d = Debit("alice", 150, "d1");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->overage);
  EXPECT_EQ(d->available, -50);
  // Overage blocks new holds.
  auto h = Authorize("alice", 1, "a1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->decision, Decision::kDenied);
  EXPECT_EQ(h->deny_reason, DenyReason::kInsufficientBudget);
  ExpectBooksBalance();
}

TEST_F(EngineTest, OverdraftLimitAllowsHoldsBelowZero) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice", Policy{.overdraft_limit = 50}).ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 140, "a1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->decision, Decision::kAllowed);
  EXPECT_EQ(h->available, -40);
  EXPECT_EQ(Authorize("alice", 11, "a2")->decision, Decision::kDenied);
  auto d = Debit("alice", 140, "d", h->id);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->overage);  // within the overdraft
}

TEST_F(EngineTest, DebitNamingAnUnknownHoldIsADirectDebit) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto d = Debit("alice", 30, "d1", "h_000000000000");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 70);
}

TEST_F(EngineTest, ExpiredHoldIsReleasedAndCaptureBecomesDirectDebit) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 60, "a1", /*ttl=*/5);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(Available("alice"), 40);
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(ledger_->ExpireHolds(), 1);
  EXPECT_EQ(Available("alice"), 100);
  auto d = Debit("alice", 20, "d1", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 80);
  auto r = Release(h->id, "r1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->amount, 0);
  ExpectBooksBalance();
}

// Memory remembers at most closed_holds_max closed holds per tenant; past that a Debit naming one
// asks the store, so a hold is still captured at most once and a retried capture still replays.
TEST_F(EngineTest, ForgottenClosedHoldsAreAskedOfTheStore) {
  Restart(EngineOptions{.idempotency_keys_max = 3, .closed_holds_max = 1});
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Upsert("bob").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  ASSERT_TRUE(Grant("bob", 1000, "gb").ok());
  auto h1 = Authorize("alice", 10, "a1");
  auto h2 = Authorize("alice", 20, "a2");
  auto h3 = Authorize("alice", 30, "a3");
  ASSERT_TRUE(h1.ok() && h2.ok() && h3.ok());
  auto d1 = Debit("alice", 10, "d1", h1->id);
  ASSERT_TRUE(d1.ok()) << d1.status();
  ASSERT_TRUE(Release(h2->id, "r2").ok());
  ASSERT_TRUE(Debit("alice", 30, "d3", h3->id).ok());
  ledger_->ExpireHolds();  // keeps only the last closed hold (h3) in memory
  for (const char* key : {"x1", "x2", "x3"}) ASSERT_TRUE(Grant("bob", 1, key).ok());  // evicts d1
  const int64_t before = Available("alice");

  // Forgotten here, but the store has them closed.
  faulty_.SetUnavailable(true);
  auto offline = Debit("alice", 10, "again", h1->id);
  EXPECT_EQ(offline.status().code(), absl::StatusCode::kUnavailable) << offline.status();
  faulty_.SetUnavailable(false);
  auto again = Debit("alice", 10, "again", h1->id);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("already captured"));
  auto released = Debit("alice", 20, "late", h2->id);
  EXPECT_EQ(released.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(released.status().message(), HasSubstr("already released"));
  auto other = Debit("bob", 10, "other", h1->id);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("hold_id"));
  // A Release too: of a captured hold refused, of a released one nothing left, its own retry
  // replayed (key evicted from memory), an id the store does not know either NOT_FOUND.
  faulty_.SetUnavailable(true);
  EXPECT_EQ(Release(h1->id, "rel1").status().code(), absl::StatusCode::kUnavailable);
  faulty_.SetUnavailable(false);
  auto rel1 = Release(h1->id, "rel1");
  EXPECT_EQ(rel1.status().code(), absl::StatusCode::kFailedPrecondition) << rel1.status();
  EXPECT_THAT(rel1.status().message(), HasSubstr("already captured"));
  auto rel2 = Release(h2->id, "rel2");
  ASSERT_TRUE(rel2.ok()) << rel2.status();
  EXPECT_EQ(rel2->amount, 0);
  auto rel2_replay = Release(h2->id, "r2");
  ASSERT_TRUE(rel2_replay.ok()) << rel2_replay.status();
  EXPECT_EQ(rel2_replay->amount, 20);
  EXPECT_EQ(Release("h_000000000000", "rel-unknown").status().code(), absl::StatusCode::kNotFound);
  // The capture itself, retried: its answer, from the store.
  auto replay = Debit("alice", 10, "d1", h1->id);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, d1->id);
  auto conflict = Debit("alice", 11, "d1", h1->id, /*fp=*/2);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  // Still remembered in memory: refused without the store.
  faulty_.SetUnavailable(true);
  auto remembered = Debit("alice", 30, "again3", h3->id);
  EXPECT_EQ(remembered.status().code(), absl::StatusCode::kFailedPrecondition);
  faulty_.SetUnavailable(false);
  // An id the store does not know either is a direct debit, as before.
  ASSERT_TRUE(Debit("alice", 5, "direct", "h_000000000000").ok());
  EXPECT_EQ(Available("alice"), before - 5);
  ExpectBooksBalance();
}

// An expiry follows from expires_at: the sweep does not write it by itself (only with its
// segment's drop, for the Authorize's answer), and a hold loaded open past its expiry is expired
// (no reservation comes back with a restart).
TEST_F(EngineTest, AnExpiryIsWrittenWithItsSegmentsDropAndAHoldLoadedPastItsExpiryIsExpired) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 60, "a1", /*ttl=*/5);
  ASSERT_TRUE(h.ok());
  Restart();  // drains the writer: the hold is stored, open, in its segment
  clock_.Advance(absl::Seconds(6));
  Restart();  // no sweep ran: the store still has it open
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->holds.size(), 1u);
  EXPECT_EQ(snap->holds[0].status, HoldStatus::kOpen);
  EXPECT_EQ(snap->hold_segments.size(), 1u);
  EXPECT_EQ(Available("alice"), 100);  // yet it is expired after the restart
  // The sweep finds nothing open to expire, and drops the segment, whose only hold expired: its
  // record goes, and the expiry is written in its place, with the Authorize's answer.
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  Restart();
  snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->holds.size(), 1u);
  EXPECT_EQ(snap->holds[0].status, HoldStatus::kExpired);
  EXPECT_TRUE(snap->hold_segments.empty());
  auto replay = Authorize("alice", 60, "a1", /*ttl=*/5);  // still replayed from the store
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, h->id);
  EXPECT_EQ(Available("alice"), 100);
  auto d = Debit("alice", 20, "d1", h->id);  // names an expired hold: a direct debit
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 80);
  ExpectBooksBalance();
}

TEST_F(EngineTest, AHoldExpiredBySweepIsWrittenWhenItsSegmentIsDropped) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 60, "a1", /*ttl=*/5);
  ASSERT_TRUE(h.ok());
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(ledger_->ExpireHolds(), 1);  // expired in memory; its segment is sealed and dropped
  Restart();
  ExpectOnlyHoldStoredExpiredAndReplayed(*h, "alice", 60, "a1", /*ttl=*/5);
  EXPECT_EQ(Available("alice"), 100);
}

// A hold that expired and then left memory (past closed_holds_max) before its segment could be
// dropped: the drop still writes its closed row, so after a restart its Authorize replays and a
// Release of it releases nothing, as for any hold expired long ago.
TEST_F(EngineTest, AnExpiredHoldForgottenBeforeItsSegmentIsDroppedIsStillWritten) {
  Restart(EngineOptions{.closed_holds_max = 1});
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  auto a = Authorize("alice", 10, "a", /*ttl=*/5);
  auto b = Authorize("alice", 20, "b", /*ttl=*/600);  // the same segment, open for longer
  ASSERT_TRUE(a.ok() && b.ok());
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(ledger_->ExpireHolds(), 1);  // a expires; b keeps their segment
  for (const char* key : {"c", "d"}) {
    auto h = Authorize("alice", 1, key);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(Debit("alice", 1, absl::StrCat("debit-", key), h->id).ok());
  }
  EXPECT_EQ(ledger_->ExpireHolds(), 0);  // memory forgets a (and c)
  ASSERT_TRUE(Release(b->id, "rb").ok());
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);  // a and b's segment is dropped
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  std::map<std::string, HoldStatus> status;
  for (const HoldRecord& h : snap->holds) status[h.hold_id] = h.status;
  ASSERT_TRUE(status.contains(a->id));
  EXPECT_EQ(status[a->id], HoldStatus::kExpired);
  auto replay = Authorize("alice", 10, "a", /*ttl=*/5);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, a->id);
  auto released = Release(a->id, "ra");
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->amount, 0);
  EXPECT_EQ(Available("alice"), 998);
}

// The gateway cycle: holds captured or released within moments. Their open records are deleted
// once their segment is sealed and all its holds have closed, so the store keeps the records of
// open holds, not of every hold of the last hour; what a restart needs is all still there.
TEST_F(EngineTest, SegmentsWhoseHoldsAllClosedAreDroppedAndOpenHoldsSurvive) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Upsert("bob").ok());
  ASSERT_TRUE(Grant("alice", 1000, "ga").ok());
  ASSERT_TRUE(Grant("bob", 1000, "gb").ok());
  auto h1 = Authorize("alice", 10, "a1");
  auto h2 = Authorize("bob", 10, "a2");  // the same segment; stays open
  ASSERT_TRUE(h1.ok() && h2.ok());
  ASSERT_TRUE(Debit("alice", 5, "d1", h1->id).ok());
  clock_.Advance(absl::Seconds(2));
  auto h3 = Authorize("alice", 10, "a3");  // a later segment, all captured
  ASSERT_TRUE(h3.ok());
  ASSERT_TRUE(Debit("alice", 5, "d3", h3->id).ok());
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->hold_segments.size(), 1u);  // h3's went; h1's stays for h2
  std::map<std::string, HoldStatus> status;
  for (const HoldRecord& h : snap->holds) status[h.hold_id] = h.status;
  EXPECT_EQ(status[h1->id], HoldStatus::kCaptured);
  EXPECT_EQ(status[h2->id], HoldStatus::kOpen);
  EXPECT_EQ(status[h3->id], HoldStatus::kCaptured);
  EXPECT_EQ(Available("bob"), 990);  // h2 still holds after the restart
  ASSERT_TRUE(Release(h2->id, "r2").ok());
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  Restart();
  snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->hold_segments.empty());
  for (const HoldRecord& h : snap->holds) EXPECT_NE(h.status, HoldStatus::kOpen) << h.hold_id;
  // What the dropped records carried is still answered: the Authorize replays (its answer is on
  // the closing row), and a second capture is refused.
  auto replay = Authorize("alice", 10, "a1");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, h1->id);
  EXPECT_EQ(Debit("alice", 5, "d1-again", h1->id).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Available("alice"), 990);
  EXPECT_EQ(Available("bob"), 1000);
  ExpectBooksBalance();
}

// The gateway cycle at a steady rate: what memory and the store keep for holds follows the holds
// open, not every hold placed within their time to live.
TEST_F(EngineTest, MemoryForHoldsFollowsTheOpenHoldsNotTheHoldsPlaced) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1'000'000, "g").ok());
  auto open = Authorize("alice", 1, "left-open", /*ttl=*/600);
  ASSERT_TRUE(open.ok());
  for (int i = 0; i < 300; ++i) {
    auto h = Authorize("alice", 10, "a" + std::to_string(i), /*ttl=*/600);
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(Debit("alice", 7, "d" + std::to_string(i), h->id).ok());
    if (i % 100 == 99) {
      clock_.Advance(absl::Seconds(1));
      ledger_->ExpireHolds();
    }
  }
  clock_.Advance(absl::Seconds(2));
  ledger_->ExpireHolds();
  EngineStats st = ledger_->stats();
  EXPECT_EQ(st.open_holds, 1u);
  EXPECT_EQ(st.expiry_entries, 1u);  // 301 with a heap that kept captured holds until expiry
  EXPECT_EQ(st.hold_segments, 1u);   // the segment of the hold left open
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  int open_records = 0;
  for (const HoldRecord& h : snap->holds) open_records += h.status == HoldStatus::kOpen;
  EXPECT_EQ(open_records, 1);
  EXPECT_EQ(snap->hold_segments.size(), 1u);
  EXPECT_EQ(Available("alice"), 1'000'000 - 300 * 7 - 1);
  // The one left open still expires, after the restart as before it.
  clock_.Advance(absl::Seconds(600));
  EXPECT_EQ(ledger_->ExpireHolds(), 1);
  EXPECT_EQ(ledger_->stats().expiry_entries, 0u);
  EXPECT_EQ(Available("alice"), 1'000'000 - 300 * 7);
}

// A few holds left open keep their segment alive; once it is old enough and mostly closed, they
// are written again into the current segment and the old one goes, in one commit.
TEST_F(EngineTest, StragglersOfAMostlyClosedSegmentMoveAndItIsDropped) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1'000'000, "g").ok());
  auto straggler = Authorize("alice", 100, "straggler", /*ttl=*/3600);
  auto second = Authorize("alice", 100, "second", /*ttl=*/3600);
  ASSERT_TRUE(straggler.ok() && second.ok());
  for (int i = 0; i < 20; ++i) {
    auto h = Authorize("alice", 10, "a" + std::to_string(i));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(Debit("alice", 7, "d" + std::to_string(i), h->id).ok());
  }
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  EXPECT_EQ(ledger_->stats().hold_segments, 1u);  // 2 of 22 open: kept while young
  clock_.Advance(absl::Seconds(25));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  EngineStats st = ledger_->stats();
  EXPECT_EQ(st.hold_segments, 1u);  // compacted: the two now in the current segment
  EXPECT_EQ(st.open_holds, 2u);
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->hold_segments.size(), 1u);
  EXPECT_EQ(snap->hold_segments[0].records, 2);
  int open_records = 0;
  for (const HoldRecord& h : snap->holds) {
    if (h.status != HoldStatus::kOpen) continue;
    ++open_records;
    EXPECT_EQ(h.segment, snap->hold_segments[0].segment) << h.hold_id;
  }
  EXPECT_EQ(open_records, 2);
  // Still held after the restart, replayed, and captured once.
  EXPECT_EQ(Available("alice"), 1'000'000 - 20 * 7 - 200);
  auto replay = Authorize("alice", 100, "straggler", /*ttl=*/3600);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, straggler->id);
  ASSERT_TRUE(Debit("alice", 60, "ds", straggler->id).ok());
  ASSERT_TRUE(Release(second->id, "r2").ok());
  EXPECT_EQ(Available("alice"), 1'000'000 - 20 * 7 - 60);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  EXPECT_EQ(ledger_->stats().hold_segments, 0u);
  ExpectBooksBalance();
}

// The compaction's scan of the open holds is spread over sweeps, a bounded share each: the
// outcome is the same, a few sweeps later.
TEST_F(EngineTest, ACompactionScanSpreadOverSweepsMovesEveryStraggler) {
  Restart(EngineOptions{.hold_compaction_scan_max = 2});
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1'000'000, "g").ok());
  std::vector<std::string> stragglers;
  for (int i = 0; i < 5; ++i) {
    auto h = Authorize("alice", 100, "s" + std::to_string(i), /*ttl=*/3600);
    ASSERT_TRUE(h.ok());
    stragglers.push_back(h->id);
  }
  for (int i = 0; i < 40; ++i) {
    auto h = Authorize("alice", 10, "a" + std::to_string(i));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(Debit("alice", 7, "d" + std::to_string(i), h->id).ok());
  }
  clock_.Advance(absl::Seconds(35));
  auto records_by_segment = [&] {
    std::map<int64_t, int64_t> out;
    auto snap = mem_.Load();
    EXPECT_TRUE(snap.ok());
    if (snap.ok()) {
      for (const HoldSegment& seg : snap->hold_segments) out[seg.segment] = seg.records;
    }
    return out;
  };
  ledger_->ExpireHolds();                                 // the first two of five scanned
  Restart(EngineOptions{.hold_compaction_scan_max = 2});  // drains; the scan starts again
  EXPECT_EQ(records_by_segment().size(), 1u);
  EXPECT_EQ(records_by_segment().begin()->second, 45);  // not compacted yet
  for (int i = 0; i < 4; ++i) ledger_->ExpireHolds();   // 2 + 2 + 1 scanned, then compacted
  Restart(EngineOptions{.hold_compaction_scan_max = 2});
  auto records = records_by_segment();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records.begin()->second, 5);  // the five stragglers, in a new segment
  EXPECT_EQ(Available("alice"), 1'000'000 - 40 * 7 - 500);
  for (size_t i = 0; i < stragglers.size(); ++i) {
    ASSERT_TRUE(Release(stragglers[i], "r" + std::to_string(i)).ok());
  }
  EXPECT_EQ(Available("alice"), 1'000'000 - 40 * 7);
  ExpectBooksBalance();
}

// A segment is dropped only once the closings of its holds are durable: a capture that failed
// to commit leaves the hold open, and its record stays.
TEST_F(EngineTest, ASegmentIsNotDroppedWhileACaptureOfItsHoldFailed) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 60, "a1");
  ASSERT_TRUE(h.ok());
  Restart();  // the hold's record is stored
  faulty_.FailNextCommits(100, absl::UnavailableError("down"));
  EXPECT_EQ(Debit("alice", 50, "d1", h->id).status().code(), absl::StatusCode::kUnavailable);
  faulty_.FailNextCommits(0, absl::OkStatus());
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->hold_segments.size(), 1u);
  EXPECT_EQ(Available("alice"), 40);  // the hold is still open after the restart
  auto d = Debit("alice", 50, "d1", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 50);
  ExpectBooksBalance();
}

// A Debit that finds its hold expired, and then fails to commit: the expiry is still written when
// the hold's segment is dropped (the Debit's own closing row never was).
TEST_F(EngineTest, AnExpiryFoundByAFailedDebitIsWrittenWithItsSegmentsDrop) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 60, "a1", /*ttl=*/5);
  ASSERT_TRUE(h.ok());
  Restart();  // the hold's record is stored
  clock_.Advance(absl::Seconds(6));
  faulty_.FailNextCommits(100, absl::UnavailableError("down"));
  EXPECT_EQ(Debit("alice", 50, "d1", h->id).status().code(), absl::StatusCode::kUnavailable);
  faulty_.FailNextCommits(0, absl::OkStatus());
  EXPECT_EQ(ledger_->ExpireHolds(), 0);  // nothing open; the hold's segment is dropped
  Restart();
  ExpectOnlyHoldStoredExpiredAndReplayed(*h, "alice", 60, "a1", /*ttl=*/5);
  EXPECT_EQ(Available("alice"), 100);
}

// A straggler's Authorize answer goes with it when its segment is compacted, even once its key
// has left the key cache: the record it moves to carries the answer, so a retry after a restart
// still replays the hold rather than placing another.
TEST_F(EngineTest, AMovedHoldKeepsItsAnswerAfterItsKeyLeftTheCache) {
  Restart(EngineOptions{.idempotency_keys_max = 5});
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1'000'000, "g").ok());
  auto straggler = Authorize("alice", 100, "straggler", /*ttl=*/3600);
  ASSERT_TRUE(straggler.ok());
  for (int i = 0; i < 20; ++i) {  // 40 keys after the straggler's: it is evicted
    auto h = Authorize("alice", 10, "a" + std::to_string(i));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(Debit("alice", 7, "d" + std::to_string(i), h->id).ok());
  }
  clock_.Advance(absl::Seconds(35));
  EXPECT_EQ(ledger_->ExpireHolds(), 0);  // compacted: the straggler moves, the segment goes
  Restart();
  auto snap = mem_.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->hold_segments.size(), 1u);
  auto replay = Authorize("alice", 100, "straggler", /*ttl=*/3600);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(*replay, *straggler);
  EXPECT_EQ(Available("alice"), 1'000'000 - 20 * 7 - 100);
  ExpectBooksBalance();
}

TEST_F(EngineTest, SuspendedAndClosedAccounts) {
  CreateTenant();
  ASSERT_TRUE(Upsert("bob").ok());
  ASSERT_TRUE(Grant("bob", 100, "g").ok());
  ASSERT_TRUE(Upsert("bob", std::nullopt, AccountStatus::kSuspended).ok());
  auto h = Authorize("bob", 1, "a1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->deny_reason, DenyReason::kAccountSuspended);
  // Usage that happened is still recorded.
  EXPECT_TRUE(Debit("bob", 5, "d1").ok());
  ASSERT_TRUE(Upsert("bob", std::nullopt, AccountStatus::kClosed).ok());
  EXPECT_EQ(Authorize("bob", 1, "a2").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Grant("bob", 1, "g2").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, IdempotentReplayReturnsTheOriginalAndChangesNothing) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  auto first = Grant("alice", 100, "same", /*fp=*/7);
  ASSERT_TRUE(first.ok());
  auto replay = Grant("alice", 100, "same", /*fp=*/7);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->id, first->id);
  EXPECT_EQ(Available("alice"), 100);
  // The same key with another request.
  auto conflict = Grant("alice", 999, "same", /*fp=*/8);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(conflict.status().message(), HasSubstr("idempotency_key"));
  // Authorize replays too, without a second hold.
  auto h1 = Authorize("alice", 10, "auth");
  auto h2 = Authorize("alice", 10, "auth");
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(h1->id, h2->id);
  EXPECT_EQ(Available("alice"), 90);
  EXPECT_EQ(mem_.transfer_count(), 1u);
}

TEST_F(EngineTest, ReplayAfterRestartAndAfterEvictionFromMemory) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  auto first = Debit("alice", 5, "dk", "", /*fp=*/3);
  ASSERT_TRUE(first.ok());
  Restart();
  auto replay = Debit("alice", 5, "dk", "", /*fp=*/3);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, first->id);
  EXPECT_EQ(Debit("alice", 6, "dk", "", /*fp=*/4).status().code(),
            absl::StatusCode::kAlreadyExists);
  // A process that remembers only 2 keys: older ones are answered from the store.
  Restart(EngineOptions{.idempotency_keys_max = 2});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Grant("alice", 1, "fill" + std::to_string(i)).ok());
  const size_t transfers = mem_.transfer_count();
  auto late = Debit("alice", 5, "dk", "", /*fp=*/3);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->id, first->id);
  EXPECT_EQ(mem_.transfer_count(), transfers);
  EXPECT_EQ(Available("alice"), 0);
  ExpectBooksBalance();
}

TEST_F(EngineTest, OverflowIsRefused) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", kAmountMax, "g1").ok());
  auto second = Grant("alice", kAmountMax - 1, "g2");
  ASSERT_TRUE(second.ok()) << second.status();  // credits = 2^63 - 1: the largest int64
  auto third = Grant("alice", 1, "g3");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(third.status().message(), HasSubstr("overflow"));
  ExpectBooksBalance();
}

TEST_F(EngineTest, BadInputNamesTheFieldAndChangesNothing) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  struct Case {
    absl::StatusOr<OpResult> got;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({Grant("alice", -1, "k1"), "amount"});
  cases.push_back({Grant("alice", 0, "k2"), "amount"});
  cases.push_back({Grant("alice", kAmountMax + 1, "k3"), "amount"});
  cases.push_back({Grant("al ice", 1, "k4"), "account_id"});
  cases.push_back({Grant("@funding", 1, "k5"), "account_id"});
  cases.push_back({Grant(std::string(129, 'a'), 1, "k6"), "account_id"});
  cases.push_back({Grant("alice", 1, ""), "idempotency_key"});
  cases.push_back({Grant("alice'; DROP TABLE transfers;--", 1, "k7"), "account_id"});
  cases.push_back({Authorize("alice", 1, "k8", /*ttl=*/86401), "hold_ttl_seconds"});
  cases.push_back({Debit("alice", 1, "k9", "h_'quote"), "hold_id"});
  for (const auto& c : cases) {
    EXPECT_EQ(c.got.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(c.got.status().message(), HasSubstr(c.field));
  }
  EXPECT_EQ(Grant("nobody", 1, "k10").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Available("alice"), 100);
}

TEST_F(EngineTest, FailedCommitChangesNothingAndTheRetrySucceeds) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  faulty_.SetUnavailable(true);
  auto d = Debit("alice", 30, "d1");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Available("alice"), 100);
  faulty_.SetUnavailable(false);
  auto retry = Debit("alice", 30, "d1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(Available("alice"), 70);
  ExpectBooksBalance();
}

TEST_F(EngineTest, CommitInDoubtIsResolvedBeforeAnswering) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  faulty_.CommitThenReportInDoubt(1);
  auto g = Grant("alice", 100, "g");
  ASSERT_TRUE(g.ok()) << g.status();  // it did commit, and the writer found out
  EXPECT_EQ(Available("alice"), 100);
  EXPECT_EQ(mem_.transfer_count(), 1u);
  auto replay = Grant("alice", 100, "g");
  EXPECT_EQ(replay->id, g->id);
  EXPECT_EQ(writer_->stats().in_doubt_resolved, 1u);
  ExpectBooksBalance();
}

// The database goes away with a Debit's commit in doubt (it did commit): that Debit is answered
// only once the outcome is known, and so is a retry under its key (it waits behind it); another
// Debit is UNAVAILABLE within the writer's window meanwhile; once the database is back both are
// answered with the commit, and a later retry replays it: spent once.
TEST_F(EngineTest, ADebitInDoubtWhileTheStoreIsAwayIsAnsweredWithItsCommitAndRetriesReplayIt) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 1000, "g").ok());
  faulty_.CommitThenReportInDoubt(1);
  faulty_.GoAwayAfterNextCommit();
  struct Call {
    absl::Notification done;
    absl::StatusOr<OpResult> result = absl::UnknownError("not answered");
  } first, retry;
  for (Call* c : {&first, &retry}) {
    ledger_->Debit(kTenant, DebitArgs{.account_id = "alice", .amount = 40}, Key("d1"),
                   [c](absl::StatusOr<OpResult> r) {
                     c->result = std::move(r);
                     c->done.Notify();
                   });
    absl::SleepFor(absl::Milliseconds(100));
  }
  const absl::Time start = absl::Now();
  EXPECT_EQ(Debit("alice", 5, "d2").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // the window is 200 ms here
  EXPECT_FALSE(first.done.HasBeenNotified());
  EXPECT_FALSE(retry.done.HasBeenNotified());

  faulty_.SetUnavailable(false);
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(retry.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(first.result.ok()) << first.result.status();
  ASSERT_TRUE(retry.result.ok()) << retry.result.status();
  EXPECT_EQ(retry.result->id, first.result->id);
  auto later = Debit("alice", 40, "d1");
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->id, first.result->id);
  EXPECT_EQ(Available("alice"), 960);
  ExpectBooksBalance();
}

TEST_F(EngineTest, ReconcileFindsAndRepairsDrift) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  ASSERT_TRUE(Debit("alice", 40, "d").ok());
  mem_.CorruptBalanceForTest(
      kTenant, "alice", PostedTotals{.credits = 999, .debits = 40, .granted = 100, .spent = 40});
  ReconcileReport r = Reconcile();
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_EQ(r.mismatches[0].account_id, "alice");
  EXPECT_EQ(r.mismatches[0].field, "credits");
  EXPECT_EQ(r.mismatches[0].expected, 100);
  EXPECT_EQ(r.mismatches[0].found, 999);
  EXPECT_EQ(r.mismatches[0].source, "store");
  EXPECT_EQ(r.ledger_sum, 0);
  EXPECT_EQ(r.transfers_checked, 2);
  EXPECT_TRUE(
      mem_.ListAudit(AuditQuery{.tenant_id = kTenant})->empty());  // looking changes nothing
  ReconcileReport fixed = Reconcile(/*fix=*/true);
  EXPECT_TRUE(fixed.fixed);
  EXPECT_EQ(fixed.repaired.size(), 1u);
  ExpectBooksBalance();
  // The repair is in the audit trail.
  absl::StatusOr<std::vector<AuditRecord>> audit = ledger_->ListAudit({.tenant_id = kTenant});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "Reconcile");
  EXPECT_THAT((*audit)[0].detail, testing::HasSubstr("alice credits 999->100 (store)"));
  // The repaired store loads the right balance after a restart.
  Restart();
  EXPECT_EQ(Available("alice"), 60);
}

TEST_F(EngineTest, ConcurrentAuthorizeNeverOverspends) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = Authorize("alice", 1, "c" + std::to_string(t) + "-" + std::to_string(i));
        if (r.ok() && r->decision == Decision::kAllowed) allowed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 100);
  EXPECT_EQ(Available("alice"), 0);
}

TEST_F(EngineTest, HoldsSurviveARestart) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  ASSERT_TRUE(Grant("alice", 100, "g").ok());
  auto h = Authorize("alice", 70, "a");
  ASSERT_TRUE(h.ok());
  Restart();  // Stop() drains the writer, so the hold is durable
  EXPECT_EQ(Available("alice"), 30);
  // A retry of the Authorize after the restart replays the original answer from the hold row.
  auto replay = Authorize("alice", 70, "a");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, h->id);
  EXPECT_EQ(replay->available, h->available);
  EXPECT_EQ(Available("alice"), 30);
  auto d = Debit("alice", 50, "d", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 50);
  ExpectBooksBalance();
}

// ---- holds journaled after a delay (EngineOptions::hold_journal_delay) -------------------------

class DelayedHoldsTest : public EngineTest {
 protected:
  static EngineOptions Delayed() { return EngineOptions{.hold_journal_delay = absl::Seconds(1)}; }

  void SetUp() override {
    Restart(Delayed());
    CreateTenant();
    ASSERT_TRUE(Upsert("alice").ok());
    ASSERT_TRUE(Grant("alice", 100, "g").ok());
  }

  // The store's row of `hold_id`, after everything queued is committed (a restart's drain).
  std::optional<HoldRecord> StoredHold(const std::string& hold_id) {
    Restart(Delayed());
    auto snap = mem_.Load();
    EXPECT_TRUE(snap.ok()) << snap.status();
    if (!snap.ok()) return std::nullopt;
    for (const HoldRecord& h : snap->holds) {
      if (h.hold_id == hold_id) return h;
    }
    return std::nullopt;
  }
};

TEST_F(DelayedHoldsTest, AHoldIsWrittenOnlyOnceItsDelayIsOver) {
  auto h = Authorize("alice", 70, "a");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(ledger_->JournalHolds(), 0);  // not due yet
  clock_.Advance(absl::Milliseconds(1000));
  EXPECT_EQ(ledger_->JournalHolds(), 1);
  EXPECT_EQ(ledger_->JournalHolds(), 0);              // once
  std::optional<HoldRecord> row = StoredHold(h->id);  // restarts
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, HoldStatus::kOpen);
  EXPECT_EQ(row->amount, 70);
  // The restarted process has the hold, and a retry of the Authorize replays its answer.
  EXPECT_EQ(Available("alice"), 30);
  auto replay = Authorize("alice", 70, "a");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, h->id);
  EXPECT_EQ(Available("alice"), 30);
  ExpectBooksBalance();
}

TEST_F(DelayedHoldsTest, AHoldCapturedWithinItsDelayIsWrittenOnceClosedWithItsAnswer) {
  auto h = Authorize("alice", 70, "a");
  ASSERT_TRUE(h.ok()) << h.status();
  auto d = Debit("alice", 40, "d", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger_->JournalHolds(), 0);  // closed already: nothing more to write
  std::optional<HoldRecord> row = StoredHold(h->id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, HoldStatus::kCaptured);
  EXPECT_FALSE(row->response.empty());  // the Authorize's answer, for a retry after a restart
  auto replay = Authorize("alice", 70, "a");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, h->id);
  EXPECT_EQ(Available("alice"), 60);  // the replay placed no second hold
  EXPECT_EQ(Debit("alice", 1, "d2", h->id).status().code(),
            absl::StatusCode::kFailedPrecondition);  // captured, also after the restart
  ExpectBooksBalance();
}

TEST_F(DelayedHoldsTest, AHoldReleasedWithinItsDelayIsWrittenOnceClosed) {
  auto h = Authorize("alice", 70, "a");
  ASSERT_TRUE(h.ok()) << h.status();
  auto r = Release(h->id, "r");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->amount, 70);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger_->JournalHolds(), 0);
  std::optional<HoldRecord> row = StoredHold(h->id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, HoldStatus::kReleased);
  EXPECT_EQ(Available("alice"), 100);
}

TEST_F(DelayedHoldsTest, ACrashWithinTheDelayLosesOnlyTheReservation) {
  auto h = Authorize("alice", 70, "a");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(Available("alice"), 30);
  EXPECT_FALSE(StoredHold(h->id).has_value());  // a restart without JournalHolds: a crash
  EXPECT_EQ(Available("alice"), 100);
  // Its Debit is still recorded, as a direct debit.
  auto d = Debit("alice", 40, "d", h->id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Available("alice"), 60);
  ExpectBooksBalance();
}

TEST_F(DelayedHoldsTest, JournalingEveryHoldBeforeAStopKeepsThemAll) {
  auto h1 = Authorize("alice", 30, "a1");
  auto h2 = Authorize("alice", 20, "a2");
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(ledger_->JournalHolds(/*all=*/true), 2);  // what a graceful shutdown does
  EXPECT_TRUE(StoredHold(h1->id).has_value());
  EXPECT_TRUE(StoredHold(h2->id).has_value());
  EXPECT_EQ(Available("alice"), 50);
}

// With delayed holds, Authorize writes nothing itself: it sheds load once the journal has refused
// the holds that are due (the queue is full), and serves again once they are queued.
// A ledger whose writer holds one batch and queues two more, over a store that can be made
// unavailable: for the load-shedding tests.
struct SheddingRig {
  explicit SheddingRig(EngineOptions options)
      : faulty(&mem),
        clock(absl::FromUnixSeconds(1'790'000'000)),
        writer(&faulty, SystemClock::Default(), Options()),
        ledger(&writer, &faulty, &clock, options) {}
  static WriterOptions Options() {
    WriterOptions wo;
    wo.queue_mutations_max = 2;
    wo.batch_mutations_max = 1;
    wo.committers = 1;  // one batch in the writer's hands
    wo.commit_retry_for = absl::Seconds(30);
    wo.retry_backoff = absl::Milliseconds(5);
    return wo;
  }
  using Pending =
      std::pair<std::shared_ptr<absl::Notification>, std::shared_ptr<absl::StatusOr<OpResult>>>;
  // Starts an asynchronous engine call; its answer arrives in the pair.
  template <typename Fn>
  static Pending Start(Fn fn) {
    auto done = std::make_shared<absl::Notification>();
    auto out = std::make_shared<absl::StatusOr<OpResult>>(absl::UnknownError(""));
    fn([done, out](absl::StatusOr<OpResult> r) {
      *out = std::move(r);
      done->Notify();
    });
    return std::make_pair(done, out);
  }

  MemoryStore mem;
  FaultyStore faulty;
  ManualClock clock;
  GroupCommitWriter writer;
  Ledger ledger;
};

TEST(EngineLoadSheddingTest, AuthorizeIsShedWhileDelayedHoldsCannotBeJournaled) {
  SheddingRig rig(EngineOptions{.hold_journal_delay = absl::Seconds(1)});
  Ledger& ledger = rig.ledger;
  ASSERT_TRUE(ledger.Load(*rig.mem.Load()).ok());
  auto call = [](auto fn) { return SheddingRig::Start(fn); };
  auto sync = [&](auto fn) {
    auto c = call(fn);
    c.first->WaitForNotification();
    ASSERT_TRUE(c.second->ok()) << c.second->status();
  };
  sync([&](ResultCallback cb) {
    ledger.CreateTenant(TenantRecord{.tenant_id = "t"}, IdemArgs{"c", 1}, std::move(cb));
  });
  sync([&](ResultCallback cb) {
    ledger.UpsertAccount("t", AccountRecord{.account_id = "a"}, IdemArgs{"u", 1}, std::move(cb));
  });
  sync([&](ResultCallback cb) {
    ledger.Grant("t", "a", 100, "", IdemArgs{"g", 1}, std::move(cb));
  });
  auto authorize = [&](const std::string& key) {
    return ledger.Authorize("t", AuthorizeArgs{.account_id = "a", .amount = 1}, IdemArgs{key, 1});
  };
  ASSERT_TRUE(authorize("before").ok());
  rig.faulty.SetUnavailable(true);  // the writer now retries its batch
  std::vector<SheddingRig::Pending> grants;
  for (int i = 0; i < 3; ++i) {  // one in the writer's hands, two queued: the queue is full
    grants.push_back(call([&](ResultCallback cb) {
      ledger.Grant("t", "a", 10, "", IdemArgs{"g" + std::to_string(i), 1}, std::move(cb));
    }));
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(authorize("still").ok());  // memory only: nothing refused it yet
  rig.clock.Advance(absl::Seconds(2));
  EXPECT_EQ(ledger.JournalHolds(), 0);  // the queue refuses them
  EXPECT_EQ(authorize("shed").status().code(), absl::StatusCode::kResourceExhausted);
  rig.faulty.SetUnavailable(false);
  for (auto& g : grants) {
    g.first->WaitForNotification();
    EXPECT_TRUE(g.second->ok()) << g.second->status();
  }
  EXPECT_EQ(ledger.JournalHolds(), 2);
  EXPECT_TRUE(authorize("after").ok());
  rig.writer.Stop();
}

// A full write queue sheds load: the call fails RESOURCE_EXHAUSTED at once and changes nothing.
TEST(EngineLoadSheddingTest, FullQueueIsResourceExhaustedAndChangesNothing) {
  SheddingRig rig(EngineOptions{});
  Ledger& ledger = rig.ledger;
  ASSERT_TRUE(ledger.Load(*rig.mem.Load()).ok());
  auto wait = [](auto fn) { return SheddingRig::Start(fn); };
  auto tenant = wait([&](ResultCallback cb) {
    ledger.CreateTenant(TenantRecord{.tenant_id = "t"}, IdemArgs{"c", 1}, std::move(cb));
  });
  tenant.first->WaitForNotification();
  auto acct = wait([&](ResultCallback cb) {
    ledger.UpsertAccount("t", AccountRecord{.account_id = "a"}, IdemArgs{"u", 1}, std::move(cb));
  });
  acct.first->WaitForNotification();
  rig.faulty.SetUnavailable(true);  // the writer now retries its batch: the queue stays full
  std::vector<SheddingRig::Pending> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(wait([&](ResultCallback cb) {
      ledger.Grant("t", "a", 10, "", IdemArgs{"g" + std::to_string(i), 1}, std::move(cb));
    }));
    absl::SleepFor(absl::Milliseconds(20));
  }
  // One in the writer's hands, two queued, the fourth shed at once.
  ASSERT_TRUE(calls[3].first->HasBeenNotified());
  EXPECT_EQ(calls[3].second->status().code(), absl::StatusCode::kResourceExhausted);
  auto authorize =
      ledger.Authorize("t", AuthorizeArgs{.account_id = "a", .amount = 1}, IdemArgs{"z", 1});
  // The hot path still answers from memory: a denial needs no write.
  ASSERT_TRUE(authorize.ok()) << authorize.status();
  EXPECT_EQ(authorize->deny_reason, DenyReason::kInsufficientBudget);
  rig.faulty.SetUnavailable(false);
  for (int i = 0; i < 3; ++i) {
    calls[i].first->WaitForNotification();
    EXPECT_TRUE(calls[i].second->ok()) << calls[i].second->status();
  }
  EXPECT_EQ(ledger.GetBalance("t", "a")->posted.credits, 30);
  rig.writer.Stop();
}

// A randomized run of thousands of operations against a simple model of the balances.
TEST_F(EngineTest, RandomizedOperationsMatchAModel) {
  CreateTenant();
  std::mt19937_64 rng(20261130);
  const std::vector<std::string> accounts = {"a", "b", "c", "d"};
  struct Model {
    int64_t credits = 0, debits = 0, held = 0;
  };
  std::map<std::string, Model> model;
  std::map<std::string, std::pair<std::string, int64_t>> open_holds;  // hold -> account, amount
  for (const auto& a : accounts) ASSERT_TRUE(Upsert(a).ok());
  std::vector<std::string> used;  // keys that may have been recorded
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::string a = pick(accounts);
    const int64_t amount = 1 + static_cast<int64_t>(rng() % 100);
    switch (rng() % 6) {
      case 0: {
        ASSERT_TRUE(Grant(a, amount, key).ok());
        model[a].credits += amount;
        break;
      }
      case 1: {
        auto r = Authorize(a, amount, key);
        ASSERT_TRUE(r.ok());
        const Model& m = model[a];
        const bool affordable = m.credits - m.debits - m.held >= amount;
        ASSERT_EQ(r->decision == Decision::kAllowed, affordable) << i;
        if (affordable) {
          model[a].held += amount;
          open_holds[r->id] = {a, amount};
        }
        break;  // a denial is recorded under its key too
      }
      case 2: {
        if (open_holds.empty()) continue;
        auto it = open_holds.begin();
        std::advance(it, rng() % open_holds.size());
        auto [acct, held] = it->second;
        ASSERT_TRUE(Debit(acct, amount, key, it->first).ok());
        model[acct].held -= held;
        model[acct].debits += amount;
        open_holds.erase(it);
        break;
      }
      case 3: {
        if (open_holds.empty()) continue;
        auto it = open_holds.begin();
        auto r = Release(it->first, key);
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r->amount, it->second.second);
        model[it->second.first].held -= it->second.second;
        open_holds.erase(it);
        break;
      }
      case 4: {
        ASSERT_TRUE(Debit(a, amount, key).ok());
        model[a].debits += amount;
        break;
      }
      case 5: {  // an earlier key with another request changes nothing
        if (used.empty()) continue;
        auto r = Grant(a, amount, used[rng() % used.size()], /*fp=*/999);
        ASSERT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
        continue;
      }
    }
    used.push_back(key);
    for (const auto& acct : accounts) {
      auto b = ledger_->GetBalance(kTenant, acct);
      ASSERT_TRUE(b.ok());
      const Model& m = model[acct];
      ASSERT_EQ(b->posted.credits, m.credits) << "op " << i;
      ASSERT_EQ(b->posted.debits, m.debits) << "op " << i;
      ASSERT_EQ(b->held, m.held) << "op " << i;
    }
    if (i % 250 == 0) ExpectBooksBalance();
  }
  ExpectBooksBalance();
  Restart();
  for (const auto& acct : accounts) {
    const Model& m = model[acct];
    EXPECT_EQ(Available(acct), m.credits - m.debits - m.held);
  }
}

TEST_F(EngineTest, AuditedChangesAreRecordedOnlyWhenTheyCommit) {
  CreateTenant();
  ASSERT_TRUE(Upsert("alice").ok());
  IdemArgs audited{.key = "g-audited", .fingerprint = 1, .audit_action = "Grant", .actor = "k_hr"};
  auto grant = [&](const std::string& account, const IdemArgs& idem) {
    return Wait([&](ResultCallback cb) {
      ledger_->Grant(kTenant, account, 250, "bonus", idem, std::move(cb));
    });
  };
  ASSERT_TRUE(grant("alice", audited).ok());
  ASSERT_TRUE(grant("alice", audited).ok());  // a replay
  IdemArgs refused = audited;
  refused.key = "g-refused";
  EXPECT_FALSE(grant("bob", refused).ok());  // no such account
  faulty_.SetUnavailable(true);
  refused.key = "g-failed";
  EXPECT_FALSE(grant("alice", refused).ok());  // the commit fails
  faulty_.SetUnavailable(false);
  absl::StatusOr<std::vector<AuditRecord>> audit = ledger_->ListAudit({.tenant_id = kTenant});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  const AuditRecord& e = (*audit)[0];
  EXPECT_EQ(e.action, "Grant");
  EXPECT_EQ(e.actor_key_id, "k_hr");
  EXPECT_EQ(e.target, "alice");
  EXPECT_THAT(e.detail, testing::StartsWith("GRANT +250"));
  EXPECT_THAT(e.detail, testing::EndsWith(": bonus"));
  EXPECT_EQ(ledger_->ListAudit({.tenant_id = kTenant, .limit = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenledger
