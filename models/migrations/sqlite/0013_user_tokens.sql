-- Links mailed to a user (password reset, email verification, "this wasn't
-- me"): only the SHA-256 of the token is stored, each is used once and
-- expires; a newer link of the same purpose replaces the older one.
CREATE TABLE user_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    email      TEXT NOT NULL DEFAULT '',
    session_id INTEGER,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);
