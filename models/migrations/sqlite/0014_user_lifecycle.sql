-- A disabled user cannot sign in (their sessions end when disabled); a
-- verified email was confirmed by a mailed link; signin_alerts: mail the
-- user when a sign-in comes from a new device or country.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
ALTER TABLE users ADD COLUMN signin_alerts BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE sessions ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN city TEXT NOT NULL DEFAULT '';
-- What was unusual about the sign-in: new-device, new-country (comma-separated).
ALTER TABLE sessions ADD COLUMN signin_flags TEXT NOT NULL DEFAULT '';
