-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- The fencing check of a write batch as one statement that fails the batch: the writer sends a
-- whole batch in one round trip (its statements run as one implicit transaction), so the check
-- cannot be a SELECT whose rows the client counts before deciding to commit. Locks the lease
-- rows of the batch's tenants FOR SHARE until the batch commits (a takeover's UPDATE waits for
-- them) and raises SQLSTATE TLF01 unless every one is still `owner`'s at the epoch given.
CREATE FUNCTION tl_fence_check(p_tenants text[], p_epochs bigint[], p_owner text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  held bigint;
BEGIN
  SELECT count(*) INTO held FROM (
    SELECT 1 FROM tenant_leases l
    JOIN unnest(p_tenants, p_epochs) AS f(tenant_id, epoch)
      ON l.tenant_id = f.tenant_id AND l.epoch = f.epoch
    WHERE l.owner_id = p_owner
    FOR SHARE OF l) AS locked;
  IF held <> cardinality(p_tenants) THEN
    RAISE EXCEPTION 'lease lost: a tenant of this batch is now served by another process'
      USING ERRCODE = 'TLF01';
  END IF;
END
$$;
