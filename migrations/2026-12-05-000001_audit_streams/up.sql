-- Audit streams: every audit event of the chosen categories, delivered in
-- order to a team's log pipeline or SIEM. A trigger queues one webhook
-- delivery per live stream in the transaction that appends the event, so a
-- committed event always reaches its streams and a rolled-back one never
-- does. The sender delivers a stream's rows strictly in `stream_seq` order
-- (the event's sequence number), one at a time, and pauses the stream when
-- its head is dead-lettered rather than skip it.

CREATE TABLE audit.streams (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name            text NOT NULL,
    url             text NOT NULL,
    -- Sign with this key only (while it is live); otherwise with every live key.
    signing_key_id  uuid REFERENCES webhook_signing_keys(id) ON DELETE SET NULL,
    enabled         boolean NOT NULL DEFAULT true,
    paused_at       timestamptz,
    pause_reason    text,
    -- NULL: every category.
    categories      text[],
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_streams_project_name UNIQUE (project_id, name)
);
CREATE INDEX audit_streams_project_enabled ON audit.streams (project_id) WHERE enabled;
CREATE TRIGGER trg_audit_streams_updated_at BEFORE UPDATE ON audit.streams
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A stream's deliveries go when the stream does.
ALTER TABLE webhook_deliveries
    ADD COLUMN stream_id uuid REFERENCES audit.streams(id) ON DELETE CASCADE,
    ADD COLUMN stream_seq bigint;
-- The sender's "is anything before it still open?" probe.
CREATE INDEX idx_webhook_deliveries_stream_open ON webhook_deliveries (stream_id, stream_seq)
    WHERE stream_id IS NOT NULL AND status <> 'succeeded';

-- The event as `GET /v1/audit/events/{id}` renders it.
CREATE FUNCTION audit.event_json(e audit.events) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.id, 'sequence_no', e.sequence_no,
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'ingested_at', to_char(e.ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'project_id', e.project_id,
        'actor', jsonb_build_object('type', e.actor_type, 'id', e.actor_id, 'display', e.actor_display,
                                    'on_behalf_of', e.on_behalf_of),
        'action', e.action, 'action_category', e.action_category, 'outcome', e.outcome, 'reason', e.reason,
        'resource', jsonb_build_object('type', e.resource_type, 'id', e.resource_id, 'parent', e.resource_parent),
        'cascade_root_id', e.cascade_root_id, 'request_id', e.request_id, 'source_ip', e.source_ip,
        'user_agent', e.user_agent, 'api_key_id', e.api_key_id, 'auth_method', e.auth_method,
        'before_state', e.before_state, 'after_state', e.after_state, 'diff', e.diff,
        'pii_classes', to_jsonb(e.pii_classes), 'schema_version', e.schema_version,
        'prev_hash', encode(e.prev_hash, 'hex'), 'row_hash', encode(e.row_hash, 'hex'),
        'hmac_key_id', e.hmac_key_id,
        'created_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'category', e.action_category, 'actor_ip', e.source_ip, 'actor_key_prefix', e.actor_display,
        'resource_type', e.resource_type)
$$;

CREATE FUNCTION audit.queue_for_streams() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (project_id, event, webhook_id, url, payload, stream_id, stream_seq)
    SELECT NEW.project_id, 'audit_event',
           'msg_' || translate(rtrim(encode(uuid_send(gen_random_uuid()), 'base64'), '='), '+/', '-_'),
           s.url,
           jsonb_build_object('event', 'audit_event', 'stream_id', s.id, 'project_id', NEW.project_id,
                              'sequence_no', NEW.sequence_no, 'data', audit.event_json(NEW)),
           s.id, NEW.sequence_no
    FROM audit.streams s
    WHERE s.project_id = NEW.project_id AND s.enabled
      AND (s.categories IS NULL OR NEW.action_category = ANY (s.categories));
    RETURN NULL;
END $$;
CREATE TRIGGER events_to_streams AFTER INSERT ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.queue_for_streams();
