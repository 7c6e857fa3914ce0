// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore's write path: Commit (the fencing check, then the batch writer's statements, in one
// round trip when the batch needs no answer from the database, else in a transaction),
// CommittedBatch, and the writer connections' slots.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "postgres/pg_batch_writer.h"
#include "postgres/pg_conn.h"
#include "postgres/pg_sql_writer.h"
#include "postgres/pg_store.h"
#include "store/store_rules.h"

namespace tokenledger {
namespace {

using pg_internal::BatchRunner;
using pg_internal::ClassifyCurrentException;
using pg_internal::Failure;
using pg_internal::Prune;
using Outcomes = std::vector<MutationOutcome>;

// Raised by tl_fence_check (migration 0006) when a lease of the batch is no longer this owner's.
constexpr char kFenceLostState[] = "TLF01";

absl::Status FenceLost() {
  return absl::AbortedError(
      "lease lost: a tenant of this batch is now served by another process (its fencing epoch "
      "changed); nothing of the batch was committed");
}

// The fencing check of the one-round-trip form: raises kFenceLostState, which fails the batch.
void AppendFenceCheck(BatchRunner& run, const PgStore::FencePlan& plan) {
  if (!plan.enabled || plan.fenced == 0) return;
  run.Append("SELECT tl_fence_check(");
  run.AppendLiteral(plan.tenants);
  run.Append(",");
  run.AppendLiteral(plan.epochs);
  run.Append(",");
  run.AppendLiteral(plan.owner_id);
  run.Append(");\n");
}

// The fencing check in a transaction: the lease rows stay locked FOR SHARE until COMMIT.
absl::Status CheckFences(pqxx::work& txn, const PgStore::FencePlan& plan) {
  if (!plan.enabled || plan.fenced == 0) return absl::OkStatus();
  pqxx::result r =
      txn.exec_prepared(pg_internal::kCheckFences, plan.tenants, plan.epochs, plan.owner_id);
  if (r.size() == plan.fenced) return absl::OkStatus();
  return FenceLost();
}

std::vector<std::string> LeaseCreatedTenants(pqxx::work& txn, const PgStore::FencePlan& plan) {
  std::vector<std::string> leased;
  if (!plan.enabled || !plan.creates) return leased;
  for (const pqxx::row& row :
       txn.exec_prepared(pg_internal::kInsertLeases, plan.created, plan.owner_id,
                         plan.owner_address, plan.ttl_seconds)) {
    leased.push_back(row[0].as<std::string>());
  }
  return leased;
}

// What one attempt of Commit decided: answer the caller, try again (the connection broke before
// anything could have been committed), or try again the careful way (a key stored already).
struct Attempt {
  enum Next { kAnswer, kRetry, kRetryCareful } next = kAnswer;
  absl::StatusOr<Outcomes> answer = Outcomes{};  // kAnswer
  absl::Status failure;                          // kRetry: answered if no attempt is left
  std::vector<std::string> leased;               // tenants the commit leased to this owner
};

Attempt Answer(absl::StatusOr<Outcomes> answer) {
  Attempt a;
  a.answer = std::move(answer);
  return a;
}

// After a failure: the connection is marked broken or not; a broken one is retried (unless
// `in_doubt_is_final` and the outcome is unknown), anything else answered.
Attempt AfterFailure(PgConn& writer, const Failure& failure, bool in_doubt_is_final) {
  writer.broken = failure.broken || !writer.conn.is_open();
  if (!writer.broken || (in_doubt_is_final && absl::IsUnknown(failure.status))) {
    return Answer(failure.status);
  }
  Attempt a;
  a.next = Attempt::kRetry;
  a.failure = failure.status;
  return a;
}

// Every statement in one query string, which the server runs as one implicit transaction and
// commits before it answers.
Attempt OneRoundTrip(PgConn& writer, absl::Span<const Mutation* const> batch, uint64_t batch_id,
                     const PgStore::FencePlan& fence, const std::optional<Prune>& prune) {
  Failure failure;
  try {
    BatchRunner run;
    AppendFenceCheck(run, fence);
    Outcomes outcomes;
    absl::Status s = pg_internal::WriteBatch(run, batch, batch_id, prune, outcomes);
    if (!s.ok()) return Answer(s);
    std::optional<pqxx::nontransaction> txn;
    try {
      txn.emplace(writer.conn);
    } catch (...) {
      // Nothing was sent: a connection found dead here is simply opened again.
      return AfterFailure(writer, ClassifyCurrentException(/*at_commit=*/false), false);
    }
    txn->exec(run.sql());
    return Answer(std::move(outcomes));
  } catch (const pqxx::unique_violation&) {
    // Most likely an idempotency key stored already (a retry the cache no longer knew):
    // nothing was committed, and the careful path sorts the keys out.
    Attempt a;
    a.next = Attempt::kRetryCareful;
    return a;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == kFenceLostState) return Answer(FenceLost());
    failure = ClassifyCurrentException(/*at_commit=*/true);
  } catch (...) {
    // The commit is part of the one statement: a connection lost now leaves it in doubt.
    failure = ClassifyCurrentException(/*at_commit=*/true);
  }
  return AfterFailure(writer, failure, /*in_doubt_is_final=*/true);
}

// A transaction of several round trips, for a batch that needs the database's answers before
// its commit (the stored idempotency keys; a new tenant's lease rows).
Attempt InTransaction(PgConn& writer, absl::Span<const Mutation* const> batch, uint64_t batch_id,
                      const PgStore::FencePlan& fence, const std::optional<Prune>& prune) {
  try {
    pqxx::work txn(writer.conn);
    BatchRunner run(txn);
    // First, so that the lease rows stay locked until COMMIT.
    if (absl::Status f = CheckFences(txn, fence); !f.ok()) return Answer(f);
    Outcomes outcomes;
    absl::Status s = pg_internal::WriteBatch(run, batch, batch_id, prune, outcomes);
    if (!s.ok()) return Answer(s);  // the transaction is rolled back as it goes out of scope
    Attempt a;
    a.leased = LeaseCreatedTenants(txn, fence);
    try {
      txn.commit();
      a.answer = std::move(outcomes);
      return a;
    } catch (...) {
      const Failure failure = ClassifyCurrentException(/*at_commit=*/true);
      writer.broken = failure.broken || !writer.conn.is_open();
      return Answer(failure.status);
    }
  } catch (...) {
    return AfterFailure(writer, ClassifyCurrentException(/*at_commit=*/false), false);
  }
}

}  // namespace

