// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore::Load: everything a process needs in memory, read in one snapshot.
#include "postgres/pg_load.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "postgres/pg_conn.h"
#include "postgres/pg_encode.h"
#include "postgres/pg_rows.h"
#include "postgres/pg_sql_load.h"
#include "postgres/pg_store.h"

namespace tokenledger {
namespace pg_internal {

absl::Status MergeHoldBatches(pqxx::transaction_base& txn, const std::string& tenant,
                              std::vector<HoldRecord>& holds, std::vector<HoldSegment>* segments) {
  std::vector<HoldRecord> entries;
  absl::flat_hash_set<Key> seen;
  std::map<std::pair<std::string, int64_t>, int64_t> records;  // per segment
  for (const pqxx::row& r : txn.exec_params(kLoadHoldBatchesSql, tenant)) {
    absl::StatusOr<std::vector<HoldRecord>> decoded =
        DecodeHolds(r[0].as<std::string>(), pqxx::binarystring(r[1]).str());
    if (!decoded.ok()) return decoded.status();
    const int64_t segment = r[2].as<int64_t>();
    if (segment != 0) {
      records[{r[0].as<std::string>(), segment}] += static_cast<int64_t>(decoded->size());
    }
    for (HoldRecord& h : *decoded) {
      h.segment = segment;
      if (seen.insert(Key{h.tenant_id, h.hold_id}).second) entries.push_back(std::move(h));
    }
  }
  if (segments != nullptr) {
    for (const auto& [where, n] : records) {
      segments->push_back(HoldSegment{where.first, where.second, n});
    }
  }
  if (entries.empty()) return absl::OkStatus();
  absl::flat_hash_map<Key, HoldRecord*> loaded;
  loaded.reserve(holds.size());
  for (HoldRecord& h : holds) loaded.emplace(Key{h.tenant_id, h.hold_id}, &h);
  // Only the entries whose row (if any) was not read already: closed before the window.
  ArrayLiteral tenants, ids;
  for (const HoldRecord& h : entries) {
    if (loaded.contains(Key{h.tenant_id, h.hold_id})) continue;
    tenants.AddText(h.tenant_id);
    ids.AddText(h.hold_id);
  }
  absl::flat_hash_set<Key> closed_long_ago;
  if (ids.size() > 0) {
    for (const pqxx::row& r :
         txn.exec_params(kHoldRowsOfSql, std::move(tenants).Finish(), std::move(ids).Finish())) {
      closed_long_ago.emplace(r[0].as<std::string>(), r[1].as<std::string>());
    }
  }
  std::vector<HoldRecord> open;
  for (HoldRecord& e : entries) {
    const Key key{e.tenant_id, e.hold_id};
    if (auto it = loaded.find(key); it != loaded.end()) {
      if (it->second->response.empty()) {
        it->second->fingerprint = e.fingerprint;
        it->second->response = std::move(e.response);
      }
      if (it->second->model.empty()) it->second->model = std::move(e.model);
    } else if (!closed_long_ago.contains(key)) {
      open.push_back(std::move(e));
    }
  }
  holds.insert(holds.end(), std::make_move_iterator(open.begin()),
               std::make_move_iterator(open.end()));
  return absl::OkStatus();
}

namespace {

// A policy's model limits from kCopyAccountsSql's two arrays (models, limits).
absl::StatusOr<std::vector<ModelLimit>> ModelLimitsFrom(const std::string& models,
                                                        const std::string& limits) {
  std::vector<ModelLimit> out;
  if (models == "{}" && limits == "{}") return out;
  std::vector<std::string> names = TextArray(models);
  std::vector<std::string> values = TextArray(limits);
  if (names.size() != values.size()) {
    return absl::InternalError("accounts: malformed model_limits");
  }
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    ModelLimit& l = out.emplace_back();
    l.model = std::move(names[i]);
    if (!absl::SimpleAtoi(values[i], &l.limit)) {
      return absl::InternalError("accounts: malformed model_limits");
    }
  }
  return out;
}

absl::Status CopyAccounts(pqxx::transaction_base& txn, std::vector<Snapshot::AccountBalance>& out) {
  pqxx::stream_from copy(txn, kCopyAccountsSql);
  std::tuple<std::string, std::string, std::string, std::string, bool, int64_t, int64_t, int64_t,
             int64_t, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, std::string,
             std::string>
      r;
  while (copy >> r) {
    Snapshot::AccountBalance& ab = out.emplace_back();
    AccountRecord& a = ab.account;
    a.tenant_id = std::move(std::get<0>(r));
    a.account_id = std::move(std::get<1>(r));
    a.display_name = std::move(std::get<2>(r));
    a.team_id = std::move(std::get<3>(r));
    if (std::get<4>(r)) {
      a.policy = Policy{.monthly_allocation = std::get<5>(r),
                        .rollover_max = std::get<6>(r),
                        .daily_limit = std::get<7>(r),
                        .overdraft_limit = std::get<8>(r)};
      absl::StatusOr<std::vector<ModelLimit>> limits =
          ModelLimitsFrom(std::get<16>(r), std::get<17>(r));
      if (!limits.ok()) return limits.status();
      a.policy->model_limits = *std::move(limits);
    }
    a.status = static_cast<AccountStatus>(std::get<9>(r));
    a.created_at_us = std::get<10>(r);
    ab.posted = PostedTotals{.credits = std::get<11>(r),
                             .debits = std::get<12>(r),
                             .granted = std::get<13>(r),
                             .spent = std::get<14>(r),
                             .expired = std::get<15>(r)};
  }
  copy.complete();
  return absl::OkStatus();
}

absl::Status LoadTenantsKeysTeams(pqxx::transaction_base& txn, Snapshot& s) {
  for (const pqxx::row& r : txn.exec(kLoadTenantsSql)) s.tenants.push_back(TenantFromRow(r));
  for (const pqxx::row& r : txn.exec(kLoadApiKeysSql)) {
    absl::StatusOr<ApiKeyRecord> k = ApiKeyFromRow(r);
    if (!k.ok()) return k.status();
    s.api_keys.push_back(*std::move(k));
  }
  for (const pqxx::row& r : txn.exec(kLoadTeamsSql)) {
    TeamRecord t;
    t.tenant_id = r[0].as<std::string>();
    t.team_id = r[1].as<std::string>();
    t.display_name = r[2].as<std::string>();
    t.monthly_cap = r[3].as<int64_t>();
    s.teams.push_back(std::move(t));
  }
  return absl::OkStatus();
}

// The open holds, the most recently closed ones, and the open holds of hold_batches.
absl::Status LoadHolds(pqxx::transaction_base& txn, int64_t closed_since, int64_t closed_max,
                       Snapshot& s) {
  for (const pqxx::row& r : txn.exec(kLoadOpenHoldsSql)) s.holds.push_back(HoldFromRow(r));
  const size_t first_closed = s.holds.size();
  for (const pqxx::row& r : txn.exec_params(kLoadClosedHoldsSql, closed_since, closed_max)) {
    s.holds.push_back(HoldFromRow(r));
  }
  // The oldest closed first: memory forgets closed holds in the order it learns of them.
  std::reverse(s.holds.begin() + static_cast<std::ptrdiff_t>(first_closed), s.holds.end());
  return MergeHoldBatches(txn, "", s.holds, &s.hold_segments);
}

void LoadPrices(pqxx::transaction_base& txn, Snapshot& s) {
  for (const pqxx::row& r : txn.exec(kLoadPricesSql)) {
    s.prices.push_back(PriceRecord{.tenant_id = r[0].as<std::string>(),
                                   .model = r[1].as<std::string>(),
                                   .effective_at_us = r[2].as<int64_t>(),
                                   .input_per_million = r[3].as<int64_t>(),
                                   .output_per_million = r[4].as<int64_t>(),
                                   .cached_input_per_million = r[5].as<int64_t>(),
                                   .created_at_us = r[6].as<int64_t>()});
  }
}

void LoadKeysAndPeriods(pqxx::transaction_base& txn, int64_t idempotency_max, Snapshot& s) {
  for (const pqxx::row& r : txn.exec_params(kLoadIdempotencySql, idempotency_max)) {
    s.idempotency.push_back(IdempotencyFromRow(r));
  }
  for (const pqxx::row& r : txn.exec(kLoadLastPeriodsSql)) {
    PeriodRecord p;
    p.tenant_id = r[0].as<std::string>();
    p.account_id = r[1].as<std::string>();
    p.period_start_us = r[2].as<int64_t>();
    p.carried = r[3].as<int64_t>();
    p.expired = r[4].as<int64_t>();
    p.granted = r[5].as<int64_t>();
    p.created_at_us = r[6].as<int64_t>();
    s.last_periods.push_back(std::move(p));
  }
}

}  // namespace
}  // namespace pg_internal

absl::StatusOr<Snapshot> PgStore::Load() {
  const int64_t closed_since = absl::ToUnixMicros(absl::Now() - options_.closed_holds_window);
  const int64_t closed_max = options_.closed_holds_load_max;
  const int64_t idempotency_max = options_.idempotency_load_max;
  return WithReader<Snapshot>([&](pqxx::connection& conn) -> absl::StatusOr<Snapshot> {
    // One snapshot for all tables: balances consistent with the holds and keys beside them.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
    Snapshot s;
    if (absl::Status t = pg_internal::LoadTenantsKeysTeams(txn, s); !t.ok()) return t;
    if (absl::Status a = pg_internal::CopyAccounts(txn, s.accounts); !a.ok()) return a;
    absl::Status h = pg_internal::LoadHolds(txn, closed_since, closed_max, s);
    if (!h.ok()) return h;
    pg_internal::LoadKeysAndPeriods(txn, idempotency_max, s);
    pg_internal::LoadPrices(txn, s);
    txn.commit();
    return s;
  });
}

}  // namespace tokenledger
