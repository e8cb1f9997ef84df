-- Without TimescaleDB: indexes of the original design on the partitioned table, and the hourly
-- rollup as a plain table that the job keeps current (the continuous aggregate's stand-in).
CREATE INDEX IF NOT EXISTS otlp_ai_features_time_idx ON otlp_ai_features (time DESC);
CREATE INDEX IF NOT EXISTS otlp_ai_features_anomaly_idx ON otlp_ai_features (time DESC) WHERE is_anomaly;

CREATE TABLE IF NOT EXISTS otlp_features_1h (
    bucket TIMESTAMPTZ NOT NULL,
    service_name TEXT NOT NULL,
    avg_request_rate DOUBLE PRECISION,
    avg_error_rate DOUBLE PRECISION,
    avg_p99_latency DOUBLE PRECISION,
    avg_cpu_usage DOUBLE PRECISION,
    avg_memory_usage DOUBLE PRECISION,
    anomaly_count BIGINT NOT NULL,
    PRIMARY KEY (service_name, bucket)
);
