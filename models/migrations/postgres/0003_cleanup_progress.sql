-- A cleanup run records its progress as its chunks commit: progress_at is
-- the time of the last committed chunk (or the start), so a run whose
-- process died shows what it did and can be told apart from one going on.
ALTER TABLE cleanup_runs ADD COLUMN progress_at TIMESTAMPTZ;
UPDATE cleanup_runs SET progress_at = COALESCE(finished_at, started_at);
