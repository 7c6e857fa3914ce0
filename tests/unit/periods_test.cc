// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Budget periods with the manual clock: monthly resets with rollover in three time zones, daily
// limits, team caps, catch-up after downtime, failures and two schedulers on one store.
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ledger/engine.h"
#include "ledger_process.h"
#include "store/group_commit.h"
#include "testing/faulty_store.h"
#include "testing/memory_store.h"

namespace tokenledger {
namespace {

constexpr char kTenant[] = "acme";

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

using Process = LedgerProcess;

class PeriodsTest : public ::testing::Test {
 protected:
  PeriodsTest() : clock_(absl::UnixEpoch()), faulty_(&mem_) {}

  void Start(const std::string& timezone, absl::CivilSecond local_now) {
    tz_ = Zone(timezone);
    clock_.Set(absl::FromCivil(local_now, tz_));
    p_ = std::make_unique<Process>(&faulty_, &clock_);
    auto r = Wait([&](ResultCallback cb) {
      p_->ledger->CreateTenant(TenantRecord{.tenant_id = kTenant, .timezone = timezone},
                               IdemArgs{"tenant", 1}, std::move(cb));
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void Restart() {
    p_.reset();
    p_ = std::make_unique<Process>(&faulty_, &clock_);
  }
  void SetLocal(absl::CivilSecond local) { clock_.Set(absl::FromCivil(local, tz_)); }

  template <typename Fn>
  static absl::StatusOr<OpResult> Wait(Fn fn) {
    return WaitFor(std::move(fn));
  }
  IdemArgs Key() { return IdemArgs{"k" + std::to_string(++keys_), 1}; }

  absl::Status Upsert(const std::string& id, std::optional<Policy> policy,
                      const std::string& team = "") {
    return Wait([&](ResultCallback cb) {
             p_->ledger->UpsertAccount(
                 kTenant, AccountRecord{.account_id = id, .team_id = team, .policy = policy}, Key(),
                 std::move(cb));
           })
        .status();
  }
  absl::Status Team(const std::string& id, int64_t cap) {
    return Wait([&](ResultCallback cb) {
             p_->ledger->UpsertTeam(kTenant, TeamRecord{.team_id = id, .monthly_cap = cap}, Key(),
                                    std::move(cb));
           })
        .status();
  }
  absl::Status Spend(const std::string& id, int64_t amount) {
    return Wait([&](ResultCallback cb) {
             p_->ledger->Debit(kTenant, DebitArgs{.account_id = id, .amount = amount}, Key(),
                               std::move(cb));
           })
        .status();
  }
  absl::StatusOr<OpResult> Authorize(const std::string& id, int64_t amount) {
    return p_->ledger->Authorize(kTenant, AuthorizeArgs{.account_id = id, .amount = amount}, Key());
  }
  int64_t Resets(Ledger* ledger = nullptr) {
    absl::Notification done;
    absl::StatusOr<int64_t> out = absl::UnknownError("");
    (ledger ? ledger : p_->ledger.get())
        ->RunResets(kTenant, clock_.Now(), [&](absl::StatusOr<int64_t> n) {
          out = n;
          done.Notify();
        });
    done.WaitForNotification();
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : -1;
  }
  BalanceView Balance(const std::string& id) {
    auto b = p_->ledger->GetBalance(kTenant, id);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : BalanceView{};
  }
  ReconcileReport Reconcile() {
    absl::Notification done;
    ReconcileReport report;
    p_->ledger->Reconcile(kTenant, false, [&](absl::StatusOr<ReconcileReport> r) {
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) report = *r;
      done.Notify();
    });
    done.WaitForNotification();
    return report;
  }
  // Transfers of `kind` on `account` in the store.
  int CountTransfers(const std::string& account, TransferKind kind) {
    auto rows = mem_.ListTransfers(
        TransferQuery{.tenant_id = kTenant, .account_id = account, .limit = 10000});
    EXPECT_TRUE(rows.ok());
    int n = 0;
    for (const auto& t : *rows) n += t.kind == kind;
    return n;
  }

  void CheckLeapDayAndDst() {
    // The leap day is still February.
    SetLocal(absl::CivilSecond(2028, 2, 29, 23, 59, 59));
    EXPECT_EQ(Resets(), 0);
    SetLocal(absl::CivilSecond(2028, 3, 1, 0, 0, 0));
    EXPECT_EQ(Resets(), 1);
    EXPECT_EQ(Balance("a").available, 60);  // 10 carried + 50
    // The March DST change does not move the April boundary off local midnight.
    SetLocal(absl::CivilSecond(2028, 3, 31, 23, 59, 59));
    EXPECT_EQ(Resets(), 0);
    SetLocal(absl::CivilSecond(2028, 4, 1, 0, 0, 0));
    EXPECT_EQ(Resets(), 1);
    EXPECT_EQ(Balance("a").period_start_us,
              absl::ToUnixMicros(absl::FromCivil(absl::CivilMonth(2028, 4), tz_)));
  }

  ManualClock clock_;
  MemoryStore mem_;
  FaultyStore faulty_;
  absl::TimeZone tz_;
  std::unique_ptr<Process> p_;
  int keys_ = 0;
};

TEST(WindowsTest, MonthsAndDaysInThreeZonesAcrossALeapYear) {
  for (const std::string name : {"America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata"}) {
    const absl::TimeZone tz = Zone(name);
    for (int month = 1; month <= 12; ++month) {
      const absl::CivilMonth m(2028, month);
      // The last second of the month, local time, still belongs to it.
      const absl::Time last = absl::FromCivil(absl::CivilSecond(m + 1) - 1, tz);
      const CalendarWindows w = WindowsAt(tz, last);
      EXPECT_EQ(w.period_start_us, absl::ToUnixMicros(absl::FromCivil(m, tz))) << name << month;
      EXPECT_EQ(w.period_end_us, absl::ToUnixMicros(absl::FromCivil(m + 1, tz))) << name << month;
      EXPECT_EQ(w.day_end_us, w.period_end_us);
      EXPECT_EQ(WindowsAt(tz, last + absl::Seconds(1)).period_start_us, w.period_end_us);
    }
  }
  // Leap day: February 2028 has 29 days everywhere.
  const CalendarWindows feb = WindowsAt(
      Zone("Asia/Kolkata"), absl::FromCivil(absl::CivilDay(2028, 2, 29), Zone("Asia/Kolkata")));
  EXPECT_EQ(feb.period_end_us - feb.period_start_us, int64_t{29} * 86400 * 1000000);
  // DST: March in Berlin is an hour short, October an hour long; Los Angeles likewise in March
  // and November; Kolkata has no DST.
  auto hours = [](const std::string& zone, int month) {
    const absl::TimeZone tz = Zone(zone);
    const CalendarWindows w = WindowsAt(tz, absl::FromCivil(absl::CivilDay(2028, month, 15), tz));
    return (w.period_end_us - w.period_start_us) / 3600'000'000;
  };
  EXPECT_EQ(hours("Europe/Berlin", 3), 31 * 24 - 1);
  EXPECT_EQ(hours("Europe/Berlin", 10), 31 * 24 + 1);
  EXPECT_EQ(hours("America/Los_Angeles", 3), 31 * 24 - 1);
  EXPECT_EQ(hours("America/Los_Angeles", 11), 30 * 24 + 1);
  EXPECT_EQ(hours("Asia/Kolkata", 3), 31 * 24);
  // The DST day itself is 23 hours long in Berlin.
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const CalendarWindows dst =
      WindowsAt(berlin, absl::FromCivil(absl::CivilSecond(2028, 3, 26, 12, 0, 0), berlin));
  EXPECT_EQ(dst.day_end_us - dst.day_start_us, int64_t{23} * 3600 * 1000000);
}

TEST_F(PeriodsTest, PolicySetMidPeriodGrantsTheAllocationOnce) {
  Start("Europe/Berlin", absl::CivilSecond(2028, 1, 17, 10, 0, 0));
  ASSERT_TRUE(Upsert("alice", Policy{.monthly_allocation = 1000, .rollover_max = 200}).ok());
  EXPECT_EQ(Balance("alice").available, 1000);
  EXPECT_EQ(Balance("alice").posted.granted, 1000);
  // Updating the policy in the same period grants nothing more.
  ASSERT_TRUE(Upsert("alice", Policy{.monthly_allocation = 5000, .rollover_max = 200}).ok());
  EXPECT_EQ(Balance("alice").available, 1000);
  EXPECT_EQ(Resets(), 0);
  // An existing account without a policy gets one mid-period: granted at once too.
  ASSERT_TRUE(Upsert("bob", std::nullopt).ok());
  EXPECT_EQ(Balance("bob").available, 0);
  ASSERT_TRUE(Upsert("bob", Policy{.monthly_allocation = 300}).ok());
  EXPECT_EQ(Balance("bob").available, 300);
}

// A year of monthly resets in each zone: nothing before the local boundary, one reset just after.
TEST_F(PeriodsTest, AYearOfResetsInLosAngeles) {
  Start("America/Los_Angeles", absl::CivilSecond(2027, 12, 20, 9, 0, 0));
  ASSERT_TRUE(Upsert("alice", Policy{.monthly_allocation = 1000, .rollover_max = 300}).ok());
  int64_t expected_available = 1000;
  int64_t expired_total = 0;
  for (int month = 1; month <= 12; ++month) {
    const absl::CivilMonth m(2028, month);
    ASSERT_TRUE(Spend("alice", 100 * month).ok());  // 100, 200, ... 1200: the last is overage
    expected_available -= 100 * month;
    SetLocal(absl::CivilSecond(m) - 1);
    EXPECT_EQ(Resets(), 0) << "before " << m;
    SetLocal(absl::CivilSecond(m) + 1);
    EXPECT_EQ(Resets(), 1) << "after " << m;
    EXPECT_EQ(Resets(), 0) << "again " << m;
    const int64_t positive = std::max<int64_t>(expected_available, 0);
    const int64_t carried = std::min<int64_t>(300, positive);
    expired_total += positive - carried;
    expected_available = (expected_available < 0 ? expected_available : carried) + 1000;
    const BalanceView b = Balance("alice");
    EXPECT_EQ(b.available, expected_available) << m;
    EXPECT_EQ(b.posted.expired, expired_total) << m;
    EXPECT_EQ(b.period_start_us, absl::ToUnixMicros(absl::FromCivil(m, tz_)));
    EXPECT_EQ(b.period_spent, 0);
  }
  EXPECT_EQ(CountTransfers("alice", TransferKind::kResetGrant), 13);  // first grant + 12
  ReconcileReport r = Reconcile();
  EXPECT_EQ(r.ledger_sum, 0);
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_EQ(r.periods_checked, 13);
}

// Local midnight boundaries around the leap day and the March DST change.
TEST_F(PeriodsTest, ResetsAtLocalMidnightInBerlin) {
  Start("Europe/Berlin", absl::CivilSecond(2028, 2, 10, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 50, .rollover_max = 10}).ok());
  CheckLeapDayAndDst();
}

TEST_F(PeriodsTest, ResetsAtLocalMidnightInKolkata) {
  Start("Asia/Kolkata", absl::CivilSecond(2028, 2, 10, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 50, .rollover_max = 10}).ok());
  CheckLeapDayAndDst();
}

TEST_F(PeriodsTest, RolloverWithPositiveZeroAndNegativeBalances) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  const Policy policy{.monthly_allocation = 100, .rollover_max = 30};
  for (const char* id : {"pos", "zero", "neg"}) ASSERT_TRUE(Upsert(id, policy).ok());
  ASSERT_TRUE(Spend("pos", 20).ok());    // 80 left: 30 carried, 50 forfeited
  ASSERT_TRUE(Spend("zero", 100).ok());  // 0 left
  ASSERT_TRUE(Spend("neg", 125).ok());   // -25: the overage carries over
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  EXPECT_EQ(Resets(), 3);
  EXPECT_EQ(Balance("pos").available, 130);
  EXPECT_EQ(Balance("pos").posted.expired, 50);
  EXPECT_EQ(Balance("zero").available, 100);
  EXPECT_EQ(Balance("zero").posted.expired, 0);
  EXPECT_EQ(Balance("neg").available, 75);
  EXPECT_EQ(Balance("neg").posted.expired, 0);
  EXPECT_EQ(CountTransfers("zero", TransferKind::kResetExpire), 0);
  EXPECT_EQ(Reconcile().ledger_sum, 0);
}

TEST_F(PeriodsTest, OpenHoldsKeepTheirReservationAcrossAReset) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 100, .rollover_max = 0}).ok());
  auto hold = p_->ledger->Authorize(
      kTenant, AuthorizeArgs{.account_id = "a", .amount = 60, .hold_ttl_seconds = 86400}, Key());
  ASSERT_TRUE(hold.ok() && hold->decision == Decision::kAllowed);
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  EXPECT_EQ(Resets(), 1);
  // 40 unreserved was forfeited; the 60 held stays reserved, and the new 100 is available.
  EXPECT_EQ(Balance("a").posted.expired, 40);
  EXPECT_EQ(Balance("a").held, 60);
  EXPECT_EQ(Balance("a").available, 100);
  auto d = Wait([&](ResultCallback cb) {
    p_->ledger->Debit(kTenant, DebitArgs{.account_id = "a", .hold_id = hold->id, .amount = 60},
                      Key(), std::move(cb));
  });
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Balance("a").available, 100);
}

