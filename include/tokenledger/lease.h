// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Tenant ownership: the durable side. A process serves a tenant only while it holds the tenant's
// lease; every lease has a fencing epoch, which grows each time the lease changes hands, and the
// store refuses a write batch whose tenant epochs are no longer the ones this process loaded its
// cache under. PgStore implements it (tests use FakeLeaseStore, tests/testing); the server's
// Ownership loop (src/server/ownership.h) drives it.
#ifndef TOKENLEDGER_LEASE_H_
#define TOKENLEDGER_LEASE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tokenledger/types.h"

namespace tokenledger {

struct LeaseRecord {
  std::string tenant_id;
  std::string owner_id;       // node id and process incarnation
  std::string owner_address;  // where clients reach the owner
  int64_t epoch = 0;
  int64_t expires_at_us = 0;  // the database's clock
};

// This process's identity as a lease owner.
struct LeaseOwner {
  std::string owner_id;  // unique per process: a restarted process is a new owner
  std::string address;
  absl::Duration ttl = absl::Seconds(5);
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // From now on every Commit checks fencing: a mutation of tenant T commits only while this
  // owner holds T's lease at the epoch given by AddFence(T, epoch); a tenant created by a
  // mutation gets a lease of this owner (epoch 1) in the same transaction. A refused batch fails
  // kAborted "lease lost" and commits nothing (the group-commit writer answers its calls
  // kUnavailable, see group_commit.h).
  virtual void EnableFencing(const LeaseOwner& owner) = 0;
  // The epochs Commit accepts: tenant -> epoch. They are also the set of tenants this process
  // serves: a tenant gets its fence once its cache is loaded, and loses it before it is dropped.
  virtual void AddFence(const std::string& tenant_id, int64_t epoch) = 0;
  virtual void RemoveFence(const std::string& tenant_id) = 0;
  virtual std::optional<int64_t> FenceEpoch(const std::string& tenant_id) const = 0;
  virtual absl::flat_hash_map<std::string, int64_t> Fences() const = 0;

  // Extends every lease this owner holds and, when `claim` is set, takes every lease that is
  // missing or expired (a taken lease gets epoch + 1). Returns the leases held afterwards. The
  // takeover waits for any batch in flight that holds the lease row, so the taker's later load
  // sees that batch. kFailedPrecondition before EnableFencing; kUnavailable when the database
  // cannot be reached.
  virtual absl::StatusOr<std::vector<LeaseRecord>> ClaimLeases(bool claim) = 0;
  // Every lease row (for telling callers where a tenant is served).
  virtual absl::StatusOr<std::vector<LeaseRecord>> ListLeases() = 0;
  // Ends this owner's leases at once (graceful shutdown), so another process takes over without
  // waiting for the expiry.
  virtual absl::Status ReleaseLeases() = 0;

  // The current API keys (every daemon refreshes them, so that a revocation is effective
  // everywhere within a refresh interval).
  virtual absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys() = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEASE_H_
