-- Service identity, TimescaleDB: the hypertable is keyed by (service_name, environment, time),
-- compressed per (service_name, environment), and the continuous aggregate groups by the
-- environment too (rebuilt, then refilled from the rows after this migration commits).
-- Not exercised by the test suite (no TimescaleDB on the test machine; see docs/storage.md).
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE otlp_ai_features DROP CONSTRAINT IF EXISTS otlp_ai_features_pkey;
ALTER TABLE otlp_ai_features ADD CONSTRAINT otlp_ai_features_pkey
    PRIMARY KEY (service_name, environment, time);
ALTER TABLE otlp_ai_features SET (timescaledb.compress_segmentby = 'service_name, environment');

DROP MATERIALIZED VIEW IF EXISTS otlp_features_1h;
CREATE MATERIALIZED VIEW otlp_features_1h WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       service_name,
       environment,
       avg(request_rate_1m) AS avg_request_rate,
       avg(error_rate_1m) AS avg_error_rate,
       max(p99_latency_1m) AS max_p99_latency,
       avg(cpu_usage) AS avg_cpu_usage,
       avg(memory_usage) AS avg_memory_usage,
       count(*) FILTER (WHERE is_anomaly) AS anomaly_count
FROM otlp_ai_features
GROUP BY bucket, service_name, environment
WITH NO DATA;
SELECT add_continuous_aggregate_policy('otlp_features_1h',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
