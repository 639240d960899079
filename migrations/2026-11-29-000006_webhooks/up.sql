-- Signed outbound webhooks. Events are facts the database already records
-- (an alert match, an approval, a halt), so triggers queue their deliveries
-- in the same transaction that records the fact: a rolled-back mutation
-- never notifies, and a committed one always has its delivery rows. The
-- receiver sends them after commit (woken by NOTIFY) and retries from the
-- table, so a restart loses nothing.

CREATE TABLE webhook_signing_keys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id     uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    prefix         text NOT NULL CONSTRAINT webhook_signing_keys_prefix_len CHECK (char_length(prefix) = 4),
    -- SHA-256 of the full `whsec_…` secret, to recognise it without opening it.
    secret_hash    bytea NOT NULL,
    -- The secret itself, Fernet-sealed (`enc:…`) when STRATHON_ENCRYPTION_KEY
    -- is set: deliveries must still be signed after a restart.
    secret_sealed  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX idx_webhook_signing_keys_project ON webhook_signing_keys (project_id, revoked_at NULLS FIRST, created_at DESC);

CREATE TABLE webhook_deliveries (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id            uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event                 text NOT NULL,
    -- History outlives the policy or channel that caused it.
    policy_id             uuid REFERENCES policies(id) ON DELETE SET NULL,
    channel_id            uuid REFERENCES notification_channels(id) ON DELETE SET NULL,
    webhook_id            text NOT NULL UNIQUE,
    url                   text NOT NULL,
    payload               jsonb NOT NULL,
    -- How the payload goes on the wire: as is, or as a Slack or Discord message.
    format                text NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'slack', 'discord')),
    status                text NOT NULL DEFAULT 'pending'
        CONSTRAINT webhook_deliveries_status_valid
        CHECK (status IN ('pending', 'succeeded', 'failed_retrying', 'dlq', 'abandoned')),
    attempts              integer NOT NULL DEFAULT 0 CONSTRAINT webhook_deliveries_attempts_nonneg CHECK (attempts >= 0),
    max_attempts          integer NOT NULL DEFAULT 8,
    -- When the row is next due; while a sender holds it, the end of its lease.
    next_attempt_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at       timestamptz,
    last_response_status  integer,
    last_error            text,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'failed_retrying');
CREATE INDEX idx_webhook_deliveries_project ON webhook_deliveries (project_id, created_at DESC, id DESC);

