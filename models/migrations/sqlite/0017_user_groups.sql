-- The groups a user belongs to, for forward-auth access rules and the
-- Remote-Groups header: sorted, lower-case names joined by commas ('' for
-- none). A column, not a table, so the per-request session lookup reads
-- them with the user at no extra query.
ALTER TABLE users ADD COLUMN group_names TEXT NOT NULL DEFAULT '';
