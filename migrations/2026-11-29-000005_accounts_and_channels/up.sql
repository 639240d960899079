-- Notification channels (where alerts go), and what accounts need beyond
-- the foundation's users and sessions: MFA columns and pending invitations.

CREATE TABLE notification_channels (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    channel_type  text NOT NULL CHECK (channel_type IN ('slack', 'discord', 'github', 'webhook')),
    name          text NOT NULL,
    config        jsonb NOT NULL DEFAULT '{}',
    events        text[] NOT NULL DEFAULT '{}',
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_notification_channels_project ON notification_channels (project_id, created_at DESC);

ALTER TABLE users
    ADD COLUMN totp_secret text,
    ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN backup_codes text[] NOT NULL DEFAULT '{}',
    -- The last TOTP time step accepted, so no code works twice.
    ADD COLUMN totp_last_step bigint;

ALTER TABLE sessions
    ADD COLUMN kind text NOT NULL DEFAULT 'session' CHECK (kind IN ('session', 'mfa_challenge'));

CREATE TABLE pending_invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    project_id  uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (email, project_id)
);

-- An open ownership offer; at most one per project. Accepting or rejecting
-- deletes the row; the audit log keeps the history.
CREATE TABLE ownership_transfers (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
    from_user_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
