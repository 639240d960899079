-- The background detectors' state, kept in Postgres so a new leader
-- continues where the old one stopped.

-- Behavioural drift: per agent and metric (`cost` or `tool:<name>`), the
-- baseline (mean and variance) and the two CUSUM sums.
CREATE TABLE drift_baselines (
    project_id    uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    agent_name    text NOT NULL,
    metric        text NOT NULL,
    observations  integer NOT NULL,
    mean          double precision NOT NULL,
    variance      double precision NOT NULL,
    cusum_high    double precision NOT NULL DEFAULT 0,
    cusum_low     double precision NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, agent_name, metric)
);

-- Where each detector's next window starts (ns since the epoch).
CREATE TABLE detector_cursors (
    detector        text PRIMARY KEY,
    observed_until  bigint NOT NULL
);

-- Bursts of blocks or errors. An incident stays open while its burst lasts,
-- so it is announced once; the tick that finds the burst over resolves it.
CREATE TABLE incidents (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trigger      text NOT NULL,
    agent_name   text NOT NULL DEFAULT '',
    severity     text NOT NULL,
    count        bigint NOT NULL,
    details      jsonb NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);
CREATE UNIQUE INDEX ux_incidents_open ON incidents (project_id, trigger, agent_name) WHERE resolved_at IS NULL;
CREATE INDEX idx_incidents_project ON incidents (project_id, detected_at DESC);

-- What the incident detector counts each minute (errors, blocked calls) is a
-- small part of the spans; this keeps its window scans off the rest.
CREATE INDEX idx_spans_incident_signals ON spans (project_id, start_time_unix_nano)
    WHERE status_code = 'ERROR' OR intervention_state = 'blocked';
