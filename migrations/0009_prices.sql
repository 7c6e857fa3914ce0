-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- Prices: the ledger owns each tenant's price book, so that a gateway can report tokens and the
-- ledger charges them in the tenant's unit.
-- * `prices`: the price of 1,000,000 tokens of each kind of one model (or '*', the fallback for
--   every model without a price of its own), in force from effective_at until the model's next
--   row. Rows are never edited or deleted (a later effective_at supersedes): triggers refuse
--   UPDATE, DELETE and TRUNCATE, as for audit_events.
-- * transfers: a Debit that reported tokens records them, the effective_at of the price used
--   (NULL: no price was used, a tokens-unit tenant without one) and when the usage happened
--   (NULL: not reported). Such a transfer may have amount 0 (a free model); every other transfer
--   keeps amount > 0.
-- * accounts.model_limits: the policy's monthly limit per model, a JSON object of model name to a
--   whole number in 0 .. 2^63-1 (0 lets nothing of that model through; which limits a caller may
--   set is the API's business). '{}' for no model limits, and for an account without a policy.
-- * holds.model: the Authorize's model (counted against its limit while the hold is open); '' for
--   none and for holds written before this migration. A hold may be of amount 0 (an estimate
--   priced at 0). The open holds of hold_batches carry their model in format 2 of PgStore's
--   EncodeHolds (rows written before this migration stay in format 1, read as model '').
--
-- The constraints added to existing tables are NOT VALID: every existing row satisfies them (the
-- stricter checks they replace held, and the new columns are NULL or their default), so the
-- migration does not scan transfers, holds and accounts while it holds their exclusive locks. A
-- NOT VALID constraint is enforced for every row written from now on all the same.

CREATE TABLE prices (
  tenant_id                text   NOT NULL REFERENCES tenants (tenant_id),
  model                    text   NOT NULL,
  effective_at             bigint NOT NULL,  -- unix microseconds
  input_per_million        bigint NOT NULL,
  output_per_million       bigint NOT NULL,
  cached_input_per_million bigint NOT NULL,
  created_at               bigint NOT NULL,
  PRIMARY KEY (tenant_id, model, effective_at),
  CONSTRAINT prices_model CHECK (model <> ''),
  CONSTRAINT prices_effective_at CHECK (effective_at >= 0),
  CONSTRAINT prices_amounts CHECK (input_per_million >= 0 AND output_per_million >= 0
                                   AND cached_input_per_million >= 0)
);

CREATE FUNCTION prices_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'prices are never edited or deleted: set a new price instead';
END;
$$;
CREATE TRIGGER prices_no_update BEFORE UPDATE OR DELETE ON prices
  FOR EACH ROW EXECUTE FUNCTION prices_append_only();
CREATE TRIGGER prices_no_truncate BEFORE TRUNCATE ON prices
  FOR EACH STATEMENT EXECUTE FUNCTION prices_append_only();

-- transfers_amount_check is the name PostgreSQL gave 0001's CHECK (amount > 0).
ALTER TABLE transfers
  ADD COLUMN input_tokens        bigint,
  ADD COLUMN output_tokens       bigint,
  ADD COLUMN cached_input_tokens bigint,
  ADD COLUMN price_effective_at  bigint,
  ADD COLUMN occurred_at         bigint,
  DROP CONSTRAINT transfers_amount_check,
  ADD CONSTRAINT transfers_amount
    CHECK (amount > 0 OR (amount = 0 AND input_tokens IS NOT NULL)) NOT VALID,
  ADD CONSTRAINT transfers_usage
    CHECK ((input_tokens IS NULL) = (output_tokens IS NULL)
           AND (input_tokens IS NULL) = (cached_input_tokens IS NULL)
           AND input_tokens >= 0 AND output_tokens >= 0 AND cached_input_tokens >= 0) NOT VALID;

ALTER TABLE accounts
  ADD COLUMN model_limits jsonb NOT NULL DEFAULT '{}',
  ADD CONSTRAINT accounts_model_limits
    CHECK (jsonb_typeof(model_limits) = 'object'
           AND NOT jsonb_path_exists(model_limits,
             'strict $.* ? (@.type() != "number" || @ < 0 || @ > 9223372036854775807 '
             '|| @.floor() != @)')) NOT VALID;

-- holds_amount_check is the name PostgreSQL gave 0001's CHECK (amount > 0).
ALTER TABLE holds
  ADD COLUMN model text NOT NULL DEFAULT '',
  DROP CONSTRAINT holds_amount_check,
  ADD CONSTRAINT holds_amount CHECK (amount >= 0) NOT VALID;
