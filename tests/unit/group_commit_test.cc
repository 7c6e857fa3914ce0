// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The group-commit writer on the in-memory store: batching, deferred writes, failures.
#include "store/group_commit.h"

#include <sched.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/faulty_store.h"
#include "testing/memory_store.h"

namespace tokenledger {
namespace {

Mutation NewTenant(const std::string& id) {
  Mutation m;
  m.tenant = TenantRecord{.tenant_id = id};
  return m;
}

// Submits `m` and waits for its answer.
absl::Status SubmitAndWait(GroupCommitWriter& writer, Mutation m) {
  absl::Notification done;
  absl::Status got;
  const absl::Status queued = writer.Submit(std::move(m), [&](absl::StatusOr<MutationOutcome> r) {
    got = r.status();
    done.Notify();
  });
  if (!queued.ok()) return queued;
  done.WaitForNotification();
  return got;
}

TEST(GroupCommitTest, DeferredWritesWaitForTheIntervalOrTheNextUrgentWrite) {
  MemoryStore mem;
  WriterOptions wo;
  wo.deferred_flush_interval = absl::Milliseconds(300);
  GroupCommitWriter writer(&mem, SystemClock::Default(), wo);
  absl::Notification first;
  ASSERT_TRUE(writer
                  .SubmitDeferred(NewTenant("a"),
                                  [&](absl::StatusOr<MutationOutcome> r) {
                                    EXPECT_TRUE(r.ok());
                                    first.Notify();
                                  })
                  .ok());
  // Nobody waits for it: it is not committed at once...
  EXPECT_FALSE(first.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  // ...but within its interval.
  EXPECT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(writer.stats().batches, 1u);

  // A deferred write followed by an urgent one: both go at once, in one batch.
  absl::Notification deferred, urgent;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(writer
                  .SubmitDeferred(NewTenant("b"),
                                  [&](absl::StatusOr<MutationOutcome>) { deferred.Notify(); })
                  .ok());
  ASSERT_TRUE(
      writer.Submit(NewTenant("c"), [&](absl::StatusOr<MutationOutcome>) { urgent.Notify(); })
          .ok());
  urgent.WaitForNotification();
  deferred.WaitForNotification();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_EQ(writer.stats().batches, 2u);
  EXPECT_EQ(writer.stats().mutations, 3u);
  writer.Stop();
}

TEST(GroupCommitTest, StopCommitsDeferredWritesAtOnce) {
  MemoryStore mem;
  WriterOptions wo;
  wo.deferred_flush_interval = absl::Seconds(60);
  auto writer = std::make_unique<GroupCommitWriter>(&mem, SystemClock::Default(), wo);
  std::atomic<bool> done{false};
  ASSERT_TRUE(writer
                  ->SubmitDeferred(NewTenant("a"),
                                   [&](absl::StatusOr<MutationOutcome> r) { done = r.ok(); })
                  .ok());
  const absl::Time start = absl::Now();
  writer->Stop();
  EXPECT_TRUE(done);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(writer->Submit(NewTenant("b"), [](absl::StatusOr<MutationOutcome>) {}).code(),
            absl::StatusCode::kUnavailable);
}

TEST(GroupCommitTest, AFailedBatchFailsEveryCallInIt) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  WriterOptions wo;
  wo.commit_retry_for = absl::Milliseconds(50);
  wo.retry_backoff = absl::Milliseconds(10);
  GroupCommitWriter writer(&faulty, SystemClock::Default(), wo);
  faulty.SetUnavailable(true);
  const absl::Status got = SubmitAndWait(writer, NewTenant("a"));
  EXPECT_EQ(got.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(writer.stats().failed_batches, 1u);
  writer.Stop();
}

// A batch the store rejects for certain (a constraint) fails every call in it as INTERNAL, not
// with the store's code, which would blame each caller for one mutation's fault.
TEST(GroupCommitTest, ARejectedBatchIsInternalForEveryCall) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  GroupCommitWriter writer(&faulty, SystemClock::Default(), WriterOptions{});
  faulty.FailNextCommits(1, absl::AlreadyExistsError("tenants: duplicate key"));
  const absl::Status got = SubmitAndWait(writer, NewTenant("a"));
  EXPECT_EQ(got.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(writer.stats().failed_batches, 1u);
  writer.Stop();
}

// The commit hook (metrics) hears of every batch: its size, its time, whether it committed.
TEST(GroupCommitTest, TheCommitHookSeesEveryBatch) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  absl::Mutex mu;
  std::vector<size_t> sizes;
  int failed = 0;
  absl::Duration took_total;
  WriterOptions wo;
  wo.commit_retry_for = absl::Milliseconds(50);
  wo.retry_backoff = absl::Milliseconds(10);
  wo.on_commit = [&](size_t n, absl::Duration took, bool committed) {
    absl::MutexLock lock(&mu);
    sizes.push_back(n);
    took_total += took;
    if (!committed) ++failed;
  };
  GroupCommitWriter writer(&faulty, SystemClock::Default(), wo);
  ASSERT_TRUE(SubmitAndWait(writer, NewTenant("a")).ok());
  ASSERT_TRUE(SubmitAndWait(writer, NewTenant("b")).ok());
  faulty.SetUnavailable(true);
  EXPECT_EQ(SubmitAndWait(writer, NewTenant("c")).code(), absl::StatusCode::kUnavailable);
  writer.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 1}));
  EXPECT_EQ(failed, 1);
  EXPECT_GE(took_total, absl::Milliseconds(40));  // the failed batch retried for its window
}

