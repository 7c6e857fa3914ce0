-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- Hold batch rows by segment: the engine journals each open hold into the current segment of its
-- tenant (one per second of journaling), and deletes a segment's rows once every hold in it has
-- closed (its closing row committed) or expired, and the segment is no longer written to. Without
-- it, rows waited for the last of their holds to be expired for the closed-hold window, so a
-- gateway capturing its holds within milliseconds left an hour and ten minutes of them (every hold
-- it placed) for the next start-up to read. Rows written before this migration have segment 0 and
-- are deleted by expiry as before.
ALTER TABLE hold_batches ADD COLUMN segment bigint NOT NULL DEFAULT 0;
CREATE INDEX hold_batches_segment ON hold_batches (tenant_id, segment);
