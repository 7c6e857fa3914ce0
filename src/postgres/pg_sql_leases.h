// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The SQL of leases and fencing (tenant_leases; migration 0006): the fence check and the
// lease of a tenant created by a batch (prepared on the writer connections), the claim, listing and
// release of leases (run on the read connections).
//
// Constants only (statement names and text): thread-safe, no errors of their own.
#ifndef TOKENLEDGER_POSTGRES_PG_SQL_LEASES_H_
#define TOKENLEDGER_POSTGRES_PG_SQL_LEASES_H_

namespace tokenledger {
namespace pg_internal {

// Fencing: the lease rows of a batch's tenants, locked FOR SHARE until the batch commits (a
// takeover's UPDATE waits for them), counted by the caller: each must still be this owner's at
// the epoch its cache was loaded under.
inline constexpr char kCheckFences[] = "tl_check_fences";
inline constexpr char kCheckFencesSql[] =
    "SELECT l.tenant_id FROM tenant_leases l "
    "JOIN unnest($1::text[], $2::bigint[]) AS f(tenant_id, epoch) "
    "ON l.tenant_id = f.tenant_id AND l.epoch = f.epoch "
    "WHERE l.owner_id = $3 FOR SHARE OF l";

// A tenant created by this process is leased to it from the start.
inline constexpr char kInsertLeases[] = "tl_insert_leases";
inline constexpr char kInsertLeasesSql[] =
    "INSERT INTO tenant_leases (tenant_id, owner_id, owner_address, epoch, expires_at) "
    "SELECT t, $2, $3, 1, now() + make_interval(secs => $4::double precision) "
    "FROM unnest($1::text[]) AS t ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id";

// Renews this owner's leases and, with $4, takes every missing or expired one, and every one of
// an earlier incarnation of this node (owner ids are "node/incarnation"); epoch + 1 when the
// lease changes owner. Rows locked by another owner's batch in flight are waited for.
inline constexpr char kClaimLeasesSql[] =
    "INSERT INTO tenant_leases AS l (tenant_id, owner_id, owner_address, epoch, expires_at) "
    "SELECT tenant_id, $1, $2, 1, now() + make_interval(secs => $3::double precision) "
    "FROM tenants WHERE $4 OR tenant_id IN (SELECT tenant_id FROM tenant_leases "
    "WHERE owner_id = $1) "
    "ON CONFLICT (tenant_id) DO UPDATE SET owner_id = excluded.owner_id, "
    "owner_address = excluded.owner_address, expires_at = excluded.expires_at, "
    "epoch = CASE WHEN l.owner_id = excluded.owner_id THEN l.epoch ELSE l.epoch + 1 END "
    "WHERE l.owner_id = excluded.owner_id OR l.expires_at < now() "
    "OR split_part(l.owner_id, '/', 1) = split_part(excluded.owner_id, '/', 1) "
    "RETURNING l.tenant_id, l.owner_id, l.owner_address, l.epoch, "
    "(extract(epoch FROM l.expires_at) * 1000000)::bigint";

inline constexpr char kListLeasesSql[] =
    "SELECT tenant_id, owner_id, owner_address, epoch, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint FROM tenant_leases";

inline constexpr char kReleaseLeasesSql[] =
    "UPDATE tenant_leases SET expires_at = now() - interval '1 second' WHERE owner_id = $1";

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_SQL_LEASES_H_