absl::StatusOr<std::vector<MutationOutcome>> PgStore::Commit(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  // Checked before anything is sent: libpq cannot carry a NUL, and the database would reject
  // invalid UTF-8 only after the batch's other work.
  for (const Mutation* m : batch) {
    if (m == nullptr) return absl::InvalidArgumentError("batch holds a null mutation");
    if (absl::Status s = CheckStorableText(*m); !s.ok()) return s;
  }
  absl::StatusOr<FencePlan> fence = PlanFences(batch);
  if (!fence.ok()) return fence.status();
  const size_t slot = AcquireWriterSlot();
  absl::Cleanup release = [this, slot] { ReleaseWriterSlot(slot); };
  std::unique_ptr<PgConn>& writer = writers_[slot];
  std::optional<Prune> prune_now;
  if (++commits_ % options_.prune_every == 0) {
    prune_now = Prune{options_.batch_ids_keep,
                      absl::ToUnixMicros(absl::Now() - options_.closed_holds_window)};
  }
  // One round trip unless the batch needs the database's answers before its commit (a stored
  // idempotency key, found by the first attempt; a new tenant's lease).
  bool fast = !fence->creates;
  absl::Status last = absl::UnavailableError("database unavailable");
  // Another attempt only when the connection broke before COMMIT was sent: the server then
  // rolled the transaction back, so nothing of the batch is durable and repeating it is safe.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (absl::Status s = UsableWriter(writer); !s.ok()) return s;
    Attempt a = fast ? OneRoundTrip(*writer, batch, batch_id, *fence, prune_now)
                     : InTransaction(*writer, batch, batch_id, *fence, prune_now);
    if (a.next == Attempt::kAnswer) {
      if (a.answer.ok() && !a.leased.empty()) {
        absl::MutexLock lock(&fence_mu_);
        for (std::string& t : a.leased) fences_[std::move(t)] = 1;
      }
      return std::move(a.answer);
    }
    if (a.next == Attempt::kRetryCareful) {
      fast = false;
    } else {
      last = a.failure;
    }
  }
  return last;
}

size_t PgStore::AcquireWriterSlot() {
  absl::MutexLock lock(&writer_mu_);
  size_t slot = 0;
  auto free_slot = [this, &slot]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_) {
    for (size_t i = 0; i < writer_busy_.size(); ++i) {
      if (!writer_busy_[i]) {
        slot = i;
        return true;
      }
    }
    return false;
  };
  writer_mu_.Await(absl::Condition(&free_slot));
  writer_busy_[slot] = true;
  return slot;
}

void PgStore::ReleaseWriterSlot(size_t slot) {
  absl::MutexLock lock(&writer_mu_);
  writer_busy_[slot] = false;
}

absl::Status PgStore::UsableWriter(std::unique_ptr<PgConn>& writer) {
  // A connection the server closed while it was idle is replaced before anything is sent on it:
  // sent there, a batch's fate would read as in doubt although the server cannot have run it.
  if (writer != nullptr && !writer->broken && !pg_internal::ClosedByServer(writer->conn)) {
    return absl::OkStatus();
  }
  writer.reset();
  absl::StatusOr<std::unique_ptr<PgConn>> conn = Connect(/*writer=*/true);
  if (!conn.ok()) return conn.status();
  writer = std::move(*conn);
  return absl::OkStatus();
}

absl::StatusOr<bool> PgStore::CommittedBatch(uint64_t batch_id) {
  const size_t slot = AcquireWriterSlot();
  absl::Cleanup release = [this, slot] { ReleaseWriterSlot(slot); };
  std::unique_ptr<PgConn>& writer = writers_[slot];
  absl::Status last = absl::UnavailableError("database unavailable");
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (absl::Status s = UsableWriter(writer); !s.ok()) return s;
    Failure failure;
    try {
      pqxx::nontransaction txn(writer->conn);
      return txn.exec_prepared1(pg_internal::kCommittedBatch, pg_internal::ToInt64(batch_id))[0]
          .as<bool>();
    } catch (...) {
      failure = ClassifyCurrentException(false);
    }
    writer->broken = failure.broken || !writer->conn.is_open();
    if (!writer->broken) return failure.status;
    last = failure.status;
  }
  return last;
}

}  // namespace tokenledger
