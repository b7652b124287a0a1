-- Why a session ended, kept for a while after its row is gone, so the
-- sign-in page can tell the browser still holding its cookie ("an
-- administrator ended your session"). Only the token's hash is kept.
CREATE TABLE ended_sessions (
  token_hash TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  by_admin BOOLEAN NOT NULL DEFAULT FALSE,
  ended_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ended_sessions_ended_at_idx ON ended_sessions (ended_at);
