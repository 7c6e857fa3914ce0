-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- An Authorize is journaled as its hold row alone: the request fingerprint and the encoded
-- answer live with the hold (instead of a second row in idempotency_keys), so that a retry after
-- a restart replays the original answer. NULL for holds written before this migration.
ALTER TABLE holds
  ADD COLUMN fingerprint bigint,
  ADD COLUMN response    bytea;
