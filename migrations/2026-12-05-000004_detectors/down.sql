DROP INDEX IF EXISTS idx_spans_incident_signals;
DROP TABLE IF EXISTS incidents;
DROP TABLE IF EXISTS detector_cursors;
DROP TABLE IF EXISTS drift_baselines;
