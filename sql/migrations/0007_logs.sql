-- Logs, the third signal: three per-(service, minute) features, appended to the feature row,
-- and the template-miner state a restarted Kafka job continues from (one postcard-encoded
-- log pane per (service, minute), which carries the service's templates after that minute;
-- the job deletes them with the span panes as its resume point moves).
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS log_rate DOUBLE PRECISION;
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS error_log_rate DOUBLE PRECISION;
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS new_template_rate DOUBLE PRECISION;

CREATE TABLE IF NOT EXISTS aiops_log_panes (
    consumer TEXT NOT NULL,
    pane BIGINT NOT NULL,
    service_name TEXT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (consumer, pane, service_name)
);
