-- API tokens: personal ones a user makes on the account page and service
-- ones an admin makes; both act as their owner within their scopes. Only
-- the SHA-256 of the secret is stored; prefix is its first characters, for
-- telling tokens apart. Deleting the owner deletes the token.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT NOT NULL DEFAULT '',
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
-- The token an action was taken with, when it was not a browser session.
ALTER TABLE session_events ADD COLUMN actor_token_id INTEGER;