// Two committers over one store: every call is answered once, and an exclusive item sees
// everything queued before it committed.
// A deferred write may have nobody to tell (an Authorize's holds): it is committed all the same,
// alone or beside writes whose callers are answered.
TEST(GroupCommitTest, DeferredWritesWithNobodyToTellAreCommitted) {
  MemoryStore mem;
  GroupCommitWriter writer(&mem, SystemClock::Default(), WriterOptions{});
  ASSERT_TRUE(writer.SubmitDeferred(NewTenant("alone"), nullptr).ok());
  absl::Notification answered;
  ASSERT_TRUE(writer.SubmitDeferred(NewTenant("beside"), nullptr).ok());
  ASSERT_TRUE(writer
                  .Submit(NewTenant("told"),
                          [&](absl::StatusOr<MutationOutcome> r) {
                            EXPECT_TRUE(r.ok()) << r.status();
                            answered.Notify();
                          })
                  .ok());
  answered.WaitForNotification();
  writer.Stop();
  auto snap = mem.Load();
  ASSERT_TRUE(snap.ok());
  std::vector<std::string> tenants;
  for (const TenantRecord& t : snap->tenants) tenants.push_back(t.tenant_id);
  EXPECT_THAT(tenants, ::testing::UnorderedElementsAre("alone", "beside", "told"));
}

// A committing thread woken by a submit must not preempt the submitter (SCHED_BATCH); the option
// turns it off.
TEST(GroupCommitTest, CommittingThreadsRunAsBatchThreads) {
  for (bool batch : {true, false}) {
    MemoryStore mem;
    WriterOptions wo;
    wo.batch_scheduling = batch;
    GroupCommitWriter writer(&mem, SystemClock::Default(), wo);
    absl::Notification ran;
    int policy = -1;
    ASSERT_TRUE(writer
                    .RunExclusive([&](LedgerStore&) {
                      policy = sched_getscheduler(0);
                      ran.Notify();
                    })
                    .ok());
    ran.WaitForNotification();
    EXPECT_EQ(policy, batch ? SCHED_BATCH : SCHED_OTHER) << "batch_scheduling " << batch;
    writer.Stop();
  }
}

TEST(GroupCommitTest, TwoCommittersAnswerEveryCallAndExclusiveItemsRunAlone) {
  MemoryStore mem;
  WriterOptions wo;
  wo.committers = 2;
  wo.batch_mutations_max = 3;
  GroupCommitWriter writer(&mem, SystemClock::Default(), wo);
  constexpr int kCalls = 200;
  std::atomic<int> answered{0};
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(writer
                    .Submit(NewTenant("t" + std::to_string(i)),
                            [&](absl::StatusOr<MutationOutcome> r) {
                              EXPECT_TRUE(r.ok());
                              ++answered;
                            })
                    .ok());
  }
  absl::Notification ran;
  int seen_answered = -1;
  ASSERT_TRUE(writer
                  .RunExclusive([&](LedgerStore& store) {
                    seen_answered = answered.load();
                    auto snap = store.Load();
                    EXPECT_EQ(snap->tenants.size(), static_cast<size_t>(kCalls));
                    ran.Notify();
                  })
                  .ok());
  ran.WaitForNotification();
  EXPECT_EQ(seen_answered, kCalls);
  writer.Stop();
  EXPECT_EQ(answered.load(), kCalls);
}

