-- Which provider a session was signed in through ('' for none; 'authjs'
-- for a session imported from Auth.js) and the provider's own session id
-- (the ID token's sid), so that the provider's back-channel logout can
-- name it. A sign-in held for a second step carries both until it ends.
ALTER TABLE sessions ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN provider_sid TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_provider_sid_idx ON sessions (provider, provider_sid) WHERE provider_sid <> '';
ALTER TABLE pending_signins ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_signins ADD COLUMN provider_sid TEXT NOT NULL DEFAULT '';
