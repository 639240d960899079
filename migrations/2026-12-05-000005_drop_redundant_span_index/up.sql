-- The primary key (project_id, start_time_unix_nano, trace_id, span_id)
-- already orders each project's spans by time, and a backward scan of it
-- serves newest-first reads: this index only cost every ingested row a
-- second b-tree insert.
DROP INDEX IF EXISTS idx_spans_project_time;
