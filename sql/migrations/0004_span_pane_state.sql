-- The request statistics of every (service, minute) pane a Kafka job has closed: counters,
-- latency sketch, dominant operation and status (serde, postcard-encoded). A restarted job
-- rebuilds its 1-hour windows from the last hour of them instead of replaying an hour of
-- spans; the job deletes panes older than that as its resume point moves.
CREATE TABLE IF NOT EXISTS aiops_span_panes (
    consumer TEXT NOT NULL,
    pane BIGINT NOT NULL,
    service_name TEXT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (consumer, pane, service_name)
);
