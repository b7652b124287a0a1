-- The admin list sorts by last seen; without an index that is a scan of
-- every session per page view.
CREATE INDEX sessions_last_seen_at_idx ON sessions (last_seen_at);