TEST_F(PeriodsTest, CatchUpAfterDowntimePerformsEachMissedPeriodOnce) {
  Start("Europe/Berlin", absl::CivilSecond(2028, 1, 10, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 100, .rollover_max = 150}).ok());
  p_.reset();  // down from January to April
  SetLocal(absl::CivilSecond(2028, 4, 2, 8, 0, 0));
  p_ = std::make_unique<Process>(&faulty_, &clock_);
  EXPECT_EQ(Resets(), 3);  // February, March, April
  // 100 -> Feb: carry 100 + 100 = 200 -> Mar: carry 150 (50 expired) + 100 = 250 -> Apr: 150+100.
  EXPECT_EQ(Balance("a").available, 250);
  EXPECT_EQ(Balance("a").posted.expired, 150);
  Restart();
  EXPECT_EQ(Resets(), 0);
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetGrant), 4);
}

TEST_F(PeriodsTest, AFailedResetCommitsNothingAndIsDoneOnceAfterRestart) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 100, .rollover_max = 10}).ok());
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  // The reset's transaction (forfeit and grant together) fails: neither half is recorded.
  faulty_.FailNextCommits(1000, absl::UnavailableError("database down"));
  absl::Notification done;
  p_->ledger->RunResets(kTenant, clock_.Now(), [&](absl::StatusOr<int64_t> n) {
    EXPECT_FALSE(n.ok());
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetExpire), 0);
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetGrant), 1);  // only the first allocation
  EXPECT_EQ(Balance("a").available, 100);
  faulty_.FailNextCommits(0, absl::OkStatus());
  Restart();  // the "crash"; the restarted process catches up
  EXPECT_EQ(Resets(), 1);
  EXPECT_EQ(Resets(), 0);
  EXPECT_EQ(Balance("a").available, 110);
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetExpire), 1);
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetGrant), 2);
}

