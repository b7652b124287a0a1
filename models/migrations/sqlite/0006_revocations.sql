-- The revocation log: every session that ends while still live and every
-- change to a user, whoever makes it (sessiond, the CLI, sqlite3), so each
-- instance can drop what its session cache holds (revocations.go). Rows
-- are kept a day, then pruned by the cleanup job. AUTOINCREMENT: an id is
-- never reused after pruning, so "rows after the last id I saw" holds.
-- SQLite has one writer at a time, so rows commit in id order.
CREATE TABLE revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    token_hash TEXT,    -- a session's token hash: drop that session
    user_id    INTEGER  -- a user: drop all of their sessions
);

-- A session deleted before it expired (with five minutes for clocks that
-- differ): an expired one is refused by its cached copy anyway, so the
-- cleanup of expired rows writes no log. Times are UTC text, which
-- compares in time order.
CREATE TRIGGER sessions_revoked_on_delete AFTER DELETE ON sessions FOR EACH ROW
    WHEN OLD.expires_at > strftime('%Y-%m-%d %H:%M:%S', 'now', '-5 minutes')
BEGIN
    INSERT INTO revocations (token_hash) VALUES (OLD.token_hash);
END;

-- An update that moves a session to another token or user, or shortens it.
CREATE TRIGGER sessions_revoked_on_update AFTER UPDATE OF token_hash, user_id, expires_at ON sessions FOR EACH ROW
    WHEN NEW.token_hash <> OLD.token_hash OR NEW.user_id <> OLD.user_id OR NEW.expires_at < OLD.expires_at
BEGIN
    INSERT INTO revocations (token_hash) VALUES (OLD.token_hash);
END;

-- Any change to a user row (role, password, email, name, disabled, and
-- whatever is added later) drops their cached sessions; so does deletion.
CREATE TRIGGER users_revoked_on_update AFTER UPDATE ON users FOR EACH ROW
BEGIN
    INSERT INTO revocations (user_id) VALUES (OLD.id);
END;
CREATE TRIGGER users_revoked_on_delete AFTER DELETE ON users FOR EACH ROW
BEGIN
    INSERT INTO revocations (user_id) VALUES (OLD.id);
END;
