-- Webhook endpoints admins register: where to post which event types,
-- signed with secret (Standard Webhooks: whsec_ and base64). events is a
-- comma-separated list of types.
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
-- Audit events not yet handed on (to webhooks, and to AUDIT_LOG=json). The
-- trigger fills it in the transaction that writes the event, so an event
-- is never missed however it was written; one instance's dispatcher takes
-- each row once.
CREATE TABLE event_outbox (
    event_id INTEGER PRIMARY KEY
);
CREATE TRIGGER session_events_outbox AFTER INSERT ON session_events
BEGIN
    INSERT INTO event_outbox (event_id) VALUES (NEW.id);
END;
-- What the delivery log shows of a webhook beyond what deliveries holds
-- (job_id is the same River job): the receiver's answer, how long it
-- took, and the job's arguments, so an admin can send it again.
CREATE TABLE webhook_jobs (
    job_id        INTEGER PRIMARY KEY,
    endpoint_id   INTEGER NOT NULL,
    args          TEXT NOT NULL,
    response_code INTEGER,
    latency_ms    INTEGER
);