TEST_F(PeriodsTest, AResetWhoseCommitAnswerWasLostIsNotRepeated) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 100, .rollover_max = 10}).ok());
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  faulty_.CommitThenReportInDoubt(1);
  EXPECT_EQ(Resets(), 1);
  Restart();
  EXPECT_EQ(Resets(), 0);
  EXPECT_EQ(CountTransfers("a", TransferKind::kResetGrant), 2);
}

TEST_F(PeriodsTest, TwoSchedulersOnOneStoreResetOnce) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(Upsert("acct" + std::to_string(i), Policy{.monthly_allocation = 100}).ok());
  }
  Process other(&faulty_, &clock_);  // a second daemon, loaded from the same database
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  int64_t a = 0, b = 0;
  std::thread t1([&] { a = Resets(p_->ledger.get()); });
  std::thread t2([&] { b = Resets(other.ledger.get()); });
  t1.join();
  t2.join();
  EXPECT_EQ(a + b, 50);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(CountTransfers("acct" + std::to_string(i), TransferKind::kResetGrant), 2);
  }
}

TEST_F(PeriodsTest, ACappedRunLeavesTheRestForTheNextRun) {
  Start("UTC", absl::CivilSecond(2028, 5, 3, 0, 0, 0));
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(Upsert("acct" + std::to_string(i), Policy{.monthly_allocation = 100}).ok());
  }
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 1));
  auto run = [&](size_t max) {
    absl::Notification done;
    int64_t n = -1;
    p_->ledger->RunResets(
        kTenant, clock_.Now(),
        [&](absl::StatusOr<int64_t> r) {
          n = r.ok() ? *r : -1;
          done.Notify();
        },
        max);
    done.WaitForNotification();
    return n;
  };
  EXPECT_EQ(run(10), 10);
  EXPECT_EQ(run(10), 10);
  EXPECT_EQ(run(10), 5);
  EXPECT_EQ(run(10), 0);
}

