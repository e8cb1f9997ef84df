-- With TimescaleDB: hypertable, the indexes of the original design, the hourly continuous
-- aggregate with a refresh policy, compression and retention. Intervals come from [postgres].
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('otlp_ai_features', by_range('time', INTERVAL '${chunk_interval}'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS otlp_ai_features_time_idx ON otlp_ai_features (time DESC);
CREATE INDEX IF NOT EXISTS otlp_ai_features_anomaly_idx ON otlp_ai_features (time DESC) WHERE is_anomaly;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_features_1h WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       service_name,
       avg(request_rate_1m) AS avg_request_rate,
       avg(error_rate_1m) AS avg_error_rate,
       avg(p99_latency_1m) AS avg_p99_latency,
       avg(cpu_usage) AS avg_cpu_usage,
       avg(memory_usage) AS avg_memory_usage,
       count(*) FILTER (WHERE is_anomaly) AS anomaly_count
FROM otlp_ai_features
GROUP BY bucket, service_name
WITH NO DATA;

SELECT add_continuous_aggregate_policy('otlp_features_1h',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
ALTER TABLE otlp_ai_features SET (timescaledb.compress, timescaledb.compress_segmentby = 'service_name');
SELECT add_compression_policy('otlp_ai_features', INTERVAL '${compress_after}', if_not_exists => TRUE);
SELECT add_retention_policy('otlp_ai_features', INTERVAL '${retain_for}', if_not_exists => TRUE);
