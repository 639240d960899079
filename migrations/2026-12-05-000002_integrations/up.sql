-- GitHub repositories a project follows, the commits their webhooks report,
-- the commit each trace ran (from the `strathon.git.commit` attribute), and
-- the Slack button presses already acted on (so a replay is refused).

CREATE TABLE github_integrations (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id             uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    repo_full_name         text NOT NULL,
    installation_id        bigint,
    -- The secret GitHub signs webhooks with, Fernet-sealed (`enc:…`) when
    -- STRATHON_ENCRYPTION_KEY is set: it must be readable to verify them.
    webhook_secret_sealed  text NOT NULL,
    created_by_user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    last_event_at          timestamptz,
    CONSTRAINT github_integrations_project_repo UNIQUE (project_id, repo_full_name)
);
-- Webhooks name the repository, not the project.
CREATE INDEX idx_github_integrations_repo ON github_integrations (lower(repo_full_name));

CREATE TABLE git_commits (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    integration_id  uuid REFERENCES github_integrations(id) ON DELETE SET NULL,
    commit_sha      text NOT NULL,
    repo_full_name  text NOT NULL,
    commit_message  text,
    author_name     text,
    author_email    text,
    committed_at    timestamptz,
    branch          text,
    pr_number       integer,
    url             text,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT git_commits_project_sha UNIQUE (project_id, commit_sha)
);
CREATE INDEX idx_git_commits_committed_at ON git_commits (project_id, committed_at DESC NULLS LAST);

ALTER TABLE traces ADD COLUMN git_commit_sha text;
CREATE INDEX idx_traces_git_commit ON traces (project_id, git_commit_sha) WHERE git_commit_sha IS NOT NULL;

CREATE TABLE slack_action_receipts (
    signature    text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_slack_action_receipts_age ON slack_action_receipts (received_at);