TEST_F(PeriodsTest, DailyLimitStartsOverAtLocalMidnight) {
  Start("Asia/Kolkata", absl::CivilSecond(2028, 5, 3, 12, 0, 0));
  ASSERT_TRUE(Upsert("a", Policy{.monthly_allocation = 1000, .daily_limit = 100}).ok());
  ASSERT_TRUE(Spend("a", 70).ok());
  auto h = Authorize("a", 20);  // 70 spent + 20 held = 90
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->decision, Decision::kAllowed);
  auto denied = Authorize("a", 11);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->decision, Decision::kDenied);
  EXPECT_EQ(denied->deny_reason, DenyReason::kDailyLimit);
  EXPECT_EQ(Authorize("a", 10)->decision, Decision::kAllowed);  // exactly the limit
  EXPECT_EQ(Balance("a").day_spent, 70);
  SetLocal(absl::CivilSecond(2028, 5, 3, 23, 59, 59));
  EXPECT_EQ(Authorize("a", 1)->deny_reason, DenyReason::kDailyLimit);
  SetLocal(absl::CivilSecond(2028, 5, 4, 0, 0, 0));
  // A new day: yesterday's spend no longer counts; the two open holds (30) still do.
  EXPECT_EQ(Balance("a").day_spent, 0);
  EXPECT_EQ(Authorize("a", 70)->decision, Decision::kAllowed);
  EXPECT_EQ(Authorize("a", 1)->deny_reason, DenyReason::kDailyLimit);
  EXPECT_EQ(Balance("a").period_spent, 70);
}

