-- The tamper-evident audit log: an append-only, monthly-partitioned table
-- whose rows form one HMAC-SHA256 chain per project, plus Merkle anchors.

CREATE SCHEMA audit;

CREATE SEQUENCE audit.events_sequence_no_seq;

CREATE TABLE audit.events (
    id               uuid NOT NULL,
    sequence_no      bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    project_id       uuid NOT NULL,
    actor_type       text NOT NULL CHECK (actor_type IN ('human', 'service_account', 'agent', 'system', 'anonymous')),
    actor_id         text NOT NULL,
    actor_display    text,
    on_behalf_of     text,
    action           text NOT NULL,
    action_category  text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('allow', 'deny', 'error', 'partial')),
    reason           text,
    resource_type    text NOT NULL,
    resource_id      text NOT NULL,
    resource_parent  text,
    cascade_root_id  uuid,
    request_id       uuid NOT NULL,
    source_ip        text,
    user_agent       text,
    api_key_id       text,
    auth_method      text,
    before_state     jsonb,
    after_state      jsonb,
    diff             jsonb,
    pii_classes      text[] NOT NULL DEFAULT '{}',
    schema_version   smallint NOT NULL DEFAULT 1,
    prev_hash        bytea NOT NULL,
    row_hash         bytea NOT NULL,
    hmac_key_id      smallint NOT NULL,
    PRIMARY KEY (occurred_at, id)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX events_project_sequence ON audit.events (project_id, sequence_no DESC);
CREATE INDEX events_project_time ON audit.events (project_id, occurred_at DESC, id DESC);
CREATE INDEX events_id ON audit.events (id);

CREATE FUNCTION audit.deny_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only (op=%)', TG_OP;
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.deny_mutation();
CREATE TRIGGER events_no_delete BEFORE DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.deny_mutation();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.deny_mutation();

CREATE TABLE audit.anchors (
    anchor_at      timestamptz PRIMARY KEY,
    last_sequence  bigint NOT NULL,
    last_row_hash  bytea NOT NULL,
    merkle_root    bytea NOT NULL,
    event_count    integer NOT NULL,
    first_sequence bigint NOT NULL
);

CREATE TRIGGER anchors_no_update BEFORE UPDATE OR DELETE ON audit.anchors
    FOR EACH ROW EXECUTE FUNCTION audit.deny_mutation();
CREATE TRIGGER anchors_no_truncate BEFORE TRUNCATE ON audit.anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit.deny_mutation();
