// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_rows.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "postgres/pg_conn.h"

namespace tokenledger {
namespace pg_internal {

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

// Parses a one-dimensional text[] column. Each step consumes input, so the loop is bounded by
// the field's length.
std::vector<std::string> TextArray(const pqxx::field& f) {
  std::vector<std::string> out;
  pqxx::array_parser parser = f.as_array();
  for (size_t steps = 0; steps <= f.size() + 2; ++steps) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) break;
    if (juncture == pqxx::array_parser::string_value) out.push_back(std::move(value));
    if (juncture == pqxx::array_parser::null_value) out.emplace_back();
  }
  return out;
}

IdempotencyRecord IdempotencyFromRow(const pqxx::row& r) {
  IdempotencyRecord rec;
  rec.tenant_id = r[0].as<std::string>();
  rec.key = r[1].as<std::string>();
  rec.fingerprint = ToUint64(r[2].as<int64_t>());
  rec.response = Bytes(r[3]);
  return rec;
}

// A row of kLoadOpenHoldsSql, kLoadClosedHoldsSql or kGetHoldSql.
HoldRecord HoldFromRow(const pqxx::row& r) {
  HoldRecord h;
  h.tenant_id = r[0].as<std::string>();
  h.hold_id = r[1].as<std::string>();
  h.account_id = r[2].as<std::string>();
  h.amount = r[3].as<int64_t>();
  h.created_at_us = r[4].as<int64_t>();
  h.expires_at_us = r[5].as<int64_t>();
  h.status = static_cast<HoldStatus>(r[6].as<int>());
  h.idempotency_key = r[7].as<std::string>();
  if (!r[8].is_null() && !r[9].is_null()) {
    h.fingerprint = ToUint64(r[8].as<int64_t>());
    h.response = Bytes(r[9]);
  }
  return h;
}

TenantRecord TenantFromRow(const pqxx::row& r) {
  TenantRecord t;
  t.tenant_id = r[0].as<std::string>();
  t.display_name = r[1].as<std::string>();
  t.unit = r[2].as<std::string>();
  t.timezone = r[3].as<std::string>();
  t.created_at_us = r[4].as<int64_t>();
  return t;
}

absl::StatusOr<ApiKeyRecord> ApiKeyFromRow(const pqxx::row& r) {
  ApiKeyRecord k;
  k.key_id = r[0].as<std::string>();
  k.tenant_id = r[1].as<std::string>();
  std::optional<Role> role = ParseRole(r[2].as<std::string>());
  if (!role.has_value()) {
    return absl::InternalError(absl::StrCat("api_keys: unknown role of key ", k.key_id));
  }
  k.role = *role;
  k.key_hash = r[3].as<std::string>();
  k.created_at_us = r[4].as<int64_t>();
  k.revoked = r[5].as<bool>();
  return k;
}

LeaseRecord LeaseFromRow(const pqxx::row& r) {
  return LeaseRecord{.tenant_id = r[0].as<std::string>(),
                     .owner_id = r[1].as<std::string>(),
                     .owner_address = r[2].as<std::string>(),
                     .epoch = r[3].as<int64_t>(),
                     .expires_at_us = r[4].as<int64_t>()};
}

}  // namespace pg_internal
}  // namespace tokenledger
