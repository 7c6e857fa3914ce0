// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// A ledger process for engine tests: a real group-commit writer and a Ledger over a shared
// store, loaded from it (a second one over the same store is a restart), and WaitFor, which runs
// an asynchronous engine call and waits for its answer.
#ifndef TOKENLEDGER_TESTS_UNIT_LEDGER_PROCESS_H_
#define TOKENLEDGER_TESTS_UNIT_LEDGER_PROCESS_H_

#include <memory>
#include <utility>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "ledger/engine.h"
#include "store/group_commit.h"

namespace tokenledger {

struct LedgerProcess {
  LedgerProcess(LedgerStore* store, const Clock* clock, EngineOptions options = {}) {
    WriterOptions wo;
    wo.commit_retry_for = absl::Milliseconds(100);
    wo.retry_backoff = absl::Milliseconds(10);
    // The writer waits in real time (retries, backoff); the ledger lives in the test's time.
    writer = std::make_unique<GroupCommitWriter>(store, SystemClock::Default(), wo);
    ledger = std::make_unique<Ledger>(writer.get(), store, clock, options);
    auto snap = store->Load();
    EXPECT_TRUE(snap.ok()) << snap.status();
    if (snap.ok()) {
      EXPECT_TRUE(ledger->Load(*snap).ok());
    }
  }
  ~LedgerProcess() { writer->Stop(); }
  std::unique_ptr<GroupCommitWriter> writer;
  std::unique_ptr<Ledger> ledger;
};

// Runs `fn(callback)` and waits for the callback's answer.
template <typename Fn>
absl::StatusOr<OpResult> WaitFor(Fn fn) {
  absl::Notification done;
  absl::StatusOr<OpResult> out = absl::UnknownError("not answered");
  fn([&](absl::StatusOr<OpResult> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_TESTS_UNIT_LEDGER_PROCESS_H_
