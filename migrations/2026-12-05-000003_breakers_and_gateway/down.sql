ALTER TABLE approvals DROP COLUMN IF EXISTS consumed_at;
DROP TABLE IF EXISTS gateway_throttle_buckets;
DROP TABLE IF EXISTS circuit_breakers;
