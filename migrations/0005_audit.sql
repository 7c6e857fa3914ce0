-- Copyright 2026 The tokenledger Authors. Apache-2.0.
--
-- The audit trail: every key creation and revocation, grant, adjustment, account or team change
-- (policies) and reconciliation repair, with the key that made it. Rows are written in the same
-- transaction as the change they record and are append-only: the API has no call that edits
-- them, and the triggers below refuse UPDATE and DELETE for every role (TRUNCATE is refused too).
CREATE TABLE audit_events (
  seq          bigserial PRIMARY KEY,
  tenant_id    text   NOT NULL REFERENCES tenants (tenant_id),
  actor_key_id text   NOT NULL,
  action       text   NOT NULL,
  target       text   NOT NULL,
  detail       text   NOT NULL,
  created_at   bigint NOT NULL  -- unix microseconds
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
