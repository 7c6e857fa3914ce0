-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- What each period reset did (PeriodRecord), so that Reconcile can check a reset against its
-- RESET_EXPIRE/RESET_GRANT transfers and a restart knows every account's latest reset. A new
-- migration rather than an edit of 0001, which databases have already applied.

ALTER TABLE periods
  ADD COLUMN carried    bigint NOT NULL DEFAULT 0,  -- may be negative: an overage carries over
  ADD COLUMN expired    bigint NOT NULL DEFAULT 0,
  ADD COLUMN granted    bigint NOT NULL DEFAULT 0,
  ADD COLUMN created_at bigint NOT NULL DEFAULT 0,
  ADD CONSTRAINT periods_amounts CHECK (expired >= 0 AND granted >= 0);

-- SumUsage: a tenant's USAGE debits since an instant (period and day spend after a restart).
CREATE INDEX transfers_usage ON transfers (tenant_id, created_at) WHERE kind = 2;
