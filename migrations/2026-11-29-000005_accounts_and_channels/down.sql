DROP TABLE IF EXISTS ownership_transfers;
DROP TABLE IF EXISTS pending_invitations;
ALTER TABLE sessions DROP COLUMN IF EXISTS kind;
ALTER TABLE users DROP COLUMN IF EXISTS totp_last_step, DROP COLUMN IF EXISTS backup_codes, DROP COLUMN IF EXISTS mfa_enabled, DROP COLUMN IF EXISTS totp_secret;
DROP TABLE IF EXISTS notification_channels;
