-- A webhook's answer (webhook_jobs) lives as long as its delivery: when
-- the cleanup job prunes a delivery, its row goes too. Until now it
-- stayed, one row per webhook ever sent; those orphans go here.
DELETE FROM webhook_jobs WHERE job_id NOT IN (SELECT job_id FROM deliveries);
CREATE TRIGGER deliveries_webhook_jobs_delete AFTER DELETE ON deliveries
BEGIN
    DELETE FROM webhook_jobs WHERE job_id = OLD.job_id;
END;
