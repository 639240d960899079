CREATE INDEX idx_spans_project_time ON spans (project_id, start_time_unix_nano DESC);
