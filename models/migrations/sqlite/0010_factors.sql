-- Second factors: TOTP secrets, WebAuthn credentials and hashed recovery
-- codes, one row each. A TOTP row is unconfirmed (confirmed_at NULL) until
-- a code from the app proved the enrolment; only confirmed rows count.
CREATE TABLE factors (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('totp', 'webauthn', 'recovery')),
    name          TEXT NOT NULL DEFAULT '',
    secret        TEXT NOT NULL,
    credential_id TEXT,
    totp_step     INTEGER NOT NULL DEFAULT 0,
    confirmed_at  TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP
);
CREATE INDEX factors_user_idx ON factors (user_id, kind);
CREATE UNIQUE INDEX factors_credential_idx ON factors (credential_id) WHERE credential_id IS NOT NULL;
CREATE UNIQUE INDEX factors_one_totp_idx ON factors (user_id) WHERE kind = 'totp' AND confirmed_at IS NOT NULL;

-- The WebAuthn user handle: random, one per user, shared by all their
-- passkeys, and what a passkey names at a sign-in without a password.
CREATE TABLE webauthn_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  TEXT NOT NULL UNIQUE
);

-- A sign-in (or a WebAuthn ceremony) under way, found by the hash of the
-- token in its own cookie: no session exists until it is done.
CREATE TABLE pending_signins (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    session_id INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    amr        TEXT NOT NULL DEFAULT '',
    next       TEXT NOT NULL DEFAULT '',
    challenge  TEXT NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX pending_signins_expires_idx ON pending_signins (expires_at);
CREATE INDEX pending_signins_session_idx ON pending_signins (session_id) WHERE session_id IS NOT NULL;
