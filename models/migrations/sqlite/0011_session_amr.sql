-- How each session was made (amr, RFC 8176 names joined by commas) and
-- when it last proved its user as strongly as the account allows (step-up).
-- Every session before this migration was made with a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN strong_at TIMESTAMP;
