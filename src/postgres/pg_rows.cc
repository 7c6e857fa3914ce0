// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_rows.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "postgres/pg_conn.h"

namespace tokenledger {
namespace pg_internal {

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

namespace {

// The elements of a one-dimensional array (NULL as ""). Each step consumes input, so the loop is
// bounded by the input's length.
std::vector<std::string> ParseArray(pqxx::array_parser& parser, size_t size) {
  std::vector<std::string> out;
  for (size_t steps = 0; steps <= size + 2; ++steps) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) break;
    if (juncture == pqxx::array_parser::string_value) out.push_back(std::move(value));
    if (juncture == pqxx::array_parser::null_value) out.emplace_back();
  }
  return out;
}

std::optional<int64_t> OptionalInt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

}  // namespace

std::vector<std::string> TextArray(const pqxx::field& f) {
  pqxx::array_parser parser = f.as_array();
  return ParseArray(parser, f.size());
}

std::vector<std::string> TextArray(const std::string& literal) {
  pqxx::array_parser parser(literal.c_str());
  return ParseArray(parser, literal.size());
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
  h.model = r[10].as<std::string>();
  return h;
}

absl::StatusOr<TransferRecord> TransferFromRow(const pqxx::row& r, const std::string& tenant_id) {
  TransferRecord t;
  t.tenant_id = tenant_id;
  t.seq = r[0].as<int64_t>();
  t.transfer_id = r[1].as<std::string>();
  t.debit_account_id = r[2].as<std::string>();
  t.credit_account_id = r[3].as<std::string>();
  t.amount = r[4].as<int64_t>();
  t.kind = static_cast<TransferKind>(r[5].as<int>());
  t.created_at_us = r[6].as<int64_t>();
  t.request_id = r[7].as<std::string>();
  t.model = r[8].as<std::string>();
  t.memo = r[9].as<std::string>();
  t.hold_id = r[10].as<std::string>();
  t.idempotency_key = r[11].as<std::string>();
  std::vector<std::string> keys = TextArray(r[12]);
  std::vector<std::string> values = TextArray(r[13]);
  if (keys.size() != values.size()) return absl::InternalError("transfers: malformed metadata");
  for (size_t i = 0; i < keys.size(); ++i) {
    t.metadata.emplace_back(std::move(keys[i]), std::move(values[i]));
  }
  // The schema keeps the three token counts null together (transfers_usage).
  if (!r[14].is_null()) {
    t.usage = TokenUsage{.input_tokens = r[14].as<int64_t>(),
                         .output_tokens = r[15].as<int64_t>(),
                         .cached_input_tokens = r[16].as<int64_t>()};
  }
  t.price_effective_at_us = OptionalInt(r[17]);
  t.occurred_at_us = OptionalInt(r[18]);
  return t;
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
