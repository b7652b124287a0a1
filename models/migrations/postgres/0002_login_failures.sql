-- Sign-in throttle counts, shared by every instance on the database and kept
-- across restarts. One row per (scope, subject): scope 'account' with the
-- normalised email, 'factor' with a user id (second-factor codes), or 'ip'
-- with the client address. n counts the attempts in the fixed window that
-- started at window_start.
CREATE TABLE login_failures (
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'factor', 'ip', 'reset', 'reset-ip')),
    subject      TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);
