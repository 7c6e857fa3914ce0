// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Ownership: which tenants this process serves. Every tick it renews its leases and takes every
// lease that is free or expired (LeaseStore::ClaimLeases), loads the cache of each tenant it
// gains from the committed state, stops serving each tenant it lost, and refreshes the API keys
// (so a key revoked through another process stops working here within a tick).
//
// Serving a tenant needs two things: its fence (set once its cache is loaded, removed before it
// is dropped; the store refuses a batch whose epochs moved on) and a live process. A heartbeat
// thread notices when the process was stopped (SIGSTOP, a VM pause) for longer than half a
// lease: until a claim made after the pause confirms the leases, no call is served, so a paused
// owner never answers from a cache another process may have taken over. While the database is
// merely unreachable the leases cannot move either, and the cache keeps answering.
//
// Thread-safe.
#ifndef TOKENLEDGER_SERVER_OWNERSHIP_H_
#define TOKENLEDGER_SERVER_OWNERSHIP_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "ledger/engine.h"
#include "tokenledger/lease.h"
#include "tokenledger/store.h"

namespace tokenledger {

struct OwnershipOptions {
  absl::Duration ttl = absl::Seconds(5);  // must match the LeaseOwner given to the store
};

class Ownership {
 public:
  // None owned. `leases` has fencing enabled.
  Ownership(LeaseStore* leases, LedgerStore* store, Ledger* ledger, OwnershipOptions options);
  ~Ownership();

  // The first claim and the load of every tenant gained, before serving; then starts the loops.
  absl::Status Start();
  // Stops the loops; with `release`, ends this process's leases so that another takes over now.
  void Stop(bool release);

  // OK when this process serves `tenant_id` now. Otherwise kUnavailable, naming the owner's
  // address when known. "" (platform calls) is always served.
  absl::Status CheckServes(const std::string& tenant_id) const;
  // How many tenants this process serves.
  int64_t owned() const;

 private:
  // One claim: renew, take, load what was gained, drop what was lost, refresh keys.
  absl::Status Tick();
  absl::Status Gain(const absl::flat_hash_map<std::string, int64_t>& gained);
  void Lose(const std::string& tenant_id);
  void TickLoop();
  void HeartbeatLoop();
  static int64_t SteadyMicros();

  LeaseStore* const leases_;
  LedgerStore* const store_;
  Ledger* const ledger_;
  const OwnershipOptions options_;
  const int64_t pause_max_us_;  // a longer gap between heartbeats is a pause

  std::atomic<int64_t> last_beat_us_{0};
  std::atomic<int64_t> paused_at_us_{0};  // 0: no unconfirmed pause

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, LeaseRecord> others_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::thread ticker_;
  std::thread heart_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_SERVER_OWNERSHIP_H_
