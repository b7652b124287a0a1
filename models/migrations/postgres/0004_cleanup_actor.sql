-- A cleanup run records who asked for it (NULL: the schedule, the CLI or a
-- caller of the session manager) and how many sessions were expired when it
-- began, so the console can show a long run's progress as a fraction.
ALTER TABLE cleanup_runs ADD COLUMN actor_id BIGINT;
ALTER TABLE cleanup_runs ADD COLUMN expected BIGINT NOT NULL DEFAULT 0;
UPDATE cleanup_runs SET expected = deleted;