// ---- a commit in doubt while the database is away ----------------------------------------------

// One call's answer, received on the writer's completing thread.
struct Answer {
  absl::Notification done;
  absl::StatusOr<MutationOutcome> result = absl::UnknownError("not answered");
  Journal::Done Callback() {
    return [this](absl::StatusOr<MutationOutcome> r) {
      result = std::move(r);
      done.Notify();
    };
  }
};

WriterOptions ShortWindow() {
  WriterOptions wo;
  wo.commit_retry_for = absl::Milliseconds(300);
  wo.retry_backoff = absl::Milliseconds(10);
  return wo;
}

// The connection is lost during a batch's COMMIT (which happened) and the database stays away:
// that batch's call waits for the outcome, while the calls after it are answered UNAVAILABLE
// within their window instead of queueing behind it; once the database is back the first call
// is answered with its commit, and only then does an exclusive item run.
TEST(GroupCommitTest, AnInDoubtBatchWaitsForTheDatabaseWhileLaterCallsFailWithinTheirWindow) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  GroupCommitWriter writer(&faulty, SystemClock::Default(), ShortWindow());
  faulty.CommitThenReportInDoubt(1);
  faulty.GoAwayAfterNextCommit();
  Answer first;
  ASSERT_TRUE(writer.Submit(NewTenant("a"), first.Callback()).ok());
  absl::SleepFor(absl::Milliseconds(50));  // its commit is now in doubt, the store away

  Answer second;
  ASSERT_TRUE(writer.Submit(NewTenant("b"), second.Callback()).ok());
  ASSERT_TRUE(second.done.WaitForNotificationWithTimeout(absl::Seconds(2)));  // window 300 ms
  EXPECT_EQ(second.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(first.done.HasBeenNotified());
  std::atomic<bool> exclusive_ran{false};
  ASSERT_TRUE(writer.RunExclusive([&](LedgerStore&) { exclusive_ran = true; }).ok());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(exclusive_ran.load());  // it waits for the outcome of the batch before it

  faulty.SetUnavailable(false);
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(first.result.ok()) << first.result.status();
  EXPECT_TRUE(first.result->committed);
  EXPECT_EQ(writer.stats().in_doubt_resolved, 1u);
  writer.Stop();
  EXPECT_TRUE(exclusive_ran.load());
  auto snap = mem.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->tenants.size(), 1u);  // "a" committed once; "b" never
  EXPECT_EQ(snap->tenants[0].tenant_id, "a");
}

// The connection is lost before the COMMIT ran, and the database is away when the writer asks:
// once it answers that the batch never committed, its call is UNAVAILABLE (nothing recorded).
TEST(GroupCommitTest, AnInDoubtBatchThatDidNotCommitIsUnavailableOnceTheDatabaseSaysSo) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  GroupCommitWriter writer(&faulty, SystemClock::Default(), ShortWindow());
  faulty.FailNextCommits(1, absl::UnknownError("commit in doubt (injected)"));
  faulty.GoAwayAfterNextCommit();
  Answer first;
  ASSERT_TRUE(writer.Submit(NewTenant("a"), first.Callback()).ok());
  EXPECT_FALSE(first.done.WaitForNotificationWithTimeout(absl::Milliseconds(500)));
  faulty.SetUnavailable(false);
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(first.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(first.result.status().message()),
              ::testing::HasSubstr("nothing was recorded"));
  writer.Stop();
  EXPECT_TRUE(mem.Load()->tenants.empty());
}

// A writer stopped while the database is still away cannot learn the outcome: the call is told
// so (DEADLINE_EXCEEDED, retry with the same key), never that nothing was recorded.
TEST(GroupCommitTest, StoppingWithAnUnresolvedBatchSaysTheOutcomeIsUnknown) {
  MemoryStore mem;
  FaultyStore faulty(&mem);
  GroupCommitWriter writer(&faulty, SystemClock::Default(), ShortWindow());
  faulty.CommitThenReportInDoubt(1);
  faulty.GoAwayAfterNextCommit();
  Answer first;
  ASSERT_TRUE(writer.Submit(NewTenant("a"), first.Callback()).ok());
  absl::SleepFor(absl::Milliseconds(50));
  writer.Stop();
  ASSERT_TRUE(first.done.HasBeenNotified());
  EXPECT_EQ(first.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(first.result.status().message()),
              ::testing::HasSubstr("same idempotency key"));
}

}  // namespace
}  // namespace tokenledger