-- Queues one delivery to the explicit URL (a policy's `webhook_url`) if any,
-- and one to every enabled webhook, Slack or Discord channel of the project
-- that subscribes to the event (no events listed = all events).
CREATE FUNCTION strathon_enqueue_webhook(p_project uuid, p_event text, p_payload jsonb, p_policy uuid, p_url text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (project_id, event, policy_id, channel_id, webhook_id, url, payload, format)
    SELECT p_project, p_event, p_policy, t.channel_id,
           -- Standard Webhooks message id: msg_ + 22 url-safe characters.
           'msg_' || translate(rtrim(encode(uuid_send(gen_random_uuid()), 'base64'), '='), '+/', '-_'),
           t.url,
           jsonb_build_object('event', p_event, 'project_id', p_project, 'occurred_at', now()) || p_payload,
           t.format
    FROM (
        SELECT NULL::uuid AS channel_id, p_url AS url, 'standard' AS format
        WHERE coalesce(p_url, '') <> ''
        UNION ALL
        SELECT c.id, coalesce(c.config->>'url', c.config->>'webhook_url'),
               CASE c.channel_type WHEN 'webhook' THEN 'standard' ELSE c.channel_type END
        FROM notification_channels c
        WHERE c.project_id = p_project AND c.enabled AND c.channel_type IN ('webhook', 'slack', 'discord')
          AND coalesce(c.config->>'url', c.config->>'webhook_url', '') <> ''
          AND (cardinality(c.events) = 0 OR p_event = ANY (c.events))
    ) t;
$$;

CREATE FUNCTION strathon_webhook_on_alert_match() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM strathon_enqueue_webhook(NEW.project_id, 'policy_alert',
        jsonb_build_object(
            'policy_id', p.id, 'policy_name', p.name, 'shadow', p.shadow,
            'span_name', NEW.metadata->>'span_name',
            'trace_id', encode(NEW.trace_id, 'hex'), 'span_id', encode(NEW.span_id, 'hex'),
            -- The stored (redacted) attributes, as the span row holds them.
            'attrs', (SELECT s.attributes FROM spans s
                      WHERE s.project_id = NEW.project_id AND s.trace_id = NEW.trace_id AND s.span_id = NEW.span_id
                      ORDER BY s.start_time_unix_nano DESC LIMIT 1)),
        p.id, p.action_config->>'webhook_url')
    FROM policies p WHERE p.id = NEW.policy_id;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_on_alert_match AFTER INSERT ON policy_matches
    FOR EACH ROW WHEN (NEW.action = 'alert') EXECUTE FUNCTION strathon_webhook_on_alert_match();

CREATE FUNCTION strathon_webhook_on_approval() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    policy uuid;
    url text;
BEGIN
    -- An approval may name a policy that does not exist (the SDK makes up
    -- ids); its delivery then simply has no policy.
    SELECT p.id, p.action_config->>'webhook_url' INTO policy, url
    FROM policies p WHERE p.id = NEW.policy_id AND p.project_id = NEW.project_id;
    PERFORM strathon_enqueue_webhook(NEW.project_id,
        CASE WHEN TG_OP = 'INSERT' THEN 'approval_request' ELSE 'approval_expired' END,
        jsonb_build_object(
            'event', CASE WHEN TG_OP = 'INSERT' THEN 'approval_requested' ELSE 'approval_expired' END,
            'approval_id', NEW.id, 'approval_url', '/v1/approvals/' || NEW.id,
            'status', NEW.status, 'policy_id', NEW.policy_id, 'policy_name', NEW.policy_name,
            'agent_name', NEW.agent_name, 'tool_name', NEW.tool_name, 'span_name', NEW.span_name,
            'trace_id', encode(NEW.trace_id, 'hex'), 'span_id', encode(NEW.span_id, 'hex'),
            'timeout_seconds', NEW.timeout_seconds, 'expires_at', NEW.expires_at),
        policy, url);
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_on_approval_request AFTER INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION strathon_webhook_on_approval();
CREATE TRIGGER webhook_on_approval_expired AFTER UPDATE OF status ON approvals
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status = 'expired')
    EXECUTE FUNCTION strathon_webhook_on_approval();

-- A halt the budget monitor sets is the "budget exceeded" event.
CREATE FUNCTION strathon_webhook_on_halt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM strathon_enqueue_webhook(NEW.project_id,
        CASE WHEN TG_OP = 'UPDATE' THEN 'halt_cleared'
             WHEN NEW.actor = 'budget_monitor' THEN 'budget_halt'
             ELSE 'halt_created' END,
        jsonb_build_object(
            'halt_id', NEW.id, 'scope', NEW.scope, 'scope_value', NEW.scope_value, 'state', NEW.state,
            'reason', NEW.reason, 'actor', NEW.actor, 'budget_id', NEW.budget_id,
            'set_at', NEW.set_at, 'cleared_at', NEW.cleared_at),
        NULL, NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_on_halt_created AFTER INSERT ON halts
    FOR EACH ROW EXECUTE FUNCTION strathon_webhook_on_halt();
CREATE TRIGGER webhook_on_halt_cleared AFTER UPDATE OF cleared_at ON halts
    FOR EACH ROW WHEN (OLD.cleared_at IS NULL AND NEW.cleared_at IS NOT NULL)
    EXECUTE FUNCTION strathon_webhook_on_halt();

-- Wakes the senders when a delivery becomes due now (queued or replayed).
-- NOTIFY is delivered at commit and never on rollback; Postgres folds the
-- identical notifications of one transaction into one.
CREATE FUNCTION strathon_webhook_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('strathon_webhooks', '');
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT OR UPDATE OF status ON webhook_deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION strathon_webhook_notify();
