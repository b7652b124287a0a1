-- Passwordless passkey sign-ins started are counted per client address
-- (scope 'passkey'): each start holds a challenge before anyone is known.
-- SQLite cannot change a CHECK in place, so the table is rebuilt; its rows
-- are short-lived counts and are copied over.
CREATE TABLE login_failures_new (
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'factor', 'ip', 'reset', 'reset-ip', 'passkey')),
    subject      TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);
INSERT INTO login_failures_new (scope, subject, window_start, n)
    SELECT scope, subject, window_start, n FROM login_failures;
DROP TABLE login_failures;
ALTER TABLE login_failures_new RENAME TO login_failures;
CREATE INDEX login_failures_window_idx ON login_failures (window_start);
