-- Foundation schema: tenancy, credentials, dashboard identities and the
-- trace store. Later capabilities add their tables in their own migrations.

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        text NOT NULL,
    slug        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX idx_projects_org ON projects (org_id);
-- Slugs are unique among live projects only, so a deleted slug can be reused.
CREATE UNIQUE INDEX uq_projects_org_slug ON projects (org_id, slug) WHERE deleted_at IS NULL;
CREATE TRIGGER trg_projects_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE project_settings (
    project_id                   uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    intervention_default_action  text NOT NULL DEFAULT 'allow'
        CHECK (intervention_default_action IN ('allow', 'block')),
    trace_retention_days         integer NOT NULL DEFAULT 30
        CHECK (trace_retention_days >= 0 AND trace_retention_days <= 3650),
    pii_redaction_enabled        boolean NOT NULL DEFAULT true,
    pii_redaction_patterns       jsonb NOT NULL DEFAULT '[]',
    pii_redaction_strategy       jsonb NOT NULL DEFAULT '{}',
    pii_redaction_key_actions    jsonb NOT NULL DEFAULT '{}',
    pii_attribute_allowlist      jsonb NOT NULL DEFAULT '[]',
    content_capture_enabled      boolean NOT NULL DEFAULT false,
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER trg_project_settings_updated_at BEFORE UPDATE ON project_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE users (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                  text NOT NULL,
    display_name           text,
    password_hash          text,
    is_active              boolean NOT NULL DEFAULT true,
    force_password_change  boolean NOT NULL DEFAULT false,
    failed_login_attempts  integer NOT NULL DEFAULT 0,
    locked_until           timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    last_login_at          timestamptz
);
CREATE UNIQUE INDEX idx_users_email_lower ON users (lower(email));

CREATE TABLE project_members (
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX idx_project_members_user ON project_members (user_id);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ip_address  text,
    user_agent  text
);
CREATE INDEX idx_sessions_user ON sessions (user_id);
CREATE UNIQUE INDEX idx_sessions_token ON sessions (token_hash);
CREATE INDEX idx_sessions_expires ON sessions (expires_at);

CREATE TABLE api_keys (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id       uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name             text NOT NULL,
    key_hash         text NOT NULL,
    key_prefix       text NOT NULL,
    scopes           text[] NOT NULL DEFAULT ARRAY['traces:write', 'policies:read', 'halts:read']
        CONSTRAINT api_keys_scopes_not_empty CHECK (cardinality(scopes) > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    revoked_at       timestamptz,
    deprecated_at    timestamptz,
    expires_at       timestamptz,
    rotated_from_id  uuid REFERENCES api_keys(id) ON DELETE SET NULL,
    allowed_ips      text[]
);
CREATE INDEX idx_api_keys_project ON api_keys (project_id) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX idx_api_keys_hash ON api_keys (key_hash);
CREATE INDEX idx_api_keys_expires_at ON api_keys (expires_at)
    WHERE expires_at IS NOT NULL AND revoked_at IS NULL;

-- Trace ids are only unique within a project: two tenants that happen to
-- send the same id must never merge into one row.
CREATE TABLE traces (
    project_id            uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                    bytea NOT NULL,
    start_time_unix_nano  bigint NOT NULL,
    end_time_unix_nano    bigint,
    agent_name            text,
    workflow_name         text,
    total_cost_usd        numeric(24, 8),
    total_input_tokens    bigint NOT NULL DEFAULT 0,
    total_output_tokens   bigint NOT NULL DEFAULT 0,
    span_count            integer NOT NULL DEFAULT 0,
    intervention_state    text NOT NULL DEFAULT 'running'
        CHECK (intervention_state IN ('running', 'paused', 'halted', 'completed')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX idx_traces_project_time ON traces (project_id, start_time_unix_nano DESC);
CREATE INDEX idx_traces_project_agent ON traces (project_id, agent_name) WHERE agent_name IS NOT NULL;

-- Spans are range-partitioned by month on start time; the partition
-- maintainer creates and drops the monthly children (spans_yYYYYmMM).
CREATE TABLE spans (
    project_id            uuid NOT NULL,
    start_time_unix_nano  bigint NOT NULL,
    trace_id              bytea NOT NULL,
    span_id               bytea NOT NULL,
    parent_span_id        bytea,
    name                  text NOT NULL,
    kind                  text NOT NULL
        CHECK (kind IN ('UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER')),
    end_time_unix_nano    bigint,
    status_code           text CHECK (status_code IN ('UNSET', 'OK', 'ERROR')),
    status_message        text,
    operation_name        text,
    provider_name         text,
    request_model         text,
    response_model        text,
    agent_name            text,
    agent_id              text,
    tool_name             text,
    workflow_name         text,
    conversation_id       text,
    input_tokens          bigint,
    output_tokens         bigint,
    cost_usd              numeric(20, 8),
    intervention_state    text,
    attributes            jsonb NOT NULL DEFAULT '{}',
    search_vector         tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(name, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(agent_name, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(tool_name, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(operation_name, '')), 'C') ||
        setweight(to_tsvector('simple', coalesce(request_model, '')), 'C')
    ) STORED,
    PRIMARY KEY (project_id, start_time_unix_nano, trace_id, span_id),
    FOREIGN KEY (project_id, trace_id) REFERENCES traces (project_id, id) ON DELETE CASCADE
) PARTITION BY RANGE (start_time_unix_nano);

CREATE INDEX idx_spans_project_time ON spans (project_id, start_time_unix_nano DESC);
CREATE INDEX idx_spans_trace ON spans (project_id, trace_id, start_time_unix_nano);
CREATE INDEX idx_spans_agent ON spans (project_id, agent_name, start_time_unix_nano DESC)
    WHERE agent_name IS NOT NULL;
CREATE INDEX idx_spans_tool ON spans (project_id, tool_name, start_time_unix_nano DESC)
    WHERE tool_name IS NOT NULL;
CREATE INDEX idx_spans_cost_window ON spans (project_id, end_time_unix_nano)
    WHERE cost_usd IS NOT NULL;
CREATE INDEX idx_spans_attributes_gin ON spans USING gin (attributes jsonb_path_ops);
CREATE INDEX idx_spans_search_vector ON spans USING gin (search_vector);
