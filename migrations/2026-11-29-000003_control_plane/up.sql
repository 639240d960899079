-- Control plane: CEL policies (with versions and recorded matches), halts,
-- budgets and human approvals.

CREATE TABLE policies (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name              text NOT NULL,
    description       text,
    match_expression  text NOT NULL,
    action            text NOT NULL CHECK (action IN ('log', 'alert', 'block', 'steer', 'throttle', 'allow', 'require_approval')),
    action_config     jsonb NOT NULL DEFAULT '{}',
    applies_to        text[] NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    priority          integer NOT NULL DEFAULT 0,
    shadow            boolean NOT NULL DEFAULT false,
    match_count       bigint NOT NULL DEFAULT 0,
    last_matched_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_policies_project_order ON policies (project_id, priority DESC, name);
-- No updated_at trigger: ingest bumps match_count constantly, which is not
-- an edit; the API sets updated_at itself.

CREATE TABLE policy_versions (
    id                bigserial PRIMARY KEY,
    policy_id         uuid NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version           integer NOT NULL,
    name              text NOT NULL,
    description       text,
    match_expression  text NOT NULL,
    action            text NOT NULL,
    action_config     jsonb NOT NULL DEFAULT '{}',
    applies_to        text[] NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    priority          integer NOT NULL DEFAULT 0,
    change_type       text NOT NULL CHECK (change_type IN ('create', 'update')),
    changed_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (policy_id, version)
);

-- One row per (policy, span): a span re-sent or matched again is not a new match.
CREATE TABLE policy_matches (
    id              bigserial PRIMARY KEY,
    policy_id       uuid NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_id        bytea NOT NULL,
    span_id         bytea NOT NULL,
    action          text NOT NULL,
    action_outcome  text NOT NULL,
    matched_at      timestamptz NOT NULL DEFAULT now(),
    metadata        jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT ux_policy_matches_policy_trace_span UNIQUE (policy_id, trace_id, span_id)
);
CREATE INDEX idx_policy_matches_project ON policy_matches (project_id, matched_at DESC);

CREATE TABLE budgets (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                 text NOT NULL,
    description          text,
    scope                text NOT NULL CHECK (scope IN ('project', 'agent', 'model')),
    scope_value          text,
    max_spend_usd        numeric(16, 6),
    spent_usd            numeric(24, 8) NOT NULL DEFAULT 0,
    soft_limit_ratio     numeric(4, 3),
    max_repeated_calls   integer,
    loop_window_seconds  numeric(10, 2),
    budget_duration      text CHECK (budget_duration IN ('1h', '1d', '7d', '30d')),
    window_type          text NOT NULL DEFAULT 'fixed' CHECK (window_type IN ('fixed', 'rolling')),
    budget_reset_at      timestamptz,
    last_evaluated_at    timestamptz,
    current_count        integer NOT NULL DEFAULT 0,
    is_active            boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((max_spend_usd IS NULL) <> (max_repeated_calls IS NULL))
);
CREATE INDEX idx_budgets_active ON budgets (project_id) WHERE is_active;
CREATE TRIGGER trg_budgets_updated_at BEFORE UPDATE ON budgets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Halts stop agents at the SDK's next sync. A project halt has no
-- scope_value; an agent halt names the agent (its id or its name).
CREATE TABLE halts (
    id           bigserial PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    scope        text NOT NULL CHECK (scope IN ('project', 'agent')),
    scope_value  text,
    state        text NOT NULL CHECK (state IN ('paused', 'halted')),
    reason       text NOT NULL,
    actor        text NOT NULL CHECK (actor IN ('user', 'budget_monitor', 'system')),
    -- Deleting a budget keeps its halts as history (cleared first).
    budget_id    uuid REFERENCES budgets(id) ON DELETE SET NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    set_at       timestamptz NOT NULL DEFAULT now(),
    cleared_at   timestamptz,
    CHECK ((scope = 'project') = (scope_value IS NULL))
);
CREATE INDEX idx_halts_active ON halts (project_id, set_at DESC) WHERE cleared_at IS NULL;
-- At most one live monitor halt per budget, even with racing replicas.
CREATE UNIQUE INDEX ux_halts_budget_active ON halts (budget_id) WHERE cleared_at IS NULL AND budget_id IS NOT NULL;

CREATE TABLE approvals (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id          uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    policy_id           uuid NOT NULL,
    trace_id            bytea,
    span_id             bytea,
    span_name           text,
    agent_name          text,
    tool_name           text,
    tool_args           text,
    policy_name         text,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    resolved_by         text,
    timeout_seconds     integer NOT NULL DEFAULT 300,
    expires_at          timestamptz NOT NULL,
    approvers_required  integer NOT NULL DEFAULT 1,
    current_approvals   integer NOT NULL DEFAULT 0,
    approval_decisions  jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX idx_approvals_project ON approvals (project_id, requested_at DESC);
CREATE INDEX idx_approvals_pending_expiry ON approvals (expires_at) WHERE status = 'pending';
-- Ingest creates one approval per (policy, trace, span), however often the span is seen.
CREATE UNIQUE INDEX ux_approvals_policy_span ON approvals (policy_id, trace_id, span_id) WHERE span_id IS NOT NULL;
