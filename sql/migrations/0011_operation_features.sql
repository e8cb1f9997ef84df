-- Operation-level features: per (service, operation, minute) the requests served, the failed
-- ones and latency quantiles, for root causes inside a service. At most `[features]
-- max_operations` operations per service-minute, the rest in one row named
-- '(other operations)' whose merged_operations counts them. Written by the job in the same
-- effectively-once protocol as the graph tables (one transaction per closed minute, keyed
-- upsert, before the Kafka offsets move).
--
-- A plain table on both storage paths, its retention applied by DELETE like service_edges:
-- one row per busy operation and minute stays far below the feature table's volume per
-- service, and a hypertable here would be the first TimescaleDB object nobody can test here.
CREATE TABLE IF NOT EXISTS operation_features (
    time              TIMESTAMPTZ      NOT NULL,
    service_name      TEXT             NOT NULL,
    environment       TEXT             NOT NULL DEFAULT '',
    operation         TEXT             NOT NULL,
    calls             DOUBLE PRECISION NOT NULL,
    errors            DOUBLE PRECISION NOT NULL,
    p50_ms            DOUBLE PRECISION NOT NULL,
    p95_ms            DOUBLE PRECISION NOT NULL,
    p99_ms            DOUBLE PRECISION NOT NULL,
    merged_operations INTEGER          NOT NULL DEFAULT 0,
    PRIMARY KEY (service_name, environment, operation, time)
);
CREATE INDEX IF NOT EXISTS operation_features_time ON operation_features (time);
