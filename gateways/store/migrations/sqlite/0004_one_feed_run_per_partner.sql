-- One feed run per partner at a time: two runs at once would each see the other's products
-- as absent from its full feed and delist them. A run beats a heartbeat while it runs; one
-- whose heartbeat stops (its process died) is failed by the next run of its partner.
ALTER TABLE feed_runs ADD COLUMN heartbeat_at_ms BIGINT;
UPDATE feed_runs SET status = 'failed', error = 'abandoned: the process running it stopped',
    finished_at_ms = started_at_ms
    WHERE status = 'running';
CREATE UNIQUE INDEX feed_runs_one_running ON feed_runs (partner_id) WHERE status = 'running';
