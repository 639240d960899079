-- Circuit breakers and the MCP gateway's throttle buckets live in Postgres,
-- so every replica sees (and updates, under row locks) the same state.

CREATE TABLE circuit_breakers (
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    entity_type          text NOT NULL CHECK (entity_type IN ('agent', 'tool')),
    entity_id            text NOT NULL,
    state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    -- The latest failures (at most the threshold's worth): enough to tell
    -- whether the threshold was reached inside the window.
    failures             timestamptz[] NOT NULL DEFAULT '{}',
    opened_at            timestamptz,
    half_open_successes  integer NOT NULL DEFAULT 0,
    total_trips          integer NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, entity_type, entity_id)
);

-- Token buckets of throttle policies the gateway enforces: one per policy
-- and scope key (an agent, or `global`).
CREATE TABLE gateway_throttle_buckets (
    policy_id    uuid NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    scope_key    text NOT NULL,
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, scope_key)
);

-- An approved gateway call runs once: the retry that uses it marks it.
ALTER TABLE approvals ADD COLUMN consumed_at timestamptz;
