-- With TimescaleDB: chunks sized from [postgres] chunk_interval (default one day: one row per
-- service-minute makes hour chunks tiny); the hourly continuous aggregate keeps the largest
-- minute p99 of each hour instead of their average (rebuilt: it is derived from the rows);
-- service_edges and incidents become hypertables with the same retention as the features.
-- service_dependencies keeps intervals that may have opened long ago and are still valid, so
-- its retention (by valid_to) is applied by the job. Migrations run in a transaction, where a
-- continuous aggregate cannot be filled: `aiops migrate` refreshes it afterwards.
SELECT set_chunk_time_interval('otlp_ai_features', INTERVAL '${chunk_interval}');

DROP MATERIALIZED VIEW IF EXISTS otlp_features_1h;
CREATE MATERIALIZED VIEW otlp_features_1h WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       service_name,
       avg(request_rate_1m) AS avg_request_rate,
       avg(error_rate_1m) AS avg_error_rate,
       max(p99_latency_1m) AS max_p99_latency,
       avg(cpu_usage) AS avg_cpu_usage,
       avg(memory_usage) AS avg_memory_usage,
       count(*) FILTER (WHERE is_anomaly) AS anomaly_count
FROM otlp_ai_features
GROUP BY bucket, service_name
WITH NO DATA;
SELECT add_continuous_aggregate_policy('otlp_features_1h',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);

SELECT create_hypertable('service_edges', by_range('time', INTERVAL '${chunk_interval}'),
    migrate_data => TRUE, if_not_exists => TRUE);
SELECT add_retention_policy('service_edges', INTERVAL '${retain_for}', if_not_exists => TRUE);
SELECT create_hypertable('incidents', by_range('time', INTERVAL '${chunk_interval}'),
    migrate_data => TRUE, if_not_exists => TRUE);
SELECT add_retention_policy('incidents', INTERVAL '${retain_for}', if_not_exists => TRUE);
