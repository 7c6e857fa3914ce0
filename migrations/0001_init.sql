-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- The initial schema. Applied by src/store/pg_migrate.cc inside one transaction, which also
-- records it in schema_migrations: do not add BEGIN/COMMIT here.
--
-- Conventions:
-- * Every table is keyed by tenant_id first, so that the schema can be distributed by tenant
--   (Citus) and every lookup of one tenant's rows is an index range scan.
-- * Times are bigint microseconds since the Unix epoch (UTC), the unit of the domain types.
-- * Enums are smallint with the values of include/tokenledger/types.h; roles are text
--   (RoleName), because keys are few and readable rows help operators.
-- * Constraints mirror the ledger's invariants: amounts are positive, a transfer moves between two
--   different accounts of the same tenant (the composite foreign keys carry the tenant).

CREATE TABLE tenants (
  tenant_id    text   NOT NULL PRIMARY KEY,
  display_name text   NOT NULL DEFAULT '',
  unit         text   NOT NULL DEFAULT 'usd_micros',
  timezone     text   NOT NULL DEFAULT 'UTC',
  created_at   bigint NOT NULL
);

-- Only the hash of a key's secret is stored. Operator keys belong to no tenant (tenant_id NULL).
CREATE TABLE api_keys (
  key_id     text   NOT NULL PRIMARY KEY,
  tenant_id  text   REFERENCES tenants (tenant_id),
  role       text   NOT NULL,
  key_hash   text   NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  revoked_at bigint,
  CHECK (role IN ('operator', 'admin', 'hr', 'gateway', 'auditor')),
  CHECK ((role = 'operator') = (tenant_id IS NULL))
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Caller accounts and each tenant's system accounts (ids starting with '@').
CREATE TABLE accounts (
  tenant_id          text     NOT NULL REFERENCES tenants (tenant_id),
  account_id         text     NOT NULL,
  display_name       text     NOT NULL DEFAULT '',
  team_id            text     NOT NULL DEFAULT '',
  has_policy         boolean  NOT NULL DEFAULT false,
  monthly_allocation bigint   NOT NULL DEFAULT 0,
  rollover_max       bigint   NOT NULL DEFAULT 0,
  daily_limit        bigint   NOT NULL DEFAULT 0,
  overdraft_limit    bigint   NOT NULL DEFAULT 0,
  status             smallint NOT NULL DEFAULT 1,
  created_at         bigint   NOT NULL,
  PRIMARY KEY (tenant_id, account_id),
  CHECK (status IN (1, 2, 3)),
  CHECK (monthly_allocation >= 0 AND rollover_max >= 0 AND daily_limit >= 0
         AND overdraft_limit >= 0)
);

CREATE TABLE teams (
  tenant_id    text   NOT NULL REFERENCES tenants (tenant_id),
  team_id      text   NOT NULL,
  display_name text   NOT NULL DEFAULT '',
  monthly_cap  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, team_id),
  CHECK (monthly_cap >= 0)
);

-- Current posted totals per account, updated in the same transaction as the transfers that
-- change them. Recomputable from transfers (Reconcile).
CREATE TABLE balances (
  tenant_id  text   NOT NULL,
  account_id text   NOT NULL,
  credits    bigint NOT NULL DEFAULT 0,
  debits     bigint NOT NULL DEFAULT 0,
  granted    bigint NOT NULL DEFAULT 0,
  spent      bigint NOT NULL DEFAULT 0,
  expired    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, account_id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id)
);

-- Append-only. seq is global and increasing: it orders transfers (newest highest) and is the
-- paging cursor of ListTransfers.
CREATE TABLE transfers (
  tenant_id         text     NOT NULL,
  seq               bigint   GENERATED ALWAYS AS IDENTITY,
  transfer_id       text     NOT NULL,
  debit_account_id  text     NOT NULL,
  credit_account_id text     NOT NULL,
  amount            bigint   NOT NULL,
  kind              smallint NOT NULL,
  created_at        bigint   NOT NULL,
  request_id        text     NOT NULL DEFAULT '',
  model             text     NOT NULL DEFAULT '',
  metadata          jsonb    NOT NULL DEFAULT '{}',
  memo              text     NOT NULL DEFAULT '',
  hold_id           text     NOT NULL DEFAULT '',
  idempotency_key   text     NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, seq),
  UNIQUE (tenant_id, transfer_id),
  CHECK (amount > 0),
  CHECK (debit_account_id <> credit_account_id),
  CHECK (kind IN (1, 2, 3, 4, 5)),
  CHECK (jsonb_typeof(metadata) = 'object'),
  -- Composite keys: both sides must be accounts of the transfer's own tenant.
  FOREIGN KEY (tenant_id, debit_account_id) REFERENCES accounts (tenant_id, account_id),
  FOREIGN KEY (tenant_id, credit_account_id) REFERENCES accounts (tenant_id, account_id)
);
-- An account's transfers newest first: one index per side (ListTransfers merges the two).
CREATE INDEX transfers_debit ON transfers (tenant_id, debit_account_id, seq DESC);
CREATE INDEX transfers_credit ON transfers (tenant_id, credit_account_id, seq DESC);

-- closed_at is set when a hold leaves OPEN, so that recently closed holds can be loaded (a
-- Debit naming a hold closed a moment ago must see it closed, not unknown).
CREATE TABLE holds (
  tenant_id       text     NOT NULL,
  hold_id         text     NOT NULL,
  account_id      text     NOT NULL,
  amount          bigint   NOT NULL,
  created_at      bigint   NOT NULL,
  expires_at      bigint   NOT NULL,
  status          smallint NOT NULL,
  idempotency_key text     NOT NULL DEFAULT '',
  closed_at       bigint,
  PRIMARY KEY (tenant_id, hold_id),
  CHECK (amount > 0),
  CHECK (status IN (1, 2, 3, 4)),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id)
);
-- Load reads open holds and recently closed ones.
CREATE INDEX holds_open ON holds (tenant_id, account_id) WHERE status = 1;
CREATE INDEX holds_closed_at ON holds (closed_at) WHERE closed_at IS NOT NULL;

-- Stored responses of idempotent requests. tenant_id is '' for operator-scope calls (a primary
-- key column cannot be NULL). fingerprint holds the uint64 bit pattern as int64.
CREATE TABLE idempotency_keys (
  tenant_id   text   NOT NULL DEFAULT '',
  key         text   NOT NULL,
  fingerprint bigint NOT NULL,
  response    bytea  NOT NULL,
  created_at  bigint NOT NULL DEFAULT (extract(epoch FROM now()) * 1000000)::bigint,
  PRIMARY KEY (tenant_id, key)
);
-- Load reads the most recent keys.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at DESC);

-- One row per (account, period) reset done: the exactly-once guard of resets.
CREATE TABLE periods (
  tenant_id    text   NOT NULL,
  account_id   text   NOT NULL,
  period_start bigint NOT NULL,
  PRIMARY KEY (tenant_id, account_id, period_start),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id)
);

-- Ids of committed write batches, written in the batch's own transaction: after a commit whose
-- answer was lost, the row's presence says whether it committed. Old rows are pruned by the store.
CREATE TABLE commit_batches (
  batch_id     bigint      NOT NULL PRIMARY KEY,
  committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commit_batches_committed_at ON commit_batches (committed_at);
