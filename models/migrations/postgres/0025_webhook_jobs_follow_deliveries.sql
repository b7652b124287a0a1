-- A webhook's answer (webhook_jobs) lives as long as its delivery: when
-- the cleanup job prunes a delivery, its row goes too. Until now it
-- stayed, one row per webhook ever sent; those orphans go here.
DELETE FROM webhook_jobs w WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = w.job_id);
CREATE FUNCTION webhook_jobs_follow_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_jobs WHERE job_id = OLD.job_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER deliveries_webhook_jobs_delete AFTER DELETE ON deliveries FOR EACH ROW
EXECUTE FUNCTION webhook_jobs_follow_delivery();
