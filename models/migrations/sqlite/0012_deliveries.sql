-- One row per message the queue delivers (mail now, webhooks later): what
-- admins see of deliveries and failures. job_id is River's job, the
-- delivery's stable id; user_id is not a foreign key (history outlives
-- the user).
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL UNIQUE,
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    user_id      INTEGER,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX deliveries_created_at_idx ON deliveries (created_at DESC, id DESC);
