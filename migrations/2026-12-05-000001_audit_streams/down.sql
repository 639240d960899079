DROP TRIGGER IF EXISTS events_to_streams ON audit.events;
DROP FUNCTION IF EXISTS audit.queue_for_streams();
DROP FUNCTION IF EXISTS audit.event_json(audit.events);
DROP INDEX IF EXISTS idx_webhook_deliveries_stream_open;
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS stream_seq, DROP COLUMN IF EXISTS stream_id;
DROP TABLE IF EXISTS audit.streams;
