DROP TABLE IF EXISTS span_rollups;
