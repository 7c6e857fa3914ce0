-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- Open holds as a write batch first records them: one row per tenant and batch, holding every
-- hold the batch opened, encoded (an Authorize then costs a share of one row instead of a row with
-- three index entries and a foreign-key check). A hold's later states (captured, released,
-- expired) are rows of `holds`, and such a row wins over the hold's entry here. A row is deleted
-- once every hold in it has been expired for longer than the closed-hold window.
CREATE TABLE hold_batches (
  tenant_id   text   NOT NULL REFERENCES tenants (tenant_id),
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  expires_max bigint NOT NULL,  -- the latest expires_at of its holds, µs since the epoch
  holds       bytea  NOT NULL,  -- format: PgStore's EncodeHolds (version byte 1)
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX hold_batches_expires ON hold_batches (expires_max);
