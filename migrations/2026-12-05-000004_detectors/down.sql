DROP TABLE IF EXISTS incidents;
DROP TABLE IF EXISTS detector_cursors;
DROP TABLE IF EXISTS drift_baselines;
