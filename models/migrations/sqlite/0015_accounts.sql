-- Provider accounts (an OpenID Connect provider or GitHub, by its subject)
-- linked to users. A user may have several, and none at all; a provider
-- account belongs to one user. A user signed up through a provider has no
-- password (password_hash is empty) until they set one.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX accounts_provider_subject_idx ON accounts (provider, subject);
CREATE INDEX accounts_user_idx ON accounts (user_id);
