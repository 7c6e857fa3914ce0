// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// ApiKeyRing: the API keys this process accepts (hashes only), by id and by hash, and the calls
// that create and revoke them through the journal. Keys of every tenant are kept, whatever
// tenants this process serves, so that any key authenticates here; a periodic Refresh makes keys
// created or revoked by other processes effective.
//
// Thread-safe. Its lock is the last in the engine's lock order: taken under a tenant's `mu`
// (Revoke reads the key under it; a commit's apply writes under it), nothing under it.
// Errors: kInvalidArgument (ids, operator role), kPermissionDenied (another tenant's keys),
// kNotFound (tenant or key), and the journal's refusals.
#ifndef TOKENLEDGER_LEDGER_API_KEYS_H_
#define TOKENLEDGER_LEDGER_API_KEYS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "ledger/context.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"
#include "tokenledger/types.h"

namespace tokenledger {

class ApiKeyRing {
 public:
  explicit ApiKeyRing(LedgerContext& cx) : cx_(cx) {}

  // Forgets every key (before a Load).
  void Clear();
  // Merges keys read from the store: adds new ones, applies revocations. A listing read before
  // a local change commits must not undo it: keys are only added, and a revocation is never
  // taken back.
  void Refresh(const std::vector<ApiKeyRecord>& keys);
  // `scope` is the caller's tenant ("" for the operator); see Ledger::CreateApiKey.
  void Create(const std::string& scope, ApiKeyRecord key, const IdemArgs& idem,
              ResultCallback done);
  void Revoke(const std::string& scope, const std::string& key_id, const IdemArgs& idem,
              ResultCallback done);
  std::optional<ApiKeyRecord> FindByHash(const std::string& key_hash) const;

 private:
  absl::Status ValidateCreate(const std::string& scope, const ApiKeyRecord& key,
                              const IdemArgs& idem) const;
  // The key `key_id` when `scope` may revoke it.
  std::optional<ApiKeyRecord> FindInScope(const std::string& scope,
                                          const std::string& key_id) const;
  void Add(const ApiKeyRecord& key);
  void MarkRevoked(const std::string& key_id);

  LedgerContext& cx_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ApiKeyRecord> by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> ids_by_hash_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_API_KEYS_H_
