-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- Tenant ownership. A tokenledgerd process serves a tenant only while it holds the tenant's lease
-- row. `epoch` grows each time the lease passes to another owner; every write batch locks the
-- rows of its tenants (FOR SHARE) and checks that the epochs are still the ones it loaded its
-- cache under, so a paused or partitioned former owner can never commit after a takeover (the
-- taker's UPDATE waits for a batch holding the lock, and every later batch of the former owner
-- finds the new epoch).
CREATE TABLE tenant_leases (
  tenant_id     text        PRIMARY KEY REFERENCES tenants (tenant_id),
  owner_id      text        NOT NULL,  -- node id and process incarnation
  owner_address text        NOT NULL,  -- where clients reach the owner
  epoch         bigint      NOT NULL CHECK (epoch > 0),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX tenant_leases_owner ON tenant_leases (owner_id);
