-- The revocation log: every session that ends while still live and every
-- change to a user, whoever makes it (sessiond, the CLI, psql), so each
-- instance can drop what its session cache holds (revocations.go). Rows
-- are kept a day, then pruned by the cleanup job.
CREATE TABLE revocations (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    token_hash TEXT,   -- a session's token hash: drop that session
    user_id    BIGINT  -- a user: drop all of their sessions
);

-- Writers take a transaction lock before their first log row, so rows
-- become visible in id order: an instance that has read up to id n will
-- never see a smaller id commit later. The key and the NOTIFY channel (the
-- fast path, sent at commit) are per schema, like the cleanup lock, so
-- deployments in different schemas of one database keep to themselves.
CREATE FUNCTION sessiond_revoked(sch TEXT, hash TEXT, uid BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(sch || '.revocations', 0));
    EXECUTE format('INSERT INTO %I.revocations (token_hash, user_id) VALUES ($1, $2)', sch) USING hash, uid;
    PERFORM pg_notify('sessiond_revoke:' || sch, COALESCE(hash, 'user:' || uid));
END
$$;

CREATE FUNCTION sessiond_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sessiond_revoked(TG_TABLE_SCHEMA, OLD.token_hash, NULL);
    RETURN NULL;
END
$$;

CREATE FUNCTION sessiond_user_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sessiond_revoked(TG_TABLE_SCHEMA, NULL, OLD.id);
    RETURN NULL;
END
$$;

-- A session deleted before it expired (with five minutes for clocks that
-- differ): an expired one is refused by its cached copy anyway, so the
-- cleanup of expired rows writes no log. An update that moves a session
-- to another token or user, or shortens it.
CREATE TRIGGER sessions_revoked_on_delete AFTER DELETE ON sessions FOR EACH ROW
    WHEN (OLD.expires_at > now() - interval '5 minutes')
    EXECUTE FUNCTION sessiond_session_revoked();
CREATE TRIGGER sessions_revoked_on_update AFTER UPDATE OF token_hash, user_id, expires_at ON sessions FOR EACH ROW
    WHEN (NEW.token_hash <> OLD.token_hash OR NEW.user_id <> OLD.user_id OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION sessiond_session_revoked();

-- Any change to a user row (role, password, email, name, disabled, and
-- whatever is added later) drops their cached sessions; so does deletion.
CREATE TRIGGER users_revoked_on_update AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sessiond_user_revoked();
CREATE TRIGGER users_revoked_on_delete AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION sessiond_user_revoked();
