DROP TABLE IF EXISTS slack_action_receipts;
DROP INDEX IF EXISTS idx_traces_git_commit;
ALTER TABLE traces DROP COLUMN IF EXISTS git_commit_sha;
DROP TABLE IF EXISTS git_commits;
DROP TABLE IF EXISTS github_integrations;