TEST_F(PeriodsTest, TeamCapCountsMembersAndStartsOverNextPeriod) {
  Start("Europe/Berlin", absl::CivilSecond(2028, 5, 3, 12, 0, 0));
  ASSERT_TRUE(Team("search", 150).ok());
  ASSERT_TRUE(Upsert("alice", Policy{.monthly_allocation = 100}, "search").ok());
  ASSERT_TRUE(Upsert("bob", Policy{.monthly_allocation = 100}, "search").ok());
  ASSERT_TRUE(Upsert("carol", Policy{.monthly_allocation = 100}).ok());  // no team
  ASSERT_TRUE(Spend("alice", 100).ok());
  EXPECT_EQ(Authorize("bob", 60)->deny_reason, DenyReason::kTeamLimit);
  EXPECT_EQ(Authorize("bob", 50)->decision, Decision::kAllowed);  // exactly the cap
  EXPECT_EQ(Authorize("bob", 1)->deny_reason, DenyReason::kTeamLimit);
  EXPECT_EQ(Authorize("carol", 60)->decision, Decision::kAllowed);
  // The cap survives a restart (usage is summed from the transfers).
  Restart();
  EXPECT_EQ(Authorize("bob", 1)->deny_reason, DenyReason::kTeamLimit);
  EXPECT_EQ(Balance("alice").period_spent, 100);
  SetLocal(absl::CivilSecond(2028, 6, 1, 0, 0, 0));
  EXPECT_EQ(Resets(), 3);
  // A new period: the held 50 still counts, the spent 100 does not.
  EXPECT_EQ(Authorize("bob", 100)->decision, Decision::kAllowed);
  EXPECT_EQ(Authorize("alice", 1)->deny_reason, DenyReason::kTeamLimit);
}

}  // namespace
}  // namespace tokenledger
